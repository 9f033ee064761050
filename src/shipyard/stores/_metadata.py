"""The metadata store: experiments, runs, params, tags, metrics, artifact index, inputs.

One implementation over SQLAlchemy Core serves SQLite and PostgreSQL; the
``MetadataStore`` protocol is what services depend on.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import Connection, Row, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from shipyard.core.entities import ArtifactInfo, Experiment, Metric, Run, RunInput, RunStatus
from shipyard.core.errors import (
    AlreadyExistsError,
    ConflictError,
    NotFoundError,
    ParamConflictError,
)
from shipyard.core.filters import FilterNode, OrderKey
from shipyard.core.ids import from_ms, new_id, now_ms
from shipyard.stores._engine import Database
from shipyard.stores._schema import (
    artifacts,
    experiments,
    latest_metrics,
    metrics,
    params,
    run_inputs,
    runs,
    tags,
)
from shipyard.stores._search import build_search

__all__ = ["MetadataStore", "MetricPoint", "SqlMetadataStore"]

#: (key, value, step, timestamp in ms) as buffered by the tracking client.
MetricPoint = tuple[str, float, int, int]

_IN_CHUNK = 900  # stay under SQLite's bound-parameter limit on old builds


class MetadataStore(Protocol):
    """What services need from a metadata backend."""

    def get_or_create_experiment(self, name: str) -> Experiment: ...
    def get_experiment(self, name_or_id: str) -> Experiment: ...
    def list_experiments(self) -> list[Experiment]: ...
    def count_runs(self) -> dict[str, int]: ...
    def create_run(
        self,
        experiment_id: str,
        name: str,
        tags: Mapping[str, str],
        params: Mapping[str, str],
        host: str,
        pid: int | None,
    ) -> Run: ...
    def end_run(self, run_id: str, status: RunStatus, message: str = "") -> Run: ...
    def get_run(self, run_id: str) -> Run: ...
    def log_params(self, run_id: str, values: Mapping[str, str]) -> None: ...
    def set_tags(self, run_id: str, values: Mapping[str, str]) -> None: ...
    def log_metrics(self, run_id: str, points: Sequence[MetricPoint]) -> None: ...
    def get_metric_history(self, run_id: str, key: str) -> list[Metric]: ...
    def record_artifact(self, run_id: str, info: ArtifactInfo) -> None: ...
    def list_artifacts(self, run_id: str) -> list[ArtifactInfo]: ...
    def get_artifact(self, run_id: str, path: str) -> ArtifactInfo: ...
    def log_inputs(self, run_id: str, inputs: Iterable[RunInput]) -> None: ...
    def list_inputs(self, run_id: str) -> list[RunInput]: ...
    def search_runs(
        self,
        experiment_ids: Sequence[str] | None,
        node: FilterNode | None,
        order: Sequence[OrderKey],
        max_results: int,
        offset: int = 0,
    ) -> list[Run]: ...


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _IN_CHUNK):
        yield items[start : start + _IN_CHUNK]


def _placeholders(conn: Connection, count: int) -> str:
    """``count`` positional parameter markers in the driver's own style, comma-separated."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    return ", ".join([mark] * count)


def _to_db_value(value: float) -> float | None:
    return None if math.isnan(value) else value


