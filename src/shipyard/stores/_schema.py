"""The metadata tables, as SQLAlchemy Core.

The migrations in ``migrations/versions`` are the history that creates them;
``HEAD_REVISION`` names the newest one, and a test keeps the two in step.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

__all__ = ["HEAD_REVISION", "metadata"]

#: The Alembic revision this code reads and writes.
HEAD_REVISION = "0001"

metadata = MetaData()

# Tables looked up by (run_id, key): on SQLite, WITHOUT ROWID stores rows in the primary
# key's B-tree, so a lookup is one search instead of an index search plus a row fetch.
_KEYED: dict[str, Any] = {"sqlite_with_rowid": False}

# SQLite only aliases the rowid for INTEGER PRIMARY KEY, not BIGINT.
_BigId = BigInteger().with_variant(Integer(), "sqlite")


def _run_fk(*, primary_key: bool = True) -> Column[str]:
    fk = ForeignKey("runs.run_id", ondelete="CASCADE")
    return Column("run_id", String(32), fk, primary_key=primary_key, nullable=False)


experiments = Table(
    "experiments",
    metadata,
    Column("experiment_id", String(32), primary_key=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column(
        "experiment_id",
        String(32),
        ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(256), nullable=False),
    Column("status", String(16), nullable=False),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger, nullable=True),
    Column("message", Text, nullable=False, default=""),
    Column("host", String(256), nullable=False, default=""),
    Column("pid", Integer, nullable=True),
    Index("ix_runs_experiment_start", "experiment_id", "start_time"),
)

params = Table(
    "params",
    metadata,
    _run_fk(),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    **_KEYED,
)

tags = Table(
    "tags",
    metadata,
    _run_fk(),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    **_KEYED,
)

# NULL in ``value`` stands for NaN: SQLite cannot store NaN (it reads back as NULL).
metrics = Table(
    "metrics",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    _run_fk(primary_key=False),
    Column("key", String(250), nullable=False),
    Column("value", Double, nullable=True),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Index("ix_metrics_run_key_step", "run_id", "key", "step"),
)

latest_metrics = Table(
    "latest_metrics",
    metadata,
    _run_fk(),
    Column("key", String(250), primary_key=True),
    Column("value", Double, nullable=True),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Index("ix_latest_metrics_key_value", "key", "value"),
    **_KEYED,
)

artifacts = Table(
    "artifacts",
    metadata,
    _run_fk(),
    Column("path", String(1024), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    **_KEYED,
)

run_inputs = Table(
    "run_inputs",
    metadata,
    _run_fk(),
    Column("digest", String(64), primary_key=True),
    Column("name", String(256), nullable=False),
    Column("context", String(64), primary_key=True),
    **_KEYED,
)
