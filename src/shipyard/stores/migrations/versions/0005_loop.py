"""The closed loop: each endpoint's loop state and the audit trail of its decisions.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_keyed = {"sqlite_with_rowid": False}  # rows live in the primary key's B-tree on SQLite


def upgrade() -> None:
    op.create_table(
        "loop_states",
        sa.Column("endpoint", sa.String(256), primary_key=True),
        sa.Column("model", sa.String(256), nullable=True),
        sa.Column("phase", sa.String(32), nullable=False),
        sa.Column("cycle", sa.BigInteger, nullable=True),
        sa.Column("challenger", sa.Integer, nullable=True),
        sa.Column("phase_since_ms", sa.BigInteger, nullable=True),
        sa.Column("cooldown_until_ms", sa.BigInteger, nullable=True),
        sa.Column("checked_until_ms", sa.BigInteger, nullable=True),
        sa.Column("owner", sa.String(256), nullable=True),
        sa.Column("lease_until_ms", sa.BigInteger, nullable=True),
        sa.Column("generation", sa.BigInteger, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
        **_keyed,
    )
    op.create_table(
        "decisions",
        sa.Column("id", _big_id, primary_key=True, autoincrement=True),
        sa.Column("endpoint", sa.String(256), nullable=False),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("cycle", sa.BigInteger, nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(64), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("version", sa.Integer, nullable=True),
    )
    op.create_index("ix_decisions_endpoint", "decisions", ["endpoint", "id"])
    op.create_index("ix_decisions_cycle", "decisions", ["cycle"])


def downgrade() -> None:
    op.drop_table("decisions")
    op.drop_table("loop_states")
