"""Pipeline steps: a plain function, the names it reads and the names it writes."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shipyard.core.errors import InvalidInputError

__all__ = [
    "PARAMS_PREFIX",
    "Step",
    "check_data_name",
    "flatten_params",
    "function_name",
    "lookup_param",
    "param_name",
    "step",
]

#: An input named ``params:NAME`` reads ``NAME`` from the run's params.
PARAMS_PREFIX = "params:"

# Data names become dataset names (``<pipeline>.<name>``), so they follow the same rule.
_DATA_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_PARAM_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,249}")


def check_data_name(name: object, where: str) -> str:
    """A data name: letters, digits, '.', '_' and '-', at most 128 characters."""
    if not isinstance(name, str) or _DATA_NAME.fullmatch(name) is None:
        raise InvalidInputError(
            f"{where}: a data name holds only letters, digits, '.', '_' and '-' (at most 128 "
            f"characters, not starting with '.' or '-'), or is 'params:NAME'; got {name!r}"
        )
    return name


def param_name(name: str) -> str | None:
    """The param an input name reads (``params:lr`` -> ``lr``), or None for a data name."""
    return name[len(PARAMS_PREFIX) :] if name.startswith(PARAMS_PREFIX) else None


def _check_input(name: object, where: str) -> str:
    if isinstance(name, str) and name.startswith(PARAMS_PREFIX):
        key = name[len(PARAMS_PREFIX) :]
        if _PARAM_NAME.fullmatch(key) is None:
            raise InvalidInputError(
                f"{where}: {name!r} names no usable param; write 'params:NAME' with NAME made "
                "of letters, digits, '.', '_' and '-' ('params:model.lr' reads a nested value)"
            )
        return name
    return check_data_name(name, where)


def function_name(func: Callable[..., Any]) -> str:
    """``module:qualname`` of a function (or of a callable object's type)."""
    target = getattr(func, "func", func)  # functools.partial
    if not hasattr(target, "__qualname__"):
        target = type(target)
    module = getattr(target, "__module__", None) or "?"
    return f"{module}:{getattr(target, '__qualname__', repr(target))}"


@dataclass(frozen=True, slots=True)
class Step:
    """One node of a pipeline: call ``func`` with named data, store what it returns by name.

    Build it with :func:`shipyard.step`. ``args`` are the names passed by position,
    ``kwargs`` the (parameter, name) pairs passed by keyword; ``unpack`` is True when
    ``outputs`` was a list, so the function returns a tuple of that length.
    """

    name: str
    func: Callable[..., Any]
    args: tuple[str, ...]
    kwargs: tuple[tuple[str, str], ...]
    outputs: tuple[str, ...]
    unpack: bool

    @property
    def inputs(self) -> tuple[str, ...]:
        """Every name the step reads, ``params:`` ones included, in call order."""
        return self.args + tuple(name for _, name in self.kwargs)

    def describe(self) -> dict[str, Any]:
        """The step's wiring as JSON data."""
        return {
            "name": self.name,
            "function": function_name(self.func),
            "inputs": dict(self.kwargs) if self.kwargs else list(self.args),
            "outputs": list(self.outputs) if self.unpack else self.outputs[0],
        }

    def __repr__(self) -> str:
        wired = ", ".join([*self.args, *(f"{k}={v}" for k, v in self.kwargs)])
        return f"<Step {self.name}: ({wired}) -> {list(self.outputs)}>"


def step(
    func: Callable[..., Any],
    inputs: Sequence[str] | Mapping[str, str] | str | None = None,
    outputs: Sequence[str] | str | None = None,
    name: str | None = None,
) -> Step:
    """Wire a plain function into a pipeline by the names of its inputs and outputs.

    Args:
        func: any callable; it knows nothing of shipyard.
        inputs: a list of names passed by position, a dict of parameter -> name passed
            by keyword, or one name. ``params:NAME`` reads ``NAME`` from the run's params
            (``params:model.lr`` a nested one).
        outputs: one name (the return value as is), a list of names (the function returns
            a tuple of that length, unpacked in order), or None when it returns nothing
            the pipeline keeps.
        name: the step's name in results and records (default: the function's name).

    Returns:
        The step, to pass to :func:`shipyard.pipeline`.

    Raises:
        InvalidInputError: the function is not callable, a name is not valid, an output
            is listed twice, or the wiring does not fit the function's parameters.

    Example:
        >>> def split(data, test_share):  # doctest: +SKIP
        ...     ...
        >>> step(  # doctest: +SKIP
        ...     split, inputs=["data", "params:test_share"], outputs=["train", "test"]
        ... )
    """
    if not callable(func):
        raise InvalidInputError(f"step needs a callable, got {type(func).__name__} {func!r:.80}")
    label = name if name is not None else getattr(func, "__name__", None)
    if label is None:
        label = getattr(getattr(func, "func", None), "__name__", type(func).__name__)
    if not isinstance(label, str) or not re.fullmatch(r"[^\x00-\x1f]{1,128}", label):
        raise InvalidInputError(
            f"a step name is 1-128 printable characters, got {label!r}; pass name='...'"
        )
    where = f"step {label!r}"
    args: tuple[str, ...] = ()
    kwargs: tuple[tuple[str, str], ...] = ()
    if isinstance(inputs, str):
        args = (_check_input(inputs, where),)
    elif isinstance(inputs, Mapping):
        for key in inputs:
            if not isinstance(key, str) or not key.isidentifier():
                raise InvalidInputError(
                    f"{where}: the keys of a dict of inputs are the function's parameter "
                    f"names, got {key!r}"
                )
        kwargs = tuple((key, _check_input(value, where)) for key, value in inputs.items())
    elif inputs is not None:
        if not isinstance(inputs, Sequence):
            raise InvalidInputError(
                f"{where}: inputs are a list of names, a dict of parameter -> name, or one "
                f"name; got {type(inputs).__name__}"
            )
        args = tuple(_check_input(value, where) for value in inputs)
    if outputs is None:
        outs: tuple[str, ...] = ()
        unpack = True
    elif isinstance(outputs, str):
        outs, unpack = (check_data_name(outputs, where),), False
    elif isinstance(outputs, Sequence):
        outs = tuple(check_data_name(value, where) for value in outputs)
        unpack = True
    else:
        raise InvalidInputError(
            f"{where}: outputs are one name or a list of names, got {type(outputs).__name__}"
        )
    twice = sorted({o for o in outs if outs.count(o) > 1})
    if twice:
        raise InvalidInputError(f"{where} lists output(s) {twice} more than once")
    made = Step(label, func, args, kwargs, outs, unpack)
    _check_fits(made)
    return made


def _check_fits(made: Step) -> None:
    """Refuse wiring that cannot call the function, before anything runs."""
    try:
        signature = inspect.signature(made.func)
    except (TypeError, ValueError):  # builtins without a signature: found out when called
        return
    try:
        signature.bind(*made.args, **dict(made.kwargs))
    except TypeError as exc:
        params = ", ".join(signature.parameters) or "none"
        raise InvalidInputError(
            f"step {made.name!r} cannot call {function_name(made.func)} with inputs "
            f"{list(made.args) if made.args else dict(made.kwargs)}: {exc} (its parameters: "
            f"{params}); give one input per parameter"
        ) from None


def flatten_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested params as one level: ``{"model": {"lr": 0.1}}`` -> ``{"model.lr": 0.1}``."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        if not isinstance(key, str) or not key:
            raise InvalidInputError(f"param names are non-empty strings, got {key!r}")
        full = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten_params(value, f"{full}."))
        else:
            flat[full] = value
    return flat


def lookup_param(params: Mapping[str, Any], key: str) -> tuple[bool, Any]:
    """(found, value) of ``key`` in params, following dots into nested mappings."""
    if key in params:
        return True, params[key]
    head, dot, rest = key.partition(".")
    while dot:
        node = params.get(head)
        if isinstance(node, Mapping):
            found, value = lookup_param(node, rest)
            if found:
                return True, value
        more, dot, rest = rest.partition(".")
        head = f"{head}.{more}"
    return False, None
