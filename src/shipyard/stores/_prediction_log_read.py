"""Reading the prediction log and its feedback back, through DuckDB.

Date partitions are pruned by listing only the ``date=`` folders a time window needs;
the files found are read with ``read_parquet(..., union_by_name=true)``, so versions
with different inputs or outputs come back as one table (a column a version lacks is
null). Object stores are read through the artifact store's own fsspec filesystem,
registered with DuckDB.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import StoreError
from shipyard.stores._prediction_log_tables import (
    FEEDBACK_PREFIX,
    PREDICTIONS_PREFIX,
    check_endpoint,
)

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from shipyard.stores._artifacts import ArtifactStore

__all__ = ["PREDICTION_COLUMNS", "log_files", "read_feedback", "read_predictions"]

#: The columns every prediction row has, with their DuckDB types, in order.
PREDICTION_COLUMNS = {
    "prediction_id": "VARCHAR",
    "endpoint": "VARCHAR",
    "model": "VARCHAR",
    "version": "INTEGER",
    "role": "VARCHAR",
    "ts": "TIMESTAMPTZ",
    "latency_ms": "DOUBLE",
    "status": "SMALLINT",
    "error": "VARCHAR",
}
_FEEDBACK_COLUMNS = {"prediction_id": "VARCHAR", "label": "VARCHAR", "ts": "TIMESTAMPTZ"}
_JOINED_COLUMNS = {"label": "VARCHAR", "label_ts": "TIMESTAMPTZ"}


def _utc(value: datetime) -> datetime:
    """A datetime in UTC; naive ones are taken as UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def log_files(
    artifacts: ArtifactStore,
    prefix: str,
    endpoint: str,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[str]:
    """The Parquet files of one endpoint whose date partition can hold rows in the window.

    Paths are local paths for a folder store and full URLs (``s3://...``) otherwise.

    Raises:
        StoreError: the store cannot be listed.
    """
    check_endpoint(endpoint)
    first = None if since is None else _utc(since).date()
    last = None if until is None else _utc(until).date()
    fs = artifacts.fs
    base = artifacts._full(f"{prefix}/endpoint={endpoint}")
    files: list[str] = []
    try:
        fs.invalidate_cache(base)  # another process (the server) writes here
        folders = sorted(fs.ls(base, detail=False))
        for folder in folders:
            name = posixpath.basename(folder.rstrip("/"))
            if not name.startswith("date="):
                continue
            try:
                day = date.fromisoformat(name[5:])
            except ValueError:
                continue
            if (first is not None and day < first) or (last is not None and day > last):
                continue
            for path in sorted(fs.ls(folder, detail=False)):
                leaf = posixpath.basename(path)
                if leaf.startswith("part-") and leaf.endswith(".parquet"):
                    files.append(path if artifacts.is_local else fs.unstrip_protocol(path))
    except FileNotFoundError:
        return files
    except OSError as exc:
        raise StoreError(f"cannot list the prediction log in {artifacts.url}: {exc}") from exc
    return files


def _connect(artifacts: ArtifactStore) -> duckdb.DuckDBPyConnection:
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if not artifacts.is_local:
        con.register_filesystem(artifacts.fs)
    return con


def _source(param: str, *, rows: bool = False) -> str:
    extra = ", filename=true, file_row_number=true" if rows else ""
    return (
        f"read_parquet(${param}, union_by_name=true, hive_partitioning=true, "
        f"hive_types_autocast=false{extra})"
    )


def _empty(columns: dict[str, str]) -> str:
    listed = ", ".join(f"NULL::{kind} AS {_quote(name)}" for name, kind in columns.items())
    return f"SELECT {listed} WHERE false"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _ordered(columns: Iterable[str]) -> list[str]:
    """Fixed columns, then inputs, then outputs, then anything else; partitions dropped."""
    rest = [c for c in columns if c not in PREDICTION_COLUMNS and c != "date"]

    def rank(name: str) -> int:
        if name.startswith("input."):
            return 0
        if name == "output.prediction":
            return 1
        return 2 if name.startswith("output.") else 3

    return list(PREDICTION_COLUMNS) + sorted(rest, key=rank)  # sorted() is stable


def _window(since: datetime | None, until: datetime | None, params: dict[str, Any]) -> list[str]:
    where = []
    if since is not None:
        params["since"] = _utc(since).isoformat()
        where.append("ts >= $since::TIMESTAMPTZ")
    if until is not None:
        params["until"] = _utc(until).isoformat()
        where.append("ts < $until::TIMESTAMPTZ")
    return where


@contextmanager
def _duckdb(artifacts: ArtifactStore) -> Iterator[duckdb.DuckDBPyConnection]:
    """A fresh in-memory DuckDB that can read the store; its errors become StoreError."""
    import duckdb

    try:
        with _connect(artifacts) as con:
            yield con
    except duckdb.Error as exc:
        raise StoreError(f"reading the prediction log in {artifacts.url} failed: {exc}") from exc


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    # Through Arrow: DuckDB's own .df() trips pandas deprecation warnings.
    frame: pd.DataFrame = con.sql(sql, params=params).to_arrow_table().to_pandas()
    return frame


def read_predictions(
    artifacts: ArtifactStore,
    endpoint: str,
    since: datetime | None = None,
    until: datetime | None = None,
    roles: Iterable[str] | None = None,
    *,
    with_feedback: bool = False,
) -> pd.DataFrame:
    """Logged predictions of one endpoint with ``since <= ts < until``, oldest first.

    Naive datetimes are taken as UTC. With ``with_feedback``, each row also gets the
    latest feedback for its prediction id (``label``, ``label_ts``; null when none).

    Raises:
        StoreError: the files cannot be listed or read.
    """
    files = log_files(artifacts, PREDICTIONS_PREFIX, endpoint, since, until)
    labels = log_files(artifacts, FEEDBACK_PREFIX, endpoint, since) if with_feedback else []
    params: dict[str, Any] = {}
    where = _window(since, until, params)
    if roles is not None:
        params["roles"] = list(roles)
        where.append("list_contains($roles, role)")
    with _duckdb(artifacts) as con:
        if files:
            params["files"] = files
            query = f"SELECT * FROM {_source('files')} LIMIT 0"
            found = con.sql(query, params={"files": files}).columns
            listed = ", ".join(_quote(name) for name in _ordered(found))
            predictions = f"SELECT {listed} FROM {_source('files')}"
        else:
            predictions = _empty(PREDICTION_COLUMNS)
        if where:
            predictions = f"SELECT * FROM ({predictions}) WHERE {' AND '.join(where)}"
        if not with_feedback:
            return _frame(con, f"{predictions} ORDER BY ts, prediction_id", params)
        if labels:
            params["labels"] = labels
            feedback = (
                f"SELECT prediction_id, label, ts AS label_ts FROM {_source('labels', rows=True)} "
                "QUALIFY row_number() OVER (PARTITION BY prediction_id "
                "ORDER BY ts DESC, filename DESC, file_row_number DESC) = 1"
            )
        else:
            feedback = _empty({"prediction_id": "VARCHAR", **_JOINED_COLUMNS})
        sql = (
            f"WITH p AS ({predictions}), f AS ({feedback}) "
            "SELECT p.*, f.label, f.label_ts FROM p LEFT JOIN f USING (prediction_id) "
            "ORDER BY p.ts, p.prediction_id"
        )
        return _frame(con, sql, params)


def read_feedback(
    artifacts: ArtifactStore,
    endpoint: str,
    since: datetime | None = None,
    until: datetime | None = None,
) -> pd.DataFrame:
    """Every feedback row of one endpoint with ``since <= ts < until``, in arrival order.

    Columns: ``prediction_id``, ``label``, ``ts`` (when the feedback arrived).

    Raises:
        StoreError: the files cannot be listed or read.
    """
    files = log_files(artifacts, FEEDBACK_PREFIX, endpoint, since, until)
    params: dict[str, Any] = {}
    where = _window(since, until, params)
    if files:
        params["files"] = files
        sql = (
            f"SELECT prediction_id, label, ts FROM {_source('files', rows=True)}"
            f"{' WHERE ' + ' AND '.join(where) if where else ''} "
            "ORDER BY ts, filename, file_row_number"
        )
    else:
        sql = _empty(_FEEDBACK_COLUMNS)
        params.clear()
    with _duckdb(artifacts) as con:
        return _frame(con, sql, params)
