"""Registry tables: models, versions, tags, aliases and their history, datasets, lineage.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_keyed = {"sqlite_with_rowid": False}  # rows live in the primary key's B-tree on SQLite


def _model_fk() -> sa.Column[str]:
    fk = sa.ForeignKey("registered_models.name", ondelete="CASCADE")
    return sa.Column("name", sa.String(256), fk, primary_key=True, nullable=False)


def _version_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["name", "version"],
        ["model_versions.name", "model_versions.version"],
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "registered_models",
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "model_tags",
        _model_fk(),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        **_keyed,
    )
    op.create_table(
        "model_versions",
        _model_fk(),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("flavor", sa.String(32), nullable=False),
        sa.Column(
            "run_id",
            sa.String(32),
            sa.ForeignKey("runs.run_id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("artifact_prefix", sa.String(1024), nullable=False),
        sa.Column("manifest_sha256", sa.String(64), nullable=False),
        sa.Column("signature", sa.Text, nullable=True),
        sa.Column("metrics", sa.Text, nullable=False),
        sa.Column("requirements", sa.Text, nullable=False),
        sa.Column("code_revision", sa.String(64), nullable=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        **_keyed,
    )
    op.create_index("ix_model_versions_run", "model_versions", ["run_id"])
    op.create_table(
        "model_version_tags",
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        _version_fk(),
        **_keyed,
    )
    op.create_table(
        "model_aliases",
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("alias", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("updated_by", sa.String(256), nullable=False),
        _version_fk(),
        **_keyed,
    )
    op.create_table(
        "alias_events",
        sa.Column("id", _big_id, primary_key=True, autoincrement=True),
        sa.Column(
            "name",
            sa.String(256),
            sa.ForeignKey("registered_models.name", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=True),
        sa.Column("previous_version", sa.Integer, nullable=True),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("by", sa.String(256), nullable=False),
    )
    op.create_index("ix_alias_events_name_alias", "alias_events", ["name", "alias", "id"])
    op.create_table(
        "model_version_inputs",
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("context", sa.String(64), primary_key=True),
        sa.Column("dataset_name", sa.String(256), nullable=False),
        _version_fk(),
        **_keyed,
    )
    op.create_index("ix_model_version_inputs_digest", "model_version_inputs", ["digest"])
    op.create_table(
        "datasets",
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("num_rows", sa.BigInteger, nullable=False),
        sa.Column("num_columns", sa.Integer, nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("schema", sa.Text, nullable=False),
        sa.Column("snapshot_sha256", sa.String(64), nullable=False),
        sa.Column("profile_sha256", sa.String(64), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        **_keyed,
    )
    op.create_index("ix_datasets_digest", "datasets", ["digest"])


def downgrade() -> None:
    for name in (
        "datasets",
        "model_version_inputs",
        "alias_events",
        "model_aliases",
        "model_version_tags",
        "model_versions",
        "model_tags",
        "registered_models",
    ):
        op.drop_table(name)
