"""Running a pipeline: plan the steps, call them through an executor, record the run."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from shipyard.core.errors import ConfigError, InvalidInputError, StepFailedError
from shipyard.services._common import json_ready
from shipyard.services._context import get_default_store
from shipyard.services._pipeline_cache import StepCache, code_digest, step_key, value_digest
from shipyard.services._pipeline_steps import (
    Step,
    flatten_params,
    function_name,
    lookup_param,
    param_name,
)
from shipyard.services.datasets import log_dataset
from shipyard.services.tracking import ActiveRun, start_run
from shipyard.stores import Store

if TYPE_CHECKING:
    from shipyard.services.pipelines import Pipeline

__all__ = [
    "Executor",
    "LocalExecutor",
    "PipelineResult",
    "StepFuture",
    "StepResult",
    "resolve_executor",
    "run_pipeline",
]

#: The tag naming the pipeline a run executed.
PIPELINE_TAG = "shipyard.pipeline"
#: The artifact describing the execution.
PIPELINE_ARTIFACT = "pipeline.json"


@dataclass(frozen=True, slots=True)
class StepResult:
    """How one step went: its cache key, whether the cache answered, and how long it took."""

    name: str
    digest: str
    cached: bool
    seconds: float


@dataclass(frozen=True)
class PipelineResult:
    """What a pipeline run produced.

    ``outputs`` holds the pipeline's outputs (data no step consumes), ``data`` every
    named value of the run (inputs and intermediates too), ``steps`` one
    :class:`StepResult` per step run, in order.
    """

    name: str
    run_id: str
    outputs: dict[str, Any]
    steps: list[StepResult]
    data: dict[str, Any] = field(repr=False)
    seconds: float = 0.0


class StepFuture(Protocol):
    """A handle on a submitted step; ``result()`` waits and returns (or raises)."""

    def result(self) -> Any:
        """The step's return value, or its exception raised again."""
        ...


@runtime_checkable
class Executor(Protocol):
    """Where steps run: ``submit`` one call and get a future-like handle back.

    A distributed executor ships ``step.func`` with its arguments elsewhere and returns
    a handle whose ``result()`` waits for the answer; steps are submitted one at a time
    in dependency order.
    """

    def submit(self, step: Step, args: tuple[Any, ...], kwargs: dict[str, Any]) -> StepFuture:
        """Start ``step.func(*args, **kwargs)``."""
        ...


