"""Serving tables: endpoints and the history of their traffic changes.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_keyed = {"sqlite_with_rowid": False}  # rows live in the primary key's B-tree on SQLite


def upgrade() -> None:
    op.create_table(
        "endpoints",
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column(
            "model_name",
            sa.String(256),
            sa.ForeignKey("registered_models.name"),
            nullable=False,
        ),
        sa.Column("alias", sa.String(64), nullable=True),
        sa.Column("version", sa.Integer, nullable=True),
        sa.Column("canary_version", sa.Integer, nullable=True),
        sa.Column("canary_percent", sa.Double, nullable=False),
        sa.Column("shadow_versions", sa.Text, nullable=False),
        sa.Column("max_batch_size", sa.Integer, nullable=False),
        sa.Column("max_latency_ms", sa.Double, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.CheckConstraint("(alias IS NULL) <> (version IS NULL)", name="ck_endpoints_one_target"),
        **_keyed,
    )
    op.create_table(
        "endpoint_events",
        sa.Column("id", _big_id, primary_key=True, autoincrement=True),
        sa.Column("endpoint", sa.String(256), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("before", sa.Text, nullable=True),
        sa.Column("after", sa.Text, nullable=True),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("by", sa.String(256), nullable=False),
    )
    op.create_index("ix_endpoint_events_endpoint", "endpoint_events", ["endpoint", "id"])


def downgrade() -> None:
    op.drop_table("endpoint_events")
    op.drop_table("endpoints")
