"""Experiment tracking: start a run, log to it, find it again.

Example:
    >>> import shipyard
    >>> with shipyard.start_run("flights", params={"model": "gbm"}) as run:  # doctest: +SKIP
    ...     for step in range(100):
    ...         run.log_metric("loss", 1 / (step + 1), step=step)
    >>> shipyard.search_runs("flights", filter="metrics.loss < 0.1")  # doctest: +SKIP

Metric points are buffered and written in batches (every
``metric_flush_points`` points or ``metric_flush_seconds`` seconds of
logging, and always when the run ends or the process exits), so a loop
that logs 100,000 points costs a handful of transactions. A crash that
kills the process outright loses at most the points logged since the last
flush.
"""

from __future__ import annotations

import atexit
import math
import operator
import os
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, overload

from shipyard.core.entities import (
    ArtifactInfo,
    Dataset,
    Experiment,
    Metric,
    ModelVersion,
    Run,
    RunInput,
    RunStatus,
)
from shipyard.core.errors import ConflictError, InvalidInputError
from shipyard.core.filters import parse_filter, parse_order_by
from shipyard.services._common import check_key, clean_texts
from shipyard.services._context import get_default_store
from shipyard.services._environment import capture_environment
from shipyard.stores import MetricPoint, Store, validate_artifact_path

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ActiveRun",
    "download_artifact",
    "get_metric_history",
    "get_run",
    "list_artifacts",
    "list_experiments",
    "read_artifact",
    "run_artifact_prefix",
    "runs_to_frame",
    "search_runs",
    "start_run",
]

_MAX_NAME_LENGTH = 256  # the width of runs.name; PostgreSQL refuses longer, SQLite would not
_MAX_MESSAGE_LENGTH = 2000
_MAX_ARTIFACT_PATH = 1024  # width of the artifacts.path column


def _metric_value(key: str, value: object) -> float:
    if isinstance(value, str | bytes):  # float("0.5") would hide a caller's bug
        raise InvalidInputError(
            f"metric {key!r} must be a number, got {type(value).__name__} {value!r}"
        )
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"metric {key!r} must be a number, got {type(value).__name__} {value!r}"
        ) from None
    return number


def _step(key: str, step: Any) -> int:
    if isinstance(step, bool):
        raise InvalidInputError(f"step of metric {key!r} must be an integer, got {step!r}")
    try:
        return operator.index(step)
    except TypeError:
        raise InvalidInputError(
            f"step of metric {key!r} must be an integer, got {type(step).__name__} {step!r}"
        ) from None


class _ExitWatch:
    """Ends runs left open when the process exits: FINISHED, or FAILED/KILLED after a crash.

    No signal handler is installed: an exception raised from one can surface anywhere
    (inside a flush holding the database lock, or in a garbage-collection callback that
    swallows it), which is worse than a run left RUNNING. A process stopped by a signal
    leaves its run RUNNING, and ``shipyard runs list`` flags it "(process gone)".
    """

    def __init__(self) -> None:
        self.open: dict[str, ActiveRun] = {}
        self.lock = threading.Lock()
        self.crash: BaseException | None = None
        self.installed = False

    def add(self, run: ActiveRun) -> None:
        with self.lock:
            self.open[run.run_id] = run
            if not self.installed:
                self.installed = True
                atexit.register(self.at_exit)
                previous = sys.excepthook

                def hook(kind: type[BaseException], exc: BaseException, tb: Any) -> None:
                    self.crash = exc
                    previous(kind, exc, tb)

                sys.excepthook = hook

    def remove(self, run: ActiveRun) -> None:
        with self.lock:
            self.open.pop(run.run_id, None)

    def at_exit(self) -> None:
        for run in list(self.open.values()):
            if self.crash is None:
                status, message = RunStatus.FINISHED, ""
            else:
                status, message = _ending(self.crash)
            try:
                run.end(status, message)
            except Exception as exc:  # the process is exiting: report, never raise
                print(f"shipyard: could not end run {run.run_id}: {exc}", file=sys.stderr)


_watch = _ExitWatch()


