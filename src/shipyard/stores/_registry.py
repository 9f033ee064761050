"""The registry's metadata: models, versions, tags, aliases with their history, datasets.

Versions are numbered per model from 1, in the transaction that inserts them; on
PostgreSQL the model's row is locked first so concurrent registrations queue instead of
colliding on a number.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from shipyard.core.entities import (
    AliasEvent,
    Dataset,
    ModelVersion,
    RegisteredModel,
    RunInput,
)
from shipyard.core.errors import AlreadyExistsError, NotFoundError
from shipyard.core.ids import from_ms, now_ms, to_ms
from shipyard.stores._engine import Database
from shipyard.stores._schema import (
    alias_events,
    datasets,
    model_aliases,
    model_tags,
    model_version_inputs,
    model_version_tags,
    model_versions,
    registered_models,
    run_inputs,
)

__all__ = ["NewVersion", "SqlRegistryStore"]


@dataclass(frozen=True)
class NewVersion:
    """What the registry service hands the store to record a version (files already stored)."""

    flavor: str
    artifact_prefix: str
    manifest_sha256: str
    run_id: str | None = None
    signature: dict[str, Any] | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    requirements: Sequence[str] = ()
    code_revision: str | None = None
    description: str = ""
    created_by: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    inputs: Sequence[RunInput] = ()


def _model_not_found(name: str) -> NotFoundError:
    return NotFoundError(f"model {name!r} not found; `shipyard models list` shows registered ones")


def _dataset(row: Row[Any]) -> Dataset:
    return Dataset(
        name=row.name,
        digest=row.digest,
        num_rows=row.num_rows,
        num_columns=row.num_columns,
        size_bytes=row.size_bytes,
        schema=json.loads(row.schema),
        created_at=from_ms(row.created_at),
        snapshot_sha256=row.snapshot_sha256,
        profile_sha256=row.profile_sha256,
        created_by=row.created_by,
        description=row.description,
    )


class SqlRegistryStore:
    """Registry metadata on SQLite or PostgreSQL; no I/O until first use."""

    def __init__(self, database: Database) -> None:
        self.db = database

    # -- models -----------------------------------------------------------------------

    def create_model(
        self, name: str, description: str = "", tags: Mapping[str, str] | None = None
    ) -> RegisteredModel:
        """Register a model name with no versions yet.

        Raises:
            AlreadyExistsError: the name is taken.
        """
        try:
            with self.db.write() as conn:
                self._insert_model(conn, name, description)
                self._upsert(conn, model_tags, {"name": name}, tags or {})
        except IntegrityError as exc:
            raise AlreadyExistsError(f"model {name!r} already exists") from exc
        return self.get_model(name)

    @staticmethod
    def _insert_model(conn: Connection, name: str, description: str) -> None:
        at = now_ms()
        conn.execute(
            insert(registered_models).values(
                name=name, description=description, created_at=at, updated_at=at
            )
        )

    def get_model(self, name: str) -> RegisteredModel:
        """A registered model with its tags, aliases and latest version number.

        Raises:
            NotFoundError: no model has that name.
        """
        found = self._models(registered_models.c.name == name)
        if not found:
            raise _model_not_found(name)
        return found[0]

    def list_models(self) -> list[RegisteredModel]:
        """Every registered model, by name."""
        return self._models(None)

    def _models(self, where: Any) -> list[RegisteredModel]:
        latest = (
            select(model_versions.c.name, func.max(model_versions.c.version).label("latest"))
            .group_by(model_versions.c.name)
            .subquery()
        )
        query = (
            select(registered_models, latest.c.latest)
            .outerjoin(latest, latest.c.name == registered_models.c.name)
            .order_by(registered_models.c.name)
        )
        if where is not None:
            query = query.where(where)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
            names = [row.name for row in rows]
            tag_rows = conn.execute(select(model_tags).where(model_tags.c.name.in_(names))).all()
            alias_rows = conn.execute(
                select(model_aliases).where(model_aliases.c.name.in_(names))
            ).all()
        tags_by: dict[str, dict[str, str]] = {n: {} for n in names}
        for tag in tag_rows:
            tags_by[tag.name][tag.key] = tag.value
        aliases_by: dict[str, dict[str, int]] = {n: {} for n in names}
        for alias in sorted(alias_rows, key=lambda r: r.alias):
            aliases_by[alias.name][alias.alias] = alias.version
        return [
            RegisteredModel(
                name=row.name,
                created_at=from_ms(row.created_at),
                updated_at=from_ms(row.updated_at),
                description=row.description,
                latest_version=row.latest,
                tags=tags_by[row.name],
                aliases=aliases_by[row.name],
            )
            for row in rows
        ]

    def update_model(self, name: str, *, description: str) -> RegisteredModel:
        """Change a model's description."""
        with self.db.write() as conn:
            done = conn.execute(
                update(registered_models)
                .where(registered_models.c.name == name)
                .values(description=description, updated_at=now_ms())
            )
            if done.rowcount == 0:
                raise _model_not_found(name)
        return self.get_model(name)

    def set_model_tags(self, name: str, values: Mapping[str, str]) -> None:
        """Set tags on a model, replacing earlier values of the same keys."""
        with self.db.write() as conn:
            self._require_model(conn, name)
            self._upsert(conn, model_tags, {"name": name}, values)

    def delete_model_tag(self, name: str, key: str) -> None:
        """Remove a model tag; a missing key is fine."""
        with self.db.write() as conn:
            self._require_model(conn, name)
            conn.execute(
                delete(model_tags).where(model_tags.c.name == name, model_tags.c.key == key)
            )

    def _require_model(self, conn: Connection, name: str) -> None:
        found = conn.execute(
            select(registered_models.c.name).where(registered_models.c.name == name)
        ).first()
        if found is None:
            raise _model_not_found(name)

    def _upsert(
        self, conn: Connection, table: Any, keys: Mapping[str, Any], values: Mapping[str, str]
    ) -> None:
        if not values:
            return
        stmt = self.db.dialect_insert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=[*(table.c[k] for k in keys), table.c.key],
            set_={"value": stmt.excluded.value},
        )
        conn.execute(stmt, [{**keys, "key": k, "value": v} for k, v in values.items()])

    # -- versions ---------------------------------------------------------------------

    def create_version(self, name: str, new: NewVersion) -> ModelVersion:
        """Record a new version of ``name`` (registering the name on first use).

        The version number is the model's highest plus one, assigned in the same
        transaction as the insert.
        """
        with self.db.write() as conn:
            locked = (
                select(registered_models.c.name)
                .where(registered_models.c.name == name)
                .with_for_update()
            )
            if conn.execute(locked).first() is None:
                try:
                    with conn.begin_nested():
                        self._insert_model(conn, name, "")
                except IntegrityError:  # registered concurrently: lock the winner's row
                    conn.execute(locked).first()
            highest = conn.execute(
                select(func.max(model_versions.c.version)).where(model_versions.c.name == name)
            ).scalar()
            version = int(highest or 0) + 1
            at = now_ms()
            conn.execute(
                insert(model_versions).values(
                    name=name,
                    version=version,
                    flavor=new.flavor,
                    run_id=new.run_id,
                    artifact_prefix=new.artifact_prefix,
                    manifest_sha256=new.manifest_sha256,
                    signature=None if new.signature is None else json.dumps(new.signature),
                    metrics=json.dumps(dict(new.metrics), allow_nan=True),
                    requirements=json.dumps(list(new.requirements)),
                    code_revision=new.code_revision,
                    description=new.description,
                    created_at=at,
                    created_by=new.created_by,
                )
            )
            conn.execute(
                update(registered_models)
                .where(registered_models.c.name == name)
                .values(updated_at=at)
            )
            self._upsert(conn, model_version_tags, {"name": name, "version": version}, new.tags)
            self._link_inputs(conn, name, version, new.inputs)
        return self.get_version(name, version)

    def _link_inputs(
        self, conn: Connection, name: str, version: int, inputs: Iterable[RunInput]
    ) -> None:
        rows = {
            (i.digest, i.context): {
                "name": name,
                "version": version,
                "digest": i.digest,
                "context": i.context,
                "dataset_name": i.name,
            }
            for i in inputs
        }
        if rows:
            conn.execute(insert(model_version_inputs), list(rows.values()))

    def get_version(self, name: str, version: int) -> ModelVersion:
        """One version of a model.

        Raises:
            NotFoundError: the model or the version does not exist.
        """
        found = self._versions(
            (model_versions.c.name == name) & (model_versions.c.version == version)
        )
        if not found:
            with self.db.read() as conn:
                self._require_model(conn, name)
            raise NotFoundError(
                f"model {name!r} has no version {version}; "
                f"`shipyard models versions {name}` lists them"
            )
        return found[0]

    def latest_version(self, name: str) -> ModelVersion:
        """The highest-numbered version of a model."""
        model = self.get_model(name)
        if model.latest_version is None:
            raise NotFoundError(f"model {name!r} has no versions yet")
        return self.get_version(name, model.latest_version)

    def list_versions(self, name: str) -> list[ModelVersion]:
        """Every version of a model, oldest first.

        Raises:
            NotFoundError: no model has that name.
        """
        with self.db.read() as conn:
            self._require_model(conn, name)
        return self._versions(model_versions.c.name == name)

    def versions_of_run(self, run_id: str) -> list[ModelVersion]:
        """The versions registered from a run's artifacts."""
        return self._versions(model_versions.c.run_id == run_id)

    def _versions(self, where: Any) -> list[ModelVersion]:
        query = (
            select(model_versions)
            .where(where)
            .order_by(model_versions.c.name, model_versions.c.version)
        )
        with self.db.read() as conn:
            rows = conn.execute(query).all()
            return self._hydrate_versions(conn, rows)

    def _hydrate_versions(self, conn: Connection, rows: Sequence[Row[Any]]) -> list[ModelVersion]:
        names = sorted({row.name for row in rows})
        keys = {(row.name, row.version) for row in rows}
        # One model's few versions (the usual lookup): read only theirs.
        few = sorted(v for _, v in keys) if len(names) == 1 and len(keys) <= 500 else None

        def only(query: Any, table: Any) -> Any:
            return query if few is None else query.where(table.c.version.in_(few))

        tags: dict[tuple[str, int], dict[str, str]] = {k: {} for k in keys}
        aliases: dict[tuple[str, int], list[str]] = {k: [] for k in keys}
        inputs: dict[tuple[str, int], list[RunInput]] = {k: [] for k in keys}
        if names:
            for tag in conn.execute(
                only(
                    select(model_version_tags).where(model_version_tags.c.name.in_(names)),
                    model_version_tags,
                )
            ):
                if (tag.name, tag.version) in keys:
                    tags[(tag.name, tag.version)][tag.key] = tag.value
            for alias in conn.execute(
                only(
                    select(model_aliases)
                    .where(model_aliases.c.name.in_(names))
                    .order_by(model_aliases.c.alias),
                    model_aliases,
                )
            ):
                if (alias.name, alias.version) in keys:
                    aliases[(alias.name, alias.version)].append(alias.alias)
            for item in conn.execute(
                only(
                    select(model_version_inputs)
                    .where(model_version_inputs.c.name.in_(names))
                    .order_by(model_version_inputs.c.context, model_version_inputs.c.dataset_name),
                    model_version_inputs,
                )
            ):
                if (item.name, item.version) in keys:
                    inputs[(item.name, item.version)].append(
                        RunInput(item.digest, item.dataset_name, item.context)
                    )
        return [
            ModelVersion(
                name=row.name,
                version=row.version,
                flavor=row.flavor,
                created_at=from_ms(row.created_at),
                artifact_prefix=row.artifact_prefix,
                manifest_sha256=row.manifest_sha256,
                run_id=row.run_id,
                signature=None if row.signature is None else json.loads(row.signature),
                metrics=json.loads(row.metrics),
                requirements=tuple(json.loads(row.requirements)),
                code_revision=row.code_revision,
                description=row.description,
                created_by=row.created_by,
                tags=tags[(row.name, row.version)],
                aliases=tuple(aliases[(row.name, row.version)]),
                inputs=tuple(inputs[(row.name, row.version)]),
            )
            for row in rows
        ]

    def update_version(self, name: str, version: int, *, description: str) -> ModelVersion:
        """Change a version's description."""
        with self.db.write() as conn:
            done = conn.execute(
                update(model_versions)
                .where(model_versions.c.name == name, model_versions.c.version == version)
                .values(description=description)
            )
        if done.rowcount == 0:
            self.get_version(name, version)  # raises the precise NotFoundError
        return self.get_version(name, version)

    def set_version_tags(self, name: str, version: int, values: Mapping[str, str]) -> None:
        """Set tags on a version, replacing earlier values of the same keys."""
        self.get_version(name, version)
        with self.db.write() as conn:
            self._upsert(conn, model_version_tags, {"name": name, "version": version}, values)

    # -- aliases ----------------------------------------------------------------------

    def set_alias(self, name: str, alias: str, version: int, by: str = "") -> AliasEvent:
        """Point ``alias`` at ``version``, moving it if it pointed elsewhere; recorded.

        Raises:
            NotFoundError: the model or the version does not exist.
        """
        self.get_version(name, version)
        at = now_ms()
        with self.db.write() as conn:
            self._lock_model(conn, name)
            previous = self._alias_target(conn, name, alias)
            if previous is None:
                conn.execute(
                    insert(model_aliases).values(
                        name=name, alias=alias, version=version, updated_at=at, updated_by=by
                    )
                )
            else:
                conn.execute(
                    update(model_aliases)
                    .where(model_aliases.c.name == name, model_aliases.c.alias == alias)
                    .values(version=version, updated_at=at, updated_by=by)
                )
            return self._record_event(conn, name, alias, version, previous, at, by)

    def delete_alias(self, name: str, alias: str, by: str = "") -> AliasEvent:
        """Remove an alias; recorded.

        Raises:
            NotFoundError: the model has no such alias.
        """
        at = now_ms()
        with self.db.write() as conn:
            self._lock_model(conn, name)
            previous = self._alias_target(conn, name, alias)
            if previous is None:
                raise self._alias_not_found(conn, name, alias)
            conn.execute(
                delete(model_aliases).where(
                    model_aliases.c.name == name, model_aliases.c.alias == alias
                )
            )
            return self._record_event(conn, name, alias, None, previous, at, by)

    def get_alias(self, name: str, alias: str) -> int:
        """The version an alias points at.

        Raises:
            NotFoundError: the model, or the alias, does not exist.
        """
        with self.db.read() as conn:
            version = self._alias_target(conn, name, alias)
            if version is None:
                raise self._alias_not_found(conn, name, alias)
            return version

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasEvent]:
        """Every change to a model's aliases (or to one alias), oldest first."""
        query = select(alias_events).where(alias_events.c.name == name)
        if alias is not None:
            query = query.where(alias_events.c.alias == alias)
        with self.db.read() as conn:
            self._require_model(conn, name)
            rows = conn.execute(query.order_by(alias_events.c.id)).all()
        return [
            AliasEvent(r.name, r.alias, r.version, r.previous_version, from_ms(r.at), r.by)
            for r in rows
        ]

    @staticmethod
    def _lock_model(conn: Connection, name: str) -> None:
        """Serialise alias changes of one model (PostgreSQL; SQLite writers queue anyway).

        Locking the alias row is not enough: a new alias has no row to lock yet.
        """
        locked = conn.execute(
            select(registered_models.c.name)
            .where(registered_models.c.name == name)
            .with_for_update()
        ).first()
        if locked is None:
            raise _model_not_found(name)

    @staticmethod
    def _alias_target(conn: Connection, name: str, alias: str) -> int | None:
        query = select(model_aliases.c.version).where(
            model_aliases.c.name == name, model_aliases.c.alias == alias
        )
        found = conn.execute(query).scalar()
        return None if found is None else int(found)

    def _alias_not_found(self, conn: Connection, name: str, alias: str) -> NotFoundError:
        self._require_model(conn, name)
        known = conn.execute(
            select(model_aliases.c.alias)
            .where(model_aliases.c.name == name)
            .order_by(model_aliases.c.alias)
        ).scalars()
        listed = ", ".join(known) or "none"
        return NotFoundError(f"model {name!r} has no alias {alias!r} (its aliases: {listed})")

    @staticmethod
    def _record_event(
        conn: Connection,
        name: str,
        alias: str,
        version: int | None,
        previous: int | None,
        at: int,
        by: str,
    ) -> AliasEvent:
        conn.execute(
            insert(alias_events).values(
                name=name, alias=alias, version=version, previous_version=previous, at=at, by=by
            )
        )
        conn.execute(
            update(registered_models).where(registered_models.c.name == name).values(updated_at=at)
        )
        return AliasEvent(name, alias, version, previous, from_ms(at), by)

    # -- datasets and lineage -----------------------------------------------------------

    def record_dataset(self, item: Dataset) -> Dataset:
        """Record a dataset snapshot; recording the same name and digest again is a no-op."""
        stmt = self.db.dialect_insert(datasets).on_conflict_do_nothing()
        with self.db.write() as conn:
            conn.execute(
                stmt,
                {
                    "name": item.name,
                    "digest": item.digest,
                    "num_rows": item.num_rows,
                    "num_columns": item.num_columns,
                    "size_bytes": item.size_bytes,
                    "schema": json.dumps(item.schema),
                    "snapshot_sha256": item.snapshot_sha256,
                    "profile_sha256": item.profile_sha256,
                    "description": item.description,
                    "created_at": to_ms(item.created_at),
                    "created_by": item.created_by,
                },
            )
        return self.get_dataset(item.name, item.digest)

    def get_dataset(self, name: str, digest: str | None = None) -> Dataset:
        """A dataset by name: the given digest (a unique prefix is enough), or the newest.

        Raises:
            NotFoundError: nothing matches.
        """
        query = select(datasets).where(datasets.c.name == name)
        if digest is not None:
            query = query.where(datasets.c.digest.startswith(digest, autoescape=True))
        query = query.order_by(datasets.c.created_at.desc()).limit(2 if digest else 1)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        if not rows:
            which = f"{name!r}" if digest is None else f"{name!r} with digest {digest!r}"
            raise NotFoundError(
                f"dataset {which} not found; `shipyard datasets list` shows logged ones"
            )
        if len(rows) > 1:
            raise NotFoundError(f"digest prefix {digest!r} of dataset {name!r} is ambiguous")
        return _dataset(rows[0])

    def find_datasets(self, digest: str) -> list[Dataset]:
        """Every name a snapshot with this digest (or unique digest prefix) was logged under."""
        query = (
            select(datasets)
            .where(datasets.c.digest.startswith(digest, autoescape=True))
            .order_by(datasets.c.created_at, datasets.c.name)
        )
        with self.db.read() as conn:
            return [_dataset(row) for row in conn.execute(query)]

    def list_datasets(self, name: str | None = None) -> list[Dataset]:
        """Every logged dataset snapshot (or those of one name), newest first."""
        query = select(datasets).order_by(datasets.c.created_at.desc(), datasets.c.name)
        if name is not None:
            query = query.where(datasets.c.name == name)
        with self.db.read() as conn:
            return [_dataset(row) for row in conn.execute(query)]

    def versions_using(self, digest: str, context: str | None = None) -> list[ModelVersion]:
        """Versions linked to a dataset: directly, or through the run that made them."""
        direct = select(model_version_inputs.c.name, model_version_inputs.c.version).where(
            model_version_inputs.c.digest == digest
        )
        through_run = (
            select(model_versions.c.name, model_versions.c.version)
            .join(run_inputs, run_inputs.c.run_id == model_versions.c.run_id)
            .where(run_inputs.c.digest == digest)
        )
        if context is not None:
            direct = direct.where(model_version_inputs.c.context == context)
            through_run = through_run.where(run_inputs.c.context == context)
        linked = direct.union(through_run).subquery()
        query = (
            select(model_versions)
            .join(
                linked,
                (linked.c.name == model_versions.c.name)
                & (linked.c.version == model_versions.c.version),
            )
            .order_by(model_versions.c.name, model_versions.c.version)
        )
        with self.db.read() as conn:
            return self._hydrate_versions(conn, conn.execute(query).all())
