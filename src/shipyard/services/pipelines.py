"""Pipelines: plain typed functions wired by the names of their inputs and outputs.

Each run is recorded as a tracking run (params, the free input tables as datasets,
``pipeline.json``), and each step's outputs are cached in the artifact store under a
key made of the step's code and its input values, so running again only runs the
steps whose code or inputs changed.

Example:
    >>> import shipyard
    >>> def split(data, test_share):  # doctest: +SKIP
    ...     cut = int(len(data) * (1 - test_share))
    ...     return data.iloc[:cut], data.iloc[cut:]
    >>> def fit(train, learning_rate):  # doctest: +SKIP
    ...     ...
    >>> pipe = shipyard.pipeline(  # doctest: +SKIP
    ...     [
    ...         shipyard.step(split, ["data", "params:test_share"], ["train", "test"]),
    ...         shipyard.step(fit, {"train": "train", "learning_rate": "params:lr"}, "model"),
    ...     ],
    ...     name="flights-training",
    ... )
    >>> params = {"test_share": 0.2, "lr": 0.1}
    >>> result = pipe.run(inputs={"data": frame}, params=params)  # doctest: +SKIP
    >>> result.outputs["model"], result.run_id  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from shipyard.core.errors import ConfigError, InvalidInputError
from shipyard.services._common import check_name
from shipyard.services._pipeline_run import (
    Executor,
    LocalExecutor,
    PipelineResult,
    StepResult,
    run_pipeline,
)
from shipyard.services._pipeline_steps import Step, param_name, step
from shipyard.services.tracking import ActiveRun
from shipyard.stores import Store

__all__ = [
    "Executor",
    "LocalExecutor",
    "Pipeline",
    "PipelineResult",
    "Step",
    "StepResult",
    "load_pipeline",
    "pipeline",
    "step",
]

_REFERENCE = re.compile(r"(?P<module>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*):(?P<attr>[A-Za-z_]\w*)")


def _flatten(steps: Iterable[Step | Pipeline]) -> list[Step]:
    flat: list[Step] = []
    for item in steps:
        if isinstance(item, Pipeline):
            flat.extend(item.steps)
        elif isinstance(item, Step):
            flat.append(item)
        else:
            raise InvalidInputError(
                f"a pipeline is made of steps (shipyard.step(...)) or other pipelines, "
                f"got {type(item).__name__} {item!r:.80}"
            )
    return flat


def _order(steps: list[Step], name: str) -> tuple[Step, ...]:
    """The steps in dependency order, keeping the given order where dependencies allow."""
    maker: dict[str, Step] = {}
    for s in steps:
        for output in s.outputs:
            if output in maker:
                raise InvalidInputError(
                    f"pipeline {name!r}: data {output!r} is made by both step "
                    f"{maker[output].name!r} and step {s.name!r}; each name has one maker, "
                    "so rename one of the outputs"
                )
            maker[output] = s
    names = [s.name for s in steps]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InvalidInputError(
            f"pipeline {name!r} has several steps named {twice}; pass name='...' to "
            "shipyard.step to tell them apart"
        )
    needs = {s.name: {maker[n].name for n in s.inputs if n in maker} for s in steps}
    ordered: list[Step] = []
    placed: set[str] = set()
    waiting = list(steps)
    while waiting:
        ready = next((s for s in waiting if needs[s.name] <= placed), None)
        if ready is None:
            links = "; ".join(
                f"{s.name} needs {sorted(n for n in s.inputs if maker.get(n) in waiting)}"
                for s in waiting
            )
            raise InvalidInputError(
                f"pipeline {name!r} has a cycle: steps {[s.name for s in waiting]} wait on each "
                f"other ({links}); a step cannot read data made after it, so rename an input "
                "or an output to break the cycle"
            )
        ordered.append(ready)
        placed.add(ready.name)
        waiting.remove(ready)
    return tuple(ordered)


class Pipeline:
    """Steps wired by name, ordered so each runs after the steps that make its inputs.

    Build it with :func:`shipyard.pipeline`. ``inputs`` are the free inputs (data no
    step makes, ``params:`` excluded), ``outputs`` the data no step reads, ``params``
    the param names the steps read.
    """

    def __init__(self, steps: Iterable[Step | Pipeline], name: str) -> None:
        check_name("pipeline", name)
        flat = _flatten(steps)
        if not flat:
            raise InvalidInputError(f"pipeline {name!r} has no steps; give at least one")
        self.name = name
        self.steps = _order(flat, name)
        made = {o for s in self.steps for o in s.outputs}
        read = [n for s in self.steps for n in s.inputs]
        self.inputs = tuple(
            dict.fromkeys(n for n in read if param_name(n) is None and n not in made)
        )
        consumed = set(read)
        self.outputs = tuple(o for s in self.steps for o in s.outputs if o not in consumed)
        self.params = tuple(dict.fromkeys(k for n in read if (k := param_name(n)) is not None))

    def __repr__(self) -> str:
        return (
            f"<Pipeline {self.name!r}: {len(self.steps)} steps, inputs {list(self.inputs)}, "
            f"outputs {list(self.outputs)}>"
        )

    def run(
        self,
        inputs: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        *,
        store: Store | None = None,
        run: ActiveRun | None = None,
        experiment: str | None = None,
        executor: str | Executor = "local",
        cache: bool = True,
    ) -> PipelineResult:
        """Run the steps in dependency order and record the run.

        Args:
            inputs: a value for each free input (``Pipeline.inputs``); giving every
                output of a step instead skips that step.
            params: the values ``params:NAME`` inputs read; nested dicts are reached
                with dots (``params:model.lr``). All are logged as run params, flattened.
            store: where to record and cache (default: the run's store, else the store
                from settings).
            run: an open run to record into; it is left open, so the caller can
                register a model from it. Without it the pipeline opens a run named
                after itself and ends it (FAILED when a step fails).
            experiment: the experiment of the run it opens (default: the pipeline's name).
            executor: ``"local"`` or an object with ``submit(step, args, kwargs)``.
            cache: reuse the outputs of a step whose code and input values were seen
                before, instead of calling it.

        Returns:
            The outputs, every named value, the run id and one result per step run.

        Raises:
            InvalidInputError: an input or param a step reads is missing, or an input
                names no data of the pipeline.
            ConfigError: the executor name is unknown.
            StepFailedError: a step raised (the cause is chained) or returned other
                than one value per output.

        Example:
            >>> with shipyard.start_run("flights") as run:  # doctest: +SKIP
            ...     result = pipe.run({"data": frame}, {"test_share": 0.2}, run=run)
            ...     run.log_model(result.outputs["model"], "delays")
        """
        return run_pipeline(
            self,
            inputs,
            params,
            store=store,
            run=run,
            experiment=experiment,
            executor=executor,
            cache=cache,
        )


def pipeline(steps: Sequence[Step | Pipeline], name: str) -> Pipeline:
    """Build a pipeline from steps (and other pipelines, whose steps are taken in).

    Args:
        steps: the steps, in any order; they are sorted by what they read and make.
        name: the pipeline's name: letters, digits, '.', '_' and '-'. It names the
            experiment and run it records, and its input datasets (``NAME.INPUT``).

    Returns:
        The pipeline.

    Raises:
        InvalidInputError: two steps make the same data or share a name, the steps
            form a cycle, or there are none.
    """
    return Pipeline(steps, name)


def load_pipeline(reference: str, *, project_dir: str | os.PathLike[str] | None = None) -> Pipeline:
    """The pipeline a ``"module:attribute"`` reference (as in shipyard.toml) names.

    The project directory is put on ``sys.path`` (and left there, so the module's own
    imports keep working), the module imported, and the attribute taken: a Pipeline
    as it is, or a function called without arguments that returns one.

    Args:
        reference: ``"package.module:name"``.
        project_dir: where the module is looked for first (default: the current folder).

    Raises:
        ConfigError: the reference is malformed, the module does not import, the
            attribute is missing, or it is (or returns) something else than a Pipeline.
    """
    match = _REFERENCE.fullmatch(reference) if isinstance(reference, str) else None
    if match is None:
        raise ConfigError(
            f"a pipeline reference is 'module:function' (e.g. 'flights.pipeline:build'), "
            f"got {reference!r}"
        )
    root = str(Path(project_dir if project_dir is not None else Path.cwd()).resolve())
    if root not in sys.path:
        sys.path.insert(0, root)
    module_name, attr = match["module"], match["attr"]
    importlib.invalidate_caches()  # the module may have been written since the last import
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"pipeline {reference!r}: cannot import {module_name!r} ({exc}); it is looked for "
            f"in {root} and on sys.path"
        ) from exc
    except Exception as exc:  # the module's own code failed while importing
        raise ConfigError(
            f"pipeline {reference!r}: importing {module_name!r} raised {type(exc).__name__}: {exc}"
        ) from exc
    if not hasattr(module, attr):
        raise ConfigError(
            f"pipeline {reference!r}: module {module_name!r} ({getattr(module, '__file__', '?')}) "
            f"has no attribute {attr!r}"
        )
    found = getattr(module, attr)
    if isinstance(found, Pipeline):
        return found
    if not callable(found):
        raise ConfigError(
            f"pipeline {reference!r} is a {type(found).__name__}; it should be a shipyard "
            "Pipeline or a function returning one"
        )
    try:
        built = found()
    except Exception as exc:
        raise ConfigError(
            f"pipeline {reference!r}: calling {attr}() raised {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(built, Pipeline):
        raise ConfigError(
            f"pipeline {reference!r}: {attr}() returned a {type(built).__name__}; it should "
            "return a shipyard Pipeline (shipyard.pipeline([...], name=...))"
        )
    return built