def _ending(exc: BaseException) -> tuple[RunStatus, str]:
    """How an exception ends a run: Ctrl-C kills it, sys.exit(0) finishes it."""
    if isinstance(exc, KeyboardInterrupt):
        return RunStatus.KILLED, _summary(exc)
    if isinstance(exc, SystemExit) and exc.code in (0, None):
        return RunStatus.FINISHED, ""
    return RunStatus.FAILED, _summary(exc)


def _summary(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:_MAX_MESSAGE_LENGTH]


class ActiveRun:
    """A run being logged to. Use it as a context manager, or call :meth:`end`.

    Leaving the ``with`` block normally ends the run FINISHED; an exception ends
    it FAILED with the exception's summary; Ctrl-C ends it KILLED; ``sys.exit(0)``
    ends it FINISHED. A run still
    open when the process exits is ended too, so none is left RUNNING silently.
    """

    def __init__(self, store: Store, run: Run) -> None:
        self.store = store
        self._run = run
        self._buffer: list[MetricPoint] = []
        self._next_step: dict[str, int] = {}
        self._lock = threading.RLock()
        self._last_flush = time.monotonic()
        self._flush_points = store.settings.metric_flush_points
        self._flush_seconds = store.settings.metric_flush_seconds
        self._ended: Run | None = None

    @property
    def run_id(self) -> str:
        """The run's id."""
        return self._run.run_id

    @property
    def experiment_id(self) -> str:
        """The id of the experiment the run belongs to."""
        return self._run.experiment_id

    @property
    def name(self) -> str:
        """The run's name."""
        return self._run.name

    def __repr__(self) -> str:
        state = "ended" if self._ended else "running"
        return f"<ActiveRun {self.run_id} {self.name!r} {state}>"

    def _check_open(self) -> None:
        if self._ended is not None:
            raise ConflictError(f"run {self.run_id} has ended; start a new run to log more")

    # -- metrics --------------------------------------------------------------------

    def log_metric(
        self, key: str, value: float, step: int | None = None, timestamp: int | None = None
    ) -> None:
        """Log one point. Without ``step``, each key counts its own steps from 0.

        Args:
            key: the metric's name.
            value: any real number; NaN and +/-inf are kept as such.
            step: the point's step (epoch, iteration...).
            timestamp: milliseconds since the epoch (default: now).
        """
        with self._lock:
            self._check_open()
            self._add(key, value, step, timestamp)
            self._maybe_flush()

    def log_metrics(
        self, values: Mapping[str, float], step: int | None = None, timestamp: int | None = None
    ) -> None:
        """Log several metrics at the same step."""
        with self._lock:
            self._check_open()
            for key, value in values.items():
                self._add(key, value, step, timestamp)
            self._maybe_flush()

    def _add(self, key: str, value: float, step: int | None, timestamp: int | None) -> None:
        if key not in self._next_step:
            check_key("metric", key)
        number = _metric_value(key, value)
        at = self._next_step.get(key, 0) if step is None else _step(key, step)
        self._next_step[key] = at + 1
        ts = time.time_ns() // 1_000_000 if timestamp is None else int(timestamp)
        self._buffer.append((key, number, at, ts))

    def _maybe_flush(self) -> None:
        if (
            len(self._buffer) >= self._flush_points
            or time.monotonic() - self._last_flush >= self._flush_seconds
        ):
            self.flush()

    def flush(self) -> None:
        """Write buffered metric points now. On failure they stay buffered."""
        with self._lock:
            if self._buffer:
                self.store.metadata.log_metrics(self.run_id, self._buffer)
                self._buffer = []
            self._last_flush = time.monotonic()

    # -- params, tags, inputs -----------------------------------------------------------

    def log_param(self, key: str, value: object) -> None:
        """Log one param (write-once: the same value again is fine, another is refused)."""
        self.log_params({key: value})

    def log_params(self, values: Mapping[str, object]) -> None:
        """Log params; values are stored as text.

        Raises:
            ParamConflictError: a key already holds a different value.
            InvalidInputError: a value is longer than ``max_param_length``.
        """
        self._check_open()
        self.store.metadata.log_params(
            self.run_id, clean_texts("param", values, self.store.settings)
        )

    def set_tag(self, key: str, value: object) -> None:
        """Set one tag (tags can change, unlike params)."""
        self.set_tags({key: value})

    def set_tags(self, values: Mapping[str, object]) -> None:
        """Set tags, replacing earlier values of the same keys."""
        self.store.metadata.set_tags(self.run_id, clean_texts("tag", values, self.store.settings))

    def log_input(
        self, dataset: Dataset | str, name: str | None = None, context: str = "training"
    ) -> None:
        """Record that the run read a dataset.

        Args:
            dataset: a dataset from :func:`shipyard.log_dataset`, or a content digest.
            name: the dataset's name (taken from ``dataset`` when it is one).
            context: what the run used it for: ``training``, ``evaluation``...
        """
        if isinstance(dataset, Dataset):
            digest, name = dataset.digest, dataset.name if name is None else name
        else:
            digest = dataset
        if name is None:
            raise InvalidInputError("log_input with a digest needs the dataset's name too")
        for label, value, limit in (
            ("digest", digest, 64),
            ("name", name, 256),
            ("context", context, 64),
        ):
            if not isinstance(value, str) or not value or len(value) > limit:
                raise InvalidInputError(
                    f"input {label} must be a non-empty string of at most {limit} characters, "
                    f"got {value!r:.80}"
                )
        self.store.metadata.log_inputs(self.run_id, [RunInput(digest, name, context)])

    # -- models -------------------------------------------------------------------------

    def log_model(
        self,
        model: object,
        name: str,
        *,
        training_data: Any = None,
        target: Any = None,
        artifact_path: str = "model",
        **options: Any,
    ) -> ModelVersion:
        """Register a new version of model ``name`` from this run.

        The files are stored with the run (``runs:/RUN_ID/model`` loads them) and the
        version records the run's metrics, code revision and datasets. Other keyword
        arguments are those of :func:`shipyard.register_model`.
        """
        from shipyard.services.registry import register_model

        self._check_open()
        self.flush()
        return register_model(
            model,
            name,
            training_data=training_data,
            target=target,
            run=self,
            artifact_path=artifact_path,
            **options,
        )

    # -- artifacts ----------------------------------------------------------------------

    def log_artifact(
        self, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> ArtifactInfo:
        """Store a file with the run, under ``artifact_path/<file name>``.

        Returns:
            The stored path, size and sha256 (verified whenever it is read back).
        """
        source = Path(local_path)
        dest = source.name if artifact_path is None else f"{artifact_path}/{source.name}"
        return self._store_file(source, dest)

    def log_artifacts(
        self, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> list[ArtifactInfo]:
        """Store every file under a folder, keeping the folder's layout."""
        root = Path(local_dir)
        if not root.is_dir():
            raise InvalidInputError(f"cannot log {str(root)!r}: it is not a folder")
        stored = []
        for file in sorted(p for p in root.rglob("*") if p.is_file()):
            relative = file.relative_to(root).as_posix()
            dest = relative if artifact_path is None else f"{artifact_path}/{relative}"
            stored.append(self._store_file(file, dest))
        return stored

    def log_text(self, text: str, artifact_path: str) -> ArtifactInfo:
        """Store a string as a UTF-8 file artifact."""
        path = _artifact_path(artifact_path)
        info = self.store.artifacts.put_bytes(text.encode(), _artifactcheck_key(self.run_id, path))
        return self._index(path, info)

    def _store_file(self, source: Path, dest: str) -> ArtifactInfo:
        path = _artifact_path(dest)
        info = self.store.artifacts.put_file(source, _artifactcheck_key(self.run_id, path))
        return self._index(path, info)

    def _index(self, path: str, info: ArtifactInfo) -> ArtifactInfo:
        indexed = ArtifactInfo(path, info.size, info.sha256)
        self.store.metadata.record_artifact(self.run_id, indexed)
        return indexed

    # -- ending ---------------------------------------------------------------------------

    def end(self, status: RunStatus | str = RunStatus.FINISHED, message: str = "") -> Run:
        """Flush and end the run; ending twice returns the first result."""
        with self._lock:
            if self._ended is not None:
                return self._ended
            try:
                self.flush()
            finally:
                self._ended = self.store.metadata.end_run(
                    self.run_id, RunStatus(status), message[:_MAX_MESSAGE_LENGTH]
                )
                _watch.remove(self)
            return self._ended

    def to_run(self) -> Run:
        """The run as stored now (flushing buffered metrics first)."""
        self.flush()
        return self.store.metadata.get_run(self.run_id)

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.end(RunStatus.FINISHED)
        else:
            self.end(*_ending(exc))


def _artifact_path(path: str) -> str:
    """A run artifact's path, normalised and short enough for the metadata index."""
    clean = validate_artifact_path(path)
    if len(clean) > _MAX_ARTIFACT_PATH:
        raise InvalidInputError(
            f"artifact path {clean[:40]!r}... is {len(clean)} characters; "
            f"the limit is {_MAX_ARTIFACT_PATH}"
        )
    return clean


def _artifactcheck_key(run_id: str, path: str) -> str:
    return f"{run_artifact_prefix(run_id)}/{path}"


def run_artifact_prefix(run_id: str, path: str = "") -> str:
    """Where a run's artifacts (or one folder of them) live in the artifact store."""
    prefix = f"runs/{run_id}/artifacts"
    return f"{prefix}/{validate_artifact_path(path)}" if path else prefix


def start_run(
    experiment: str = "default",
    *,
    name: str | None = None,
    params: Mapping[str, object] | None = None,
    tags: Mapping[str, object] | None = None,
    store: Store | None = None,
    capture_env: bool = True,
) -> ActiveRun:
    """Start a run in an experiment (created on first use).

    Args:
        experiment: the experiment's name.
        name: a name for the run (default: the first 8 characters of its id).
        params: params to log at once (write-once).
        tags: tags to set at once.
        store: where to log (default: the store from settings).
        capture_env: record git revision, Python, packages and host as ``shipyard.*`` tags.

    Returns:
        The active run; use it in a ``with`` block.

    Example:
        >>> with start_run("demo", params={"lr": 0.1}) as run:  # doctest: +SKIP
        ...     run.log_metric("auc", 0.91)
    """
    store = store if store is not None else get_default_store()
    exp_name = check_key("experiment", experiment)
    if name is not None and len(name) > _MAX_NAME_LENGTH:
        raise InvalidInputError(
            f"run name {name[:40]!r}... is {len(name)} characters; the limit is {_MAX_NAME_LENGTH}"
        )
    clean_params = clean_texts("param", params or {}, store.settings)
    clean_tags = capture_environment() if capture_env else {}
    clean_tags.update(clean_texts("tag", tags or {}, store.settings))
    exp = store.metadata.get_or_create_experiment(exp_name)
    run = store.metadata.create_run(
        exp.experiment_id,
        name or "",
        clean_tags,
        clean_params,
        host=clean_tags.get("shipyard.host", ""),
        pid=os.getpid(),
    )
    active = ActiveRun(store, run)
    _watch.add(active)
    return active


def _resolve(store: Store | None) -> Store:
    return store if store is not None else get_default_store()


def get_run(run_id: str, *, store: Store | None = None) -> Run:
    """A run by id, with params, latest metrics and tags.

    Raises:
        NotFoundError: no run has that id.
    """
    return _resolve(store).metadata.get_run(run_id)


def get_metric_history(run_id: str, key: str, *, store: Store | None = None) -> list[Metric]:
    """Every logged point of one metric of a run, by step."""
    return _resolve(store).metadata.get_metric_history(run_id, key)


def list_experiments(*, store: Store | None = None) -> list[Experiment]:
    """All experiments, oldest first."""
    return _resolve(store).metadata.list_experiments()


def list_artifacts(run_id: str, *, store: Store | None = None) -> list[ArtifactInfo]:
    """The run's artifacts with sizes and checksums."""
    return _resolve(store).metadata.list_artifacts(run_id)


def read_artifact(run_id: str, path: str, *, store: Store | None = None) -> bytes:
    """An artifact's bytes, verified against the checksum recorded when it was logged.

    Raises:
        NotFoundError: the run has no such artifact.
        ArtifactNotFoundError: it is indexed but its file is gone.
        CorruptedArtifactError: its bytes changed since it was logged.
    """
    resolved = _resolve(store)
    info = resolved.metadata.get_artifact(run_id, validate_artifact_path(path))
    return resolved.artifacts.get_bytes(_artifactcheck_key(run_id, info.path), info.sha256)


def download_artifact(
    run_id: str, path: str, dest: str | os.PathLike[str], *, store: Store | None = None
) -> Path:
    """Copy an artifact to a local file, verifying its checksum; returns the file's path."""
    resolved = _resolve(store)
    info = resolved.metadata.get_artifact(run_id, validate_artifact_path(path))
    return resolved.artifacts.download(_artifactcheck_key(run_id, info.path), dest, info.sha256)


def _experiment_ids(store: Store, experiment: str | Sequence[str] | None) -> list[str] | None:
    if experiment is None:
        return None
    names = [experiment] if isinstance(experiment, str) else list(experiment)
    return [store.metadata.get_experiment(name).experiment_id for name in names]


@overload
def search_runs(
    experiment: str | Sequence[str] | None = ...,
    filter: str | None = ...,
    order_by: Sequence[str] | str | None = ...,
    max_results: int = ...,
    offset: int = ...,
    *,
    as_frame: Literal[False] = ...,
    store: Store | None = ...,
) -> list[Run]: ...
@overload
def search_runs(
    experiment: str | Sequence[str] | None = ...,
    filter: str | None = ...,
    order_by: Sequence[str] | str | None = ...,
    max_results: int = ...,
    offset: int = ...,
    *,
    as_frame: Literal[True],
    store: Store | None = ...,
) -> pd.DataFrame: ...
def search_runs(
    experiment: str | Sequence[str] | None = None,
    filter: str | None = None,
    order_by: Sequence[str] | str | None = None,
    max_results: int = 1000,
    offset: int = 0,
    *,
    as_frame: bool = False,
    store: Store | None = None,
) -> list[Run] | pd.DataFrame:
    """Find runs; the filter and ordering run in the database, not in Python.

    Args:
        experiment: an experiment name or id, several, or None for all.
        filter: e.g. ``"metrics.auc > 0.8 and params.model = 'gbm'"`` (see
            :mod:`shipyard.core.filters` for the grammar).
        order_by: e.g. ``["metrics.auc DESC"]``; default newest first.
        max_results: the page size.
        offset: runs to skip, for paging.
        as_frame: return a pandas DataFrame with ``metrics.*``, ``params.*``
            and ``tags.*`` columns instead of :class:`Run` objects.
        store: where to search (default: the store from settings).

    Raises:
        InvalidFilterError: the filter or an ordering term does not parse.
        NotFoundError: an experiment does not exist.
    """
    if max_results < 1 or offset < 0:
        raise InvalidInputError(
            f"max_results must be >= 1 and offset >= 0, got {max_results} and {offset}"
        )
    resolved = _resolve(store)
    node = parse_filter(filter)
    order = parse_order_by(order_by)
    found = resolved.metadata.search_runs(
        _experiment_ids(resolved, experiment), node, order, max_results, offset
    )
    return runs_to_frame(found) if as_frame else found


def runs_to_frame(found: Iterable[Run]) -> pd.DataFrame:
    """Runs as a DataFrame: one row per run, ``metrics.*``/``params.*``/``tags.*`` columns."""
    import pandas as pd

    found = list(found)
    columns: dict[str, list[Any]] = {
        "run_id": [r.run_id for r in found],
        "experiment_id": [r.experiment_id for r in found],
        "name": [r.name for r in found],
        "status": [r.status.value for r in found],
        "start_time": [r.start_time for r in found],
        "end_time": [r.end_time for r in found],
    }
    for prefix, attr, missing in (
        ("metrics", "metrics", math.nan),
        ("params", "params", None),
        ("tags", "tags", None),
    ):
        keys = sorted({k for r in found for k in getattr(r, attr)})
        for key in keys:
            columns[f"{prefix}.{key}"] = [getattr(r, attr).get(key, missing) for r in found]
    return pd.DataFrame(columns)