class LocalExecutor:
    """Runs each step in this process, as soon as it is submitted."""

    def submit(self, step: Step, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Future[Any]:
        """Call the step now; the returned future holds its value or its exception."""
        future: Future[Any] = Future()
        try:
            future.set_result(step.func(*args, **kwargs))
        except Exception as exc:  # handed to the caller through the future, as a pool would
            future.set_exception(exc)
        return future

    def __repr__(self) -> str:
        return "LocalExecutor()"


_EXECUTORS: dict[str, type[LocalExecutor]] = {"local": LocalExecutor}


def resolve_executor(executor: str | Executor) -> Executor:
    """An executor from its name (``"local"``) or an object with ``submit``."""
    if isinstance(executor, str):
        factory = _EXECUTORS.get(executor)
        if factory is None:
            raise ConfigError(
                f"unknown executor {executor!r}; known: {', '.join(sorted(_EXECUTORS))}. "
                "Pass an object with submit(step, args, kwargs) to run steps elsewhere"
            )
        return factory()
    if not callable(getattr(executor, "submit", None)):
        raise InvalidInputError(
            f"executor must be a name ({', '.join(sorted(_EXECUTORS))}) or an object with "
            f"submit(step, args, kwargs), got {type(executor).__name__}"
        )
    return executor


def _plan(pipe: Pipeline, given: Mapping[str, Any], params: Mapping[str, Any]) -> list[Step]:
    """The steps to run, after checking that every input and param they read is there."""
    made = {name: s for s in pipe.steps for name in s.outputs}
    known = set(pipe.inputs) | set(made)
    unknown = sorted(n for n in given if n not in known)
    if unknown:
        raise InvalidInputError(
            f"pipeline {pipe.name!r} reads no data named {unknown}; its inputs are "
            f"{list(pipe.inputs)} (and a step's output may be given to skip that step)"
        )
    plan: list[Step] = []
    wanted = set(pipe.outputs)
    # Backwards from the outputs: a step runs when something still wants what it makes,
    # so giving a step's outputs skips it and the steps that only fed it.
    for s in reversed(pipe.steps):
        provided = [o for o in s.outputs if o in given]
        if provided and len(provided) < len(s.outputs):
            raise InvalidInputError(
                f"inputs give {provided} but not {[o for o in s.outputs if o not in given]}, "
                f"all made by step {s.name!r}; give all of its outputs to skip it, or none"
            )
        if provided or (s.outputs and not wanted.intersection(s.outputs)):
            continue
        plan.insert(0, s)
        wanted.update(s.inputs)
    produced = {o for s in plan for o in s.outputs}
    missing = sorted(
        {
            n
            for s in plan
            for n in s.inputs
            if param_name(n) is None and n not in produced and n not in given
        }
    )
    if missing:
        example = ", ".join(f"{n!r}: ..." for n in missing)
        raise InvalidInputError(
            f"pipeline {pipe.name!r} needs input(s) {missing} that were not given; "
            f"pass inputs={{{example}}}"
        )
    for s in plan:
        absent = [
            key
            for n in s.inputs
            if (key := param_name(n)) is not None and not lookup_param(params, key)[0]
        ]
        if absent:
            have = sorted(flatten_params(params)) or "none"
            raise InvalidInputError(
                f"step {s.name!r} of pipeline {pipe.name!r} reads param(s) {absent} that "
                f"params does not hold (given: {have}); pass params={{{absent[0]!r}: ...}}"
            )
    return plan


def _is_table(value: Any) -> bool:
    pd, pa = sys.modules.get("pandas"), sys.modules.get("pyarrow")
    return (pd is not None and isinstance(value, pd.DataFrame)) or (
        pa is not None and isinstance(value, pa.Table)
    )


def run_pipeline(
    pipe: Pipeline,
    inputs: Mapping[str, Any] | None,
    params: Mapping[str, Any] | None,
    *,
    store: Store | None,
    run: ActiveRun | None,
    experiment: str | None,
    executor: str | Executor,
    cache: bool,
) -> PipelineResult:
    """Check, then run a pipeline into a tracking run (see :meth:`Pipeline.run`)."""
    if inputs is not None and not isinstance(inputs, Mapping):
        raise InvalidInputError(
            f"inputs is a dict of name -> value, got {type(inputs).__name__}; "
            f"the pipeline's inputs are {list(pipe.inputs)}"
        )
    if params is not None and not isinstance(params, Mapping):
        raise InvalidInputError(f"params is a dict of name -> value, got {type(params).__name__}")
    given = dict(inputs or {})
    values = dict(params or {})
    flat = flatten_params(values)
    plan = _plan(pipe, given, values)
    runner = resolve_executor(executor)
    if run is not None:
        if store is not None and store is not run.store:
            raise InvalidInputError("Pipeline.run(run=...) records in the run's store; omit store=")
        if experiment is not None:
            raise InvalidInputError(
                "Pipeline.run(run=...) records into that run, so experiment= has no use; omit it"
            )
        run._check_open()
        return _execute(pipe, plan, given, values, flat, run, runner, cache)
    with start_run(
        experiment if experiment is not None else pipe.name,
        name=pipe.name,
        store=store if store is not None else get_default_store(),
    ) as active:
        return _execute(pipe, plan, given, values, flat, active, runner, cache)


def _execute(
    pipe: Pipeline,
    plan: list[Step],
    given: dict[str, Any],
    params: dict[str, Any],
    flat: dict[str, Any],
    run: ActiveRun,
    runner: Executor,
    cache: bool,
) -> PipelineResult:
    run.log_params(flat)
    run.set_tags({PIPELINE_TAG: pipe.name})
    for name in pipe.inputs:
        if name in given and _is_table(given[name]):
            dataset = log_dataset(given[name], f"{pipe.name}.{name}", store=run.store)
            run.log_input(dataset, context="training")
    started = time.perf_counter()
    data = dict(given)
    digests: dict[str, str] = {}
    step_cache = StepCache(run.store.artifacts) if cache else None
    done: list[tuple[StepResult, str]] = []
    try:
        for s in plan:
            done.append(_run_step(pipe, s, data, digests, params, runner, step_cache))
    except StepFailedError as exc:
        _record(pipe, plan, given, done, run, runner, cache, time.perf_counter() - started, exc)
        raise
    seconds = time.perf_counter() - started
    _record(pipe, plan, given, done, run, runner, cache, seconds, None)
    outputs = {name: data[name] for name in pipe.outputs if name in data}
    return PipelineResult(pipe.name, run.run_id, outputs, [r for r, _ in done], data, seconds)


def _run_step(
    pipe: Pipeline,
    s: Step,
    data: dict[str, Any],
    digests: dict[str, str],
    params: Mapping[str, Any],
    runner: Executor,
    step_cache: StepCache | None,
) -> tuple[StepResult, str]:
    started = time.perf_counter()

    def value(name: str) -> Any:
        key = param_name(name)
        return data[name] if key is None else lookup_param(params, key)[1]

    args = tuple(value(n) for n in s.args)
    kwargs = {key: value(n) for key, n in s.kwargs}
    for name in s.inputs:
        if name not in digests:  # each value is hashed once per run, however many read it
            digests[name] = value_digest(value(name))
    code = code_digest(s.func)
    key = step_key(s, code, [digests[n] for n in s.inputs])
    # A step without outputs runs for its side effects, so it is never skipped.
    use_cache = step_cache if s.outputs else None
    outputs = use_cache.load(key, len(s.outputs)) if use_cache is not None else None
    cached = outputs is not None
    if outputs is None:
        try:
            returned = runner.submit(s, args, kwargs).result()
        except Exception as exc:
            raise StepFailedError(
                f"step {s.name!r} of pipeline {pipe.name!r} ({function_name(s.func)}) raised "
                f"{type(exc).__name__}: {exc}",
                step=s.name,
            ) from exc
        outputs = _split(pipe, s, returned)
        if use_cache is not None:
            use_cache.save(key, outputs)
    for name, item in zip(s.outputs, outputs, strict=True):
        data[name] = item
    return StepResult(s.name, key, cached, time.perf_counter() - started), code


def _split(pipe: Pipeline, s: Step, returned: Any) -> tuple[Any, ...]:
    """The step's return value as one value per output."""
    if not s.outputs:
        return ()
    if not s.unpack:
        return (returned,)
    if isinstance(returned, tuple | list) and len(returned) == len(s.outputs):
        return tuple(returned)
    got = (
        f"a {type(returned).__name__} of {len(returned)} values"
        if isinstance(returned, tuple | list)
        else f"one {type(returned).__name__}"
    )
    raise StepFailedError(
        f"step {s.name!r} of pipeline {pipe.name!r} returned {got}, but its outputs "
        f"{list(s.outputs)} need a tuple of {len(s.outputs)}; return one value per output "
        "(or name a single output to keep the return value as it is)",
        step=s.name,
    )


def _record(
    pipe: Pipeline,
    plan: list[Step],
    given: Mapping[str, Any],
    done: list[tuple[StepResult, str]],
    run: ActiveRun,
    runner: Executor,
    cache: bool,
    seconds: float,
    failure: StepFailedError | None,
) -> None:
    """Write ``pipeline.json`` and the ``pipeline.seconds`` metric into the run."""
    results = {r.name: (r, code) for r, code in done}
    steps = []
    for s in pipe.steps:
        entry = s.describe()
        if s.name in results:
            result, code = results[s.name]
            entry.update(status="finished", code=code, digest=result.digest)
            entry.update(cached=result.cached, seconds=result.seconds)
        elif failure is not None and failure.step == s.name:
            entry["status"] = "failed"
        else:
            entry["status"] = "not run" if s in plan else "skipped (outputs given)"
        steps.append(entry)
    record = {
        "pipeline": pipe.name,
        "inputs": list(pipe.inputs),
        "outputs": list(pipe.outputs),
        "params": list(pipe.params),
        "given": sorted(given),
        "executor": type(runner).__name__,
        "cache": cache,
        "seconds": seconds,
        "failed_step": failure.step if failure is not None else None,
        "steps": steps,
    }
    run.log_text(json.dumps(json_ready(record), indent=2), PIPELINE_ARTIFACT)
    run.log_metric("pipeline.seconds", seconds)