def _from_db_value(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _experiment(row: Row[Any]) -> Experiment:
    return Experiment(
        experiment_id=row.experiment_id,
        name=row.name,
        created_at=from_ms(row.created_at),
        description=row.description,
    )


class SqlMetadataStore:
    """Metadata on SQLite or PostgreSQL. Cheap to construct: no I/O until first use.

    Example:
        >>> store = SqlMetadataStore(Database("sqlite:///:memory:"))
    """

    def __init__(self, database: Database) -> None:
        self.db = database

    # -- experiments ----------------------------------------------------------------

    def create_experiment(self, name: str, description: str = "") -> Experiment:
        """Create an experiment; its name must be new.

        Raises:
            AlreadyExistsError: an experiment with that name exists.
        """
        experiment_id, created = new_id(), now_ms()
        values = {"name": name, "description": description, "created_at": created}
        try:
            with self.db.write() as conn:
                conn.execute(insert(experiments).values(experiment_id=experiment_id, **values))
        except IntegrityError as exc:
            raise AlreadyExistsError(f"experiment {name!r} already exists") from exc
        return Experiment(experiment_id, name, from_ms(created), description)

    def get_or_create_experiment(self, name: str) -> Experiment:
        """The experiment with this name, created if missing (safe under concurrency)."""
        with self.db.read() as conn:
            row = conn.execute(select(experiments).where(experiments.c.name == name)).first()
        if row is not None:
            return _experiment(row)
        try:
            return self.create_experiment(name)
        except AlreadyExistsError:  # another process created it between our read and write
            return self.get_experiment(name)

    def get_experiment(self, name_or_id: str) -> Experiment:
        """An experiment by name, or by id.

        Raises:
            NotFoundError: no experiment has that name or id.
        """
        with self.db.read() as conn:
            row = (
                conn.execute(select(experiments).where(experiments.c.name == name_or_id)).first()
                or conn.execute(
                    select(experiments).where(experiments.c.experiment_id == name_or_id)
                ).first()
            )
        if row is None:
            raise NotFoundError(
                f"experiment {name_or_id!r} not found; `shipyard experiments list` shows them"
            )
        return _experiment(row)

    def list_experiments(self) -> list[Experiment]:
        """All experiments, oldest first."""
        with self.db.read() as conn:
            query = select(experiments).order_by(experiments.c.created_at, experiments.c.name)
            rows = conn.execute(query).all()
        return [_experiment(row) for row in rows]

    def count_runs(self) -> dict[str, int]:
        """Number of runs per experiment id."""
        query = select(runs.c.experiment_id, func.count()).group_by(runs.c.experiment_id)
        with self.db.read() as conn:
            return {str(exp_id): int(count) for exp_id, count in conn.execute(query).all()}

    # -- runs -----------------------------------------------------------------------

    def create_run(
        self,
        experiment_id: str,
        name: str,
        tags: Mapping[str, str],
        params: Mapping[str, str],
        host: str = "",
        pid: int | None = None,
    ) -> Run:
        """Insert a RUNNING run with its first tags and params, in one transaction.

        Raises:
            NotFoundError: no experiment has that id.
        """
        run_id = new_id()
        start = now_ms()
        with self.db.write() as conn:
            found = select(experiments.c.experiment_id).where(
                experiments.c.experiment_id == experiment_id
            )
            if conn.execute(found).first() is None:
                raise NotFoundError(
                    f"experiment id {experiment_id!r} not found; "
                    "`shipyard experiments list` shows them"
                )
            conn.execute(
                insert(runs).values(
                    run_id=run_id,
                    experiment_id=experiment_id,
                    name=name or run_id[:8],
                    status=RunStatus.RUNNING.value,
                    start_time=start,
                    end_time=None,
                    message="",
                    host=host,
                    pid=pid,
                )
            )
            self._upsert_tags(conn, run_id, tags)
            self._insert_params(conn, run_id, params)
        return Run(
            run_id=run_id,
            experiment_id=experiment_id,
            name=name or run_id[:8],
            status=RunStatus.RUNNING,
            start_time=from_ms(start),
            end_time=None,
            params=dict(params),
            tags=dict(tags),
            host=host,
            pid=pid,
        )

    def end_run(self, run_id: str, status: RunStatus, message: str = "") -> Run:
        """Move a RUNNING run to a terminal status.

        Raises:
            NotFoundError: no such run.
            ConflictError: the run had already ended.
        """
        if not status.is_terminal:
            raise ConflictError(f"a run can only end as FINISHED, FAILED or KILLED, not {status}")
        with self.db.write() as conn:
            result = conn.execute(
                update(runs)
                .where(runs.c.run_id == run_id, runs.c.status == RunStatus.RUNNING.value)
                .values(status=status.value, end_time=now_ms(), message=message)
            )
            if result.rowcount == 0:
                current = conn.execute(select(runs.c.status).where(runs.c.run_id == run_id)).first()
                if current is None:
                    raise self._run_not_found(run_id)
                raise ConflictError(f"run {run_id} already ended as {current.status}")
        return self.get_run(run_id)

    def get_run(self, run_id: str) -> Run:
        """A run with its params, latest metrics and tags.

        Raises:
            NotFoundError: no run has that id.
        """
        with self.db.read() as conn:
            row = conn.execute(select(runs).where(runs.c.run_id == run_id)).first()
            if row is None:
                raise self._run_not_found(run_id)
            return self._hydrate(conn, [row])[0]

    @staticmethod
    def _run_not_found(run_id: str) -> NotFoundError:
        return NotFoundError(f"run {run_id!r} not found; `shipyard runs list` shows recent runs")

    def _hydrate(self, conn: Connection, rows: Sequence[Row[Any]]) -> list[Run]:
        ids = [row.run_id for row in rows]
        by_kind: dict[str, dict[str, dict[str, Any]]] = {
            kind: {run_id: {} for run_id in ids} for kind in ("params", "metrics", "tags")
        }
        # Plain driver tuples: a page of 1,000 runs has tens of thousands of these rows,
        # and SQLAlchemy's per-row objects would cost more than the query.
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            for chunk in _chunks(ids):
                marks = _placeholders(conn, len(chunk))
                for kind, table in (
                    ("params", params),
                    ("tags", tags),
                    ("metrics", latest_metrics),
                ):
                    cursor.execute(
                        f"SELECT run_id, key, value FROM {table.name} WHERE run_id IN ({marks})",
                        tuple(chunk),
                    )
                    found = by_kind[kind]
                    if kind == "metrics":
                        for run_id, key, value in cursor.fetchall():
                            found[run_id][key] = _from_db_value(value)
                    else:
                        for run_id, key, value in cursor.fetchall():
                            found[run_id][key] = value
        finally:
            cursor.close()
        return [
            Run(
                run_id=row.run_id,
                experiment_id=row.experiment_id,
                name=row.name,
                status=RunStatus(row.status),
                start_time=from_ms(row.start_time),
                end_time=None if row.end_time is None else from_ms(row.end_time),
                message=row.message,
                params=by_kind["params"][row.run_id],
                metrics=by_kind["metrics"][row.run_id],
                tags=by_kind["tags"][row.run_id],
                host=row.host,
                pid=row.pid,
            )
            for row in rows
        ]

    def _require_run(self, conn: Connection, run_id: str) -> None:
        if conn.execute(select(runs.c.run_id).where(runs.c.run_id == run_id)).first() is None:
            raise self._run_not_found(run_id)

    # -- params and tags --------------------------------------------------------------

    def log_params(self, run_id: str, values: Mapping[str, str]) -> None:
        """Record params; re-logging the same value is fine, another value is refused.

        Raises:
            ParamConflictError: a key already holds a different value.
        """
        if not values:
            return
        with self.db.write() as conn:
            self._require_run(conn, run_id)
            self._insert_params(conn, run_id, values)

    def _insert_params(self, conn: Connection, run_id: str, values: Mapping[str, str]) -> None:
        if not values:
            return
        existing = dict(
            conn.execute(
                select(params.c.key, params.c.value).where(
                    params.c.run_id == run_id, params.c.key.in_(list(values))
                )
            ).all()
        )
        for key, old in existing.items():
            if old != values[key]:
                raise ParamConflictError(
                    f"param {key!r} of run {run_id} is already {old!r}; got {values[key]!r}. "
                    "Params are write-once: log the new value under another key or in a new run"
                )
        fresh = [
            {"run_id": run_id, "key": key, "value": value}
            for key, value in values.items()
            if key not in existing
        ]
        if fresh:
            conn.execute(insert(params), fresh)

    def set_tags(self, run_id: str, values: Mapping[str, str]) -> None:
        """Set tags, replacing the values of keys already set."""
        if not values:
            return
        with self.db.write() as conn:
            self._require_run(conn, run_id)
            self._upsert_tags(conn, run_id, values)

    def _dialect_insert(self, table: Any) -> Any:
        return self.db.dialect_insert(table)

    def _upsert_tags(self, conn: Connection, run_id: str, values: Mapping[str, str]) -> None:
        if not values:
            return
        stmt = self._dialect_insert(tags)
        stmt = stmt.on_conflict_do_update(
            index_elements=[tags.c.run_id, tags.c.key], set_={"value": stmt.excluded.value}
        )
        conn.execute(stmt, [{"run_id": run_id, "key": k, "value": v} for k, v in values.items()])

    # -- metrics --------------------------------------------------------------------

    def log_metrics(self, run_id: str, points: Sequence[MetricPoint]) -> None:
        """Append metric points in one transaction and keep each key's latest value.

        The latest value of a key is the one with the highest step, then the
        highest timestamp; it is what searches filter and sort on.
        """
        if not points:
            return
        rows = [(run_id, key, _to_db_value(value), step, ts) for key, value, step, ts in points]
        latest: dict[str, MetricPoint] = {}
        for point in points:
            best = latest.get(point[0])
            if best is None or (point[2], point[3]) >= (best[2], best[3]):
                latest[point[0]] = point
        stmt = self._dialect_insert(latest_metrics)
        newer = (stmt.excluded.step > latest_metrics.c.step) | (
            (stmt.excluded.step == latest_metrics.c.step)
            & (stmt.excluded.timestamp >= latest_metrics.c.timestamp)
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[latest_metrics.c.run_id, latest_metrics.c.key],
            set_={
                "value": stmt.excluded.value,
                "step": stmt.excluded.step,
                "timestamp": stmt.excluded.timestamp,
            },
            where=newer,
        )
        with self.db.write() as conn:
            self._require_run(conn, run_id)
            # Straight to the driver's executemany: compiling parameters row by row
            # through SQLAlchemy cost more than the inserts themselves.
            conn.exec_driver_sql(self._metric_insert_sql(conn), rows)
            conn.execute(
                stmt,
                [
                    {
                        "run_id": run_id,
                        "key": k,
                        "value": _to_db_value(v),
                        "step": s,
                        "timestamp": t,
                    }
                    for k, v, s, t in latest.values()
                ],
            )

    @staticmethod
    def _metric_insert_sql(conn: Connection) -> str:
        columns = ("run_id", "key", "value", "step", "timestamp")
        return (
            f"INSERT INTO {metrics.name} ({', '.join(columns)}) "
            f"VALUES ({_placeholders(conn, len(columns))})"
        )

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of one metric, by step then time.

        Raises:
            NotFoundError: the run does not exist.
        """
        query = (
            select(metrics.c.value, metrics.c.step, metrics.c.timestamp)
            .where(metrics.c.run_id == run_id, metrics.c.key == key)
            .order_by(metrics.c.step, metrics.c.timestamp, metrics.c.id)
        )
        with self.db.read() as conn:
            self._require_run(conn, run_id)
            return [
                Metric(key, _from_db_value(value), step, ts)
                for value, step, ts in conn.execute(query)
            ]

    # -- artifacts and inputs ---------------------------------------------------------

    def record_artifact(self, run_id: str, info: ArtifactInfo) -> None:
        """Index an artifact already written to the artifact store (replaces the same path)."""
        stmt = self._dialect_insert(artifacts)
        stmt = stmt.on_conflict_do_update(
            index_elements=[artifacts.c.run_id, artifacts.c.path],
            set_={
                "size": stmt.excluded.size,
                "sha256": stmt.excluded.sha256,
                "created_at": stmt.excluded.created_at,
            },
        )
        with self.db.write() as conn:
            self._require_run(conn, run_id)
            conn.execute(
                stmt,
                {
                    "run_id": run_id,
                    "path": info.path,
                    "size": info.size,
                    "sha256": info.sha256,
                    "created_at": now_ms(),
                },
            )

    def list_artifacts(self, run_id: str) -> list[ArtifactInfo]:
        """The run's indexed artifacts, by path."""
        query = (
            select(artifacts.c.path, artifacts.c.size, artifacts.c.sha256)
            .where(artifacts.c.run_id == run_id)
            .order_by(artifacts.c.path)
        )
        with self.db.read() as conn:
            self._require_run(conn, run_id)
            return [ArtifactInfo(*row) for row in conn.execute(query)]

    def get_artifact(self, run_id: str, path: str) -> ArtifactInfo:
        """One indexed artifact.

        Raises:
            NotFoundError: the run has no artifact at that path.
        """
        query = select(artifacts.c.path, artifacts.c.size, artifacts.c.sha256).where(
            artifacts.c.run_id == run_id, artifacts.c.path == path
        )
        with self.db.read() as conn:
            self._require_run(conn, run_id)
            row = conn.execute(query).first()
        if row is None:
            raise NotFoundError(f"run {run_id} has no artifact {path!r}")
        return ArtifactInfo(*row)

    def log_inputs(self, run_id: str, inputs: Iterable[RunInput]) -> None:
        """Link datasets (by digest) to the run; linking twice is harmless."""
        rows = [
            {"run_id": run_id, "digest": i.digest, "name": i.name, "context": i.context}
            for i in inputs
        ]
        if not rows:
            return
        stmt = self._dialect_insert(run_inputs).on_conflict_do_nothing()
        with self.db.write() as conn:
            self._require_run(conn, run_id)
            conn.execute(stmt, rows)

    def list_inputs(self, run_id: str) -> list[RunInput]:
        """The datasets the run read."""
        query = (
            select(run_inputs.c.digest, run_inputs.c.name, run_inputs.c.context)
            .where(run_inputs.c.run_id == run_id)
            .order_by(run_inputs.c.context, run_inputs.c.name)
        )
        with self.db.read() as conn:
            self._require_run(conn, run_id)
            return [RunInput(*row) for row in conn.execute(query)]

    # -- search ---------------------------------------------------------------------

    def search_runs(
        self,
        experiment_ids: Sequence[str] | None,
        node: FilterNode | None,
        order: Sequence[OrderKey],
        max_results: int,
        offset: int = 0,
    ) -> list[Run]:
        """One page of runs matching the filter, in order, fully hydrated."""
        query = build_search(experiment_ids, node, order, max_results, offset)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
            return self._hydrate(conn, rows)
