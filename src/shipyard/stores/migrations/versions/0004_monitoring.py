"""Monitoring tables: results per window of the prediction log, their figures, alerts.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_keyed = {"sqlite_with_rowid": False}  # rows live in the primary key's B-tree on SQLite


def upgrade() -> None:
    op.create_table(
        "monitor_windows",
        sa.Column("id", _big_id, primary_key=True, autoincrement=True),
        sa.Column("endpoint", sa.String(256), nullable=False),
        sa.Column("start_ms", sa.BigInteger, nullable=False),
        sa.Column("end_ms", sa.BigInteger, nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("labelled", sa.BigInteger, nullable=False),
        sa.Column("model_name", sa.String(256), nullable=True),
        sa.Column("version", sa.Integer, nullable=True),
        sa.Column("results", sa.Text, nullable=False),
        sa.Column("computed_at", sa.BigInteger, nullable=False),
    )
    op.create_index(
        "ux_monitor_windows_span",
        "monitor_windows",
        ["endpoint", "start_ms", "end_ms"],
        unique=True,
    )
    op.create_table(
        "monitor_metrics",
        sa.Column(
            "window_id",
            _big_id,
            sa.ForeignKey("monitor_windows.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("name", sa.String(512), primary_key=True),
        sa.Column("value", sa.Double, nullable=True),
        **_keyed,
    )
    op.create_table(
        "alerts",
        sa.Column("id", _big_id, primary_key=True, autoincrement=True),
        sa.Column("endpoint", sa.String(256), nullable=False),
        sa.Column("window_start_ms", sa.BigInteger, nullable=False),
        sa.Column("window_end_ms", sa.BigInteger, nullable=False),
        sa.Column("rule", sa.String(512), nullable=False),
        sa.Column("metric", sa.String(512), nullable=False),
        sa.Column("value", sa.Double, nullable=True),
        sa.Column("threshold", sa.Double, nullable=False),
        sa.Column("reference", sa.Double, nullable=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("delivered", sa.Integer, nullable=True),
    )
    op.create_index(
        "ux_alerts_window_rule",
        "alerts",
        ["endpoint", "window_start_ms", "window_end_ms", "rule"],
        unique=True,
    )
    op.create_index("ix_alerts_created", "alerts", ["created_at"])


def downgrade() -> None:
    op.drop_table("alerts")
    op.drop_table("monitor_metrics")
    op.drop_table("monitor_windows")
