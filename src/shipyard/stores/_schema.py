"""The metadata tables, as SQLAlchemy Core.

The migrations in ``migrations/versions`` are the history that creates them;
``HEAD_REVISION`` names the newest one, and a test keeps the two in step.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Double,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

__all__ = ["HEAD_REVISION", "metadata"]

#: The Alembic revision this code reads and writes.
HEAD_REVISION = "0005"

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


# -- registry (revision 0002) ------------------------------------------------------------


def _model_fk() -> Column[str]:
    fk = ForeignKey("registered_models.name", ondelete="CASCADE")
    return Column("name", String(256), fk, primary_key=True, nullable=False)


def _version_fk() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["name", "version"],
        ["model_versions.name", "model_versions.version"],
        ondelete="CASCADE",
    )


registered_models = Table(
    "registered_models",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

model_tags = Table(
    "model_tags",
    metadata,
    _model_fk(),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    **_KEYED,
)

# JSON documents (signature, metrics, requirements) are kept as text: they are read
# whole with their version and never queried inside.
model_versions = Table(
    "model_versions",
    metadata,
    _model_fk(),
    Column("version", Integer, primary_key=True),
    Column("flavor", String(32), nullable=False),
    Column("run_id", String(32), ForeignKey("runs.run_id", ondelete="SET NULL"), nullable=True),
    Column("artifact_prefix", String(1024), nullable=False),
    Column("manifest_sha256", String(64), nullable=False),
    Column("signature", Text, nullable=True),
    Column("metrics", Text, nullable=False, default="{}"),
    Column("requirements", Text, nullable=False, default="[]"),
    Column("code_revision", String(64), nullable=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False, default=""),
    Index("ix_model_versions_run", "run_id"),
    **_KEYED,
)

model_version_tags = Table(
    "model_version_tags",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    _version_fk(),
    **_KEYED,
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("alias", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(256), nullable=False, default=""),
    _version_fk(),
    **_KEYED,
)

# The history of every alias: set, moved (previous_version is the old target) or
# deleted (version is NULL). Kept when versions go, so the audit trail survives.
alias_events = Table(
    "alias_events",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column(
        "name",
        String(256),
        ForeignKey("registered_models.name", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("alias", String(64), nullable=False),
    Column("version", Integer, nullable=True),
    Column("previous_version", Integer, nullable=True),
    Column("at", BigInteger, nullable=False),
    Column("by", String(256), nullable=False, default=""),
    Index("ix_alias_events_name_alias", "name", "alias", "id"),
)

model_version_inputs = Table(
    "model_version_inputs",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("digest", String(64), primary_key=True),
    Column("context", String(64), primary_key=True),
    Column("dataset_name", String(256), nullable=False),
    _version_fk(),
    Index("ix_model_version_inputs_digest", "digest"),
    **_KEYED,
)

# One row per (name, digest): the same content logged under two names shares one
# snapshot file, stored under its digest.
datasets = Table(
    "datasets",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("digest", String(64), primary_key=True),
    Column("num_rows", BigInteger, nullable=False),
    Column("num_columns", Integer, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("schema", Text, nullable=False),
    Column("snapshot_sha256", String(64), nullable=False),
    Column("profile_sha256", String(64), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False, default=""),
    Index("ix_datasets_digest", "digest"),
    **_KEYED,
)


# -- endpoints (revision 0003) -----------------------------------------------------------

# The primary follows an alias of the model or is a fixed version: exactly one is set.
# ``shadow_versions`` is a JSON list, read whole with its endpoint.
endpoints = Table(
    "endpoints",
    metadata,
    Column("name", String(256), primary_key=True),
    Column(
        "model_name",
        String(256),
        ForeignKey("registered_models.name"),
        nullable=False,
    ),
    Column("alias", String(64), nullable=True),
    Column("version", Integer, nullable=True),
    Column("canary_version", Integer, nullable=True),
    Column("canary_percent", Double, nullable=False, default=0.0),
    Column("shadow_versions", Text, nullable=False, default="[]"),
    Column("max_batch_size", Integer, nullable=False),
    Column("max_latency_ms", Double, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("generation", Integer, nullable=False, default=1),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    CheckConstraint("(alias IS NULL) <> (version IS NULL)", name="ck_endpoints_one_target"),
    **_KEYED,
)

# Every change to an endpoint, with its traffic policy before and after (JSON). No
# foreign key: the audit trail outlives the endpoint.
endpoint_events = Table(
    "endpoint_events",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("endpoint", String(256), nullable=False),
    Column("action", String(16), nullable=False),
    Column("before", Text, nullable=True),
    Column("after", Text, nullable=True),
    Column("at", BigInteger, nullable=False),
    Column("by", String(256), nullable=False, default=""),
    Index("ix_endpoint_events_endpoint", "endpoint", "id"),
)


# -- monitoring (revision 0004) ----------------------------------------------------------

# One row per monitored window of an endpoint's log; ``results`` is the window's figures
# as JSON. Running the monitor again over the same window replaces its row.
monitor_windows = Table(
    "monitor_windows",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("endpoint", String(256), nullable=False),
    Column("start_ms", BigInteger, nullable=False),
    Column("end_ms", BigInteger, nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("labelled", BigInteger, nullable=False),
    Column("model_name", String(256), nullable=True),
    Column("version", Integer, nullable=True),
    Column("results", Text, nullable=False),
    Column("computed_at", BigInteger, nullable=False),
    Index("ux_monitor_windows_span", "endpoint", "start_ms", "end_ms", unique=True),
)

# Every figure of a window by name (``drift_share``, ``drift.temp``, ``auc``, ``p99_ms``),
# so each has a time series one indexed query away.
monitor_metrics = Table(
    "monitor_metrics",
    metadata,
    Column(
        "window_id",
        _BigId,
        ForeignKey("monitor_windows.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("name", String(512), primary_key=True),
    Column("value", Double, nullable=True),
    **_KEYED,
)

# Alerts fired by rules; a rule fires at most once per window, so running the monitor
# again does not notify twice. ``delivered``: NULL without a webhook, 0 or 1 after it.
alerts = Table(
    "alerts",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("endpoint", String(256), nullable=False),
    Column("window_start_ms", BigInteger, nullable=False),
    Column("window_end_ms", BigInteger, nullable=False),
    Column("rule", String(512), nullable=False),
    Column("metric", String(512), nullable=False),
    Column("value", Double, nullable=True),
    Column("threshold", Double, nullable=False),
    Column("reference", Double, nullable=True),
    Column("message", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("delivered", Integer, nullable=True),
    Index(
        "ux_alerts_window_rule", "endpoint", "window_start_ms", "window_end_ms", "rule", unique=True
    ),
    Index("ix_alerts_created", "created_at"),
)


# -- the closed loop (revision 0005) -----------------------------------------------------

# Where each endpoint's loop is: one row per endpoint, changed only by compare-and-set on
# ``generation``. Times are epoch milliseconds; all but ``lease_until_ms`` and
# ``updated_ms`` are on the loop's clock.
loop_states = Table(
    "loop_states",
    metadata,
    Column("endpoint", String(256), primary_key=True),
    Column("model", String(256), nullable=True),
    Column("phase", String(32), nullable=False),
    Column("cycle", BigInteger, nullable=True),
    Column("challenger", Integer, nullable=True),
    Column("phase_since_ms", BigInteger, nullable=True),
    Column("cooldown_until_ms", BigInteger, nullable=True),
    Column("checked_until_ms", BigInteger, nullable=True),
    Column("owner", String(256), nullable=True),
    Column("lease_until_ms", BigInteger, nullable=True),
    Column("generation", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    **_KEYED,
)

# The loop's audit trail: every decision with its numbers (``details``, JSON). A cycle is
# named by the id of its trigger decision. No foreign keys: the trail outlives endpoints,
# models and runs.
decisions = Table(
    "decisions",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("endpoint", String(256), nullable=False),
    Column("model", String(256), nullable=False),
    Column("cycle", BigInteger, nullable=True),
    Column("kind", String(32), nullable=False),
    Column("outcome", String(64), nullable=False),
    Column("summary", Text, nullable=False),
    Column("details", Text, nullable=False),
    Column("at_ms", BigInteger, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("actor", String(256), nullable=False),
    Column("run_id", String(32), nullable=True),
    Column("version", Integer, nullable=True),
    Index("ix_decisions_endpoint", "endpoint", "id"),
    Index("ix_decisions_cycle", "cycle"),
)
