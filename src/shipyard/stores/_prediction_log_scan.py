"""Scanning an endpoint's prediction log window by window, out of core, for monitoring.

One DuckDB connection serves a whole monitoring run. Each window reads only the date
partitions it can overlap and only the columns asked for, and hands them back as an
Arrow record batch reader, so a window of any size is profiled a batch at a time. Late
labels are deduplicated once per run (the latest label of each prediction id) into a
temporary table that every window joins.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import StoreError
from shipyard.stores._prediction_log_read import _connect, _quote, _source, _utc, log_files
from shipyard.stores._prediction_log_tables import FEEDBACK_PREFIX, PREDICTIONS_PREFIX

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from shipyard.stores._artifacts import ArtifactStore

__all__ = ["SERVED_ROLES", "LogScan"]

#: The roles whose rows are the endpoint's traffic (shadows only get copies).
SERVED_ROLES = ("primary", "canary")
_BATCH_ROWS = 1 << 20


class LogScan:
    """Read windows of one endpoint's prediction log and its feedback through DuckDB.

    Use it as a context manager; every DuckDB error becomes a ``StoreError``.
    """

    def __init__(self, artifacts: ArtifactStore, endpoint: str) -> None:
        self.artifacts = artifacts
        self.endpoint = endpoint
        self._con: duckdb.DuckDBPyConnection | None = None
        self._labels_since: datetime | None = None

    def __enter__(self) -> LogScan:
        self._con = _connect(self.artifacts)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise RuntimeError("LogScan is used outside its `with` block")
        return self._con

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """DuckDB's errors, whether raised by a query or while its rows are read."""
        import duckdb

        try:
            yield
        except duckdb.Error as exc:
            raise StoreError(
                f"reading the prediction log of {self.endpoint!r} in {self.artifacts.url} "
                f"failed: {exc}"
            ) from exc

    def _rows(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        with self._guard():
            return self.con.sql(sql, params=params or None).fetchall()

    def _execute(self, sql: str, params: dict[str, Any]) -> None:
        with self._guard():
            self.con.execute(sql, params or None)

    def files(self, start: datetime | None = None, end: datetime | None = None) -> list[str]:
        """The log's Parquet files whose date partition can hold rows in the window."""
        return log_files(self.artifacts, PREDICTIONS_PREFIX, self.endpoint, start, end)

    def time_range(self) -> tuple[datetime, datetime] | None:
        """The first and last prediction time in the whole log, or None when it is empty."""
        files = self.files()
        if not files:
            return None
        # As epoch microseconds: DuckDB needs pytz to hand back aware datetimes.
        (row,) = self._rows(
            f"SELECT epoch_us(min(ts)), epoch_us(max(ts)) FROM {_source('files')}",
            {"files": files},
        )
        if row[0] is None:
            return None
        return _from_us(row[0]), _from_us(row[1])

    def columns(self, files: Sequence[str]) -> list[str]:
        """The union of the files' column names (no partition columns)."""
        if not files:
            return []
        with self._guard():
            found = self.con.sql(
                f"SELECT * FROM {_source('files')} LIMIT 0", params={"files": list(files)}
            ).columns
        return [name for name in found if name != "date"]

    @staticmethod
    def _where(start: datetime, end: datetime, params: dict[str, Any]) -> str:
        params["start"] = _utc(start).isoformat()
        params["end"] = _utc(end).isoformat()
        return "ts >= $start::TIMESTAMPTZ AND ts < $end::TIMESTAMPTZ"

    def batches(
        self,
        files: Sequence[str],
        start: datetime,
        end: datetime,
        columns: Iterable[str],
        *,
        batch_rows: int = _BATCH_ROWS,
    ) -> pa.RecordBatchReader:
        """The served, successful rows of the window, only ``columns``, in Arrow batches."""
        listed = ", ".join(_quote(c) for c in columns) or "NULL AS nothing"
        params: dict[str, Any] = {"files": list(files), "roles": list(SERVED_ROLES)}
        where = self._where(start, end, params)
        sql = (
            f"SELECT {listed} FROM {_source('files')} "
            f"WHERE {where} AND status = 200 AND list_contains($roles, role)"
        )
        import pyarrow as pa

        with self._guard():
            reader = self.con.sql(sql, params=params).to_arrow_reader(batch_rows)

        def guarded() -> Iterator[pa.RecordBatch]:
            with self._guard():
                yield from reader

        return pa.RecordBatchReader.from_batches(reader.schema, guarded())

    def operations(
        self, files: Sequence[str], start: datetime, end: datetime
    ) -> list[dict[str, Any]]:
        """Request counts, errors and latency percentiles per (version, role), and in all.

        The row for all served traffic has ``version`` and ``role`` None; shadows are
        counted in their own rows only.
        """
        if not files:
            return []
        params: dict[str, Any] = {"files": list(files)}
        where = self._where(start, end, params)
        sql = (
            "SELECT version, role, count(*) AS requests, "
            "count(*) FILTER (WHERE status >= 500) AS errors, "
            "count(*) FILTER (WHERE status >= 400 AND status < 500) AS rejected, "
            "quantile_cont(latency_ms, [0.5, 0.95, 0.99]) AS latency "
            f"FROM {_source('files')} WHERE {where} "
            "GROUP BY version, role ORDER BY version, role"
        )
        rows = self._rows(sql, params)
        served = (
            "SELECT count(*), count(*) FILTER (WHERE status >= 500), "
            "count(*) FILTER (WHERE status >= 400 AND status < 500), "
            "quantile_cont(latency_ms, [0.5, 0.95, 0.99]) "
            f"FROM {_source('files')} WHERE {where} AND list_contains($roles, role)"
        )
        (total,) = self._rows(served, {**params, "roles": list(SERVED_ROLES)})
        out = [
            _ops_row(version, role, requests, errors, rejected, latency)
            for version, role, requests, errors, rejected, latency in rows
        ]
        if total[0]:
            out.append(_ops_row(None, None, *total))
        return out

    def prepare_labels(self, since: datetime) -> None:
        """The latest label of each prediction id that arrived since ``since``, once per run."""
        if self._labels_since is not None and self._labels_since <= since:
            return
        files = log_files(self.artifacts, FEEDBACK_PREFIX, self.endpoint, since)
        self._execute("DROP TABLE IF EXISTS labels", {})
        if files:
            self._execute(
                "CREATE TEMP TABLE labels AS SELECT prediction_id, label "
                f"FROM {_source('files', rows=True)} "
                "QUALIFY row_number() OVER (PARTITION BY prediction_id "
                "ORDER BY ts DESC, filename DESC, file_row_number DESC) = 1",
                {"files": files},
            )
        else:
            self._execute("CREATE TEMP TABLE labels (prediction_id VARCHAR, label VARCHAR)", {})
        self._labels_since = since

    def labelled(
        self, files: Sequence[str], start: datetime, end: datetime, columns: Iterable[str]
    ) -> pa.Table:
        """The window's served rows that have a label: ``columns`` plus ``label``."""
        import pyarrow as pa

        self.prepare_labels(start)
        if not files:
            return pa.table({"label": pa.array([], pa.string())})
        listed = ", ".join(f"p.{_quote(c)}" for c in columns)
        params: dict[str, Any] = {"files": list(files), "roles": list(SERVED_ROLES)}
        where = self._where(start, end, params)
        sql = (
            f"SELECT {listed + ', ' if listed else ''}l.label "
            f"FROM {_source('files')} AS p JOIN labels AS l USING (prediction_id) "
            f"WHERE {where} AND p.status = 200 AND list_contains($roles, p.role)"
        )
        with self._guard():
            table: pa.Table = self.con.sql(sql, params=params).to_arrow_table()
        return table


def _from_us(micros: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)


def _ops_row(
    version: int | None,
    role: str | None,
    requests: int,
    errors: int,
    rejected: int,
    latency: Sequence[float] | None,
) -> dict[str, Any]:
    p50, p95, p99 = latency if latency else (None, None, None)
    return {
        "version": version,
        "role": role,
        "requests": int(requests),
        "errors": int(errors),
        "rejected": int(rejected),
        "error_rate": errors / requests if requests else None,
        "p50_ms": p50,
        "p95_ms": p95,
        "p99_ms": p99,
    }
