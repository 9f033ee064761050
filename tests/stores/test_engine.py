"""The metadata database: URLs, lazy engines, schema creation, revision checks, migrations."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

import shipyard
from shipyard.stores import HEAD_REVISION, Database, normalize_url
from shipyard.stores._schema import metadata

OpenStore = Callable[..., shipyard.Store]


@pytest.fixture
def open_store(tmp_path: Path) -> Iterator[OpenStore]:
    """Open stores on a given metadata URL (artifacts under tmp_path); closed at teardown."""
    opened: list[shipyard.Store] = []

    def open_(url: str, **settings: Any) -> shipyard.Store:
        store = shipyard.Store.from_settings(
            shipyard.Settings(
                project_dir=tmp_path,
                metadata_url=url,
                artifact_url=str(tmp_path / "artifacts"),
                **settings,
            )
        )
        opened.append(store)
        return store

    yield open_
    for store in opened:
        store.close()


def _set_revision(store: shipyard.Store, revision: str) -> None:
    with store.metadata.db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :rev"), {"rev": revision})


# -- URLs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param(
            "postgresql://u@db.example:5432/ml",
            "postgresql+psycopg://u@db.example:5432/ml",
            id="postgresql-gets-psycopg",
        ),
        pytest.param(
            "postgres://u@db.example/ml",
            "postgresql+psycopg://u@db.example/ml",
            id="postgres-alias",
        ),
        pytest.param(
            "postgresql+psycopg://u@db.example/ml",
            "postgresql+psycopg://u@db.example/ml",
            id="explicit-driver-kept",
        ),
        pytest.param("sqlite:///rel/shipyard.db", "sqlite:///rel/shipyard.db", id="sqlite-file"),
        pytest.param("sqlite://", "sqlite://", id="sqlite-memory"),
    ],
)
def test_normalize_url(url: str, expected: str) -> None:
    assert normalize_url(url).render_as_string(hide_password=False) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        pytest.param(
            "mysql://u@db.example/ml",
            r"names 'mysql'; shipyard supports sqlite and postgresql",
            id="mysql",
        ),
        pytest.param(
            "mssql+pyodbc://u@db.example/ml",
            r"names 'mssql'; shipyard supports sqlite and postgresql",
            id="mssql",
        ),
        pytest.param("not a url", r"does not parse; expected e\.g\. sqlite:///", id="garbage"),
    ],
)
def test_normalize_url_refuses(url: str, message: str) -> None:
    with pytest.raises(shipyard.ConfigError, match=message):
        normalize_url(url)


def test_refused_url_hides_the_password() -> None:
    with pytest.raises(shipyard.ConfigError, match=r"\*\*\*") as caught:
        normalize_url("mysql://admin:s3cret@db.example/ml")
    assert "s3cret" not in str(caught.value)


def test_unreachable_postgresql_is_a_store_error(tmp_path: Path, open_store: OpenStore) -> None:
    # Port 1 on the loopback interface refuses at once: nothing listens there.
    store = open_store("postgresql://shipyard:s3cret@127.0.0.1:1/shipyard")
    with pytest.raises(
        shipyard.StoreError,
        match=r"metadata store postgresql\+psycopg://shipyard:\*\*\*@127\.0\.0\.1:1/shipyard "
        r"failed: .*Connection refused",
    ) as caught:
        store.metadata.list_experiments()
    assert "s3cret" not in str(caught.value)
    assert caught.value.status_code == 503


# -- construction does no I/O --------------------------------------------------------


def test_building_a_store_touches_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = shipyard.Store.from_settings(shipyard.Settings(home=home, project_dir=tmp_path))
    try:
        assert not home.exists()
        assert store.metadata.db._engine is None
        store.metadata.list_experiments()
        assert (home / "shipyard.db").is_file()
    finally:
        store.close()


def test_building_a_postgresql_store_connects_to_nothing(open_store: OpenStore) -> None:
    # Nothing listens on port 1: any connection attempt would fail.
    store = open_store("postgresql://u@127.0.0.1:1/ml")
    assert store.metadata.db.is_sqlite is False
    assert store.metadata.db._engine is None


def test_in_memory_sqlite_keeps_its_data(tmp_path: Path) -> None:
    db = Database("sqlite://")
    store = shipyard.Store(
        metadata=shipyard.stores.SqlMetadataStore(db),
        artifacts=shipyard.stores.ArtifactStore(str(tmp_path / "artifacts")),
        settings=shipyard.Settings(project_dir=tmp_path),
    )
    try:
        experiment = store.metadata.create_experiment("in-memory")
        assert store.metadata.get_experiment("in-memory") == experiment
    finally:
        store.close()


def test_sqlite_connections_use_wal_and_foreign_keys(tmp_path: Path) -> None:
    store = shipyard.Store.from_settings(shipyard.Settings(home=tmp_path, project_dir=tmp_path))
    try:
        with store.metadata.db.read() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 60_000
    finally:
        store.close()


# -- schema creation and revision checks ------------------------------------------------


def test_empty_database_gets_the_schema_on_first_use(
    make_empty_url: Callable[[], str], open_store: OpenStore
) -> None:
    store = open_store(make_empty_url())
    assert store.metadata.db.current_revision() is None
    assert store.metadata.list_experiments() == []
    assert store.metadata.db.current_revision() == HEAD_REVISION


def test_empty_database_without_auto_create_asks_for_an_upgrade(
    make_empty_url: Callable[[], str], open_store: OpenStore
) -> None:
    store = open_store(make_empty_url(), auto_create=False)
    with pytest.raises(
        shipyard.SchemaOutdatedError,
        match=rf"has no shipyard schema, this shipyard needs {HEAD_REVISION}: "
        r"run `shipyard db upgrade`",
    ):
        store.metadata.list_experiments()
    assert store.metadata.db.current_revision() is None


@pytest.mark.parametrize("revision", ["0000", "9999"], ids=["older", "unknown-newer"])
def test_database_at_another_revision_is_refused(
    revision: str, make_empty_url: Callable[[], str], open_store: OpenStore
) -> None:
    url = make_empty_url()
    first = open_store(url)
    assert first.upgrade() == HEAD_REVISION
    _set_revision(first, revision)

    store = open_store(url)  # a new process, in effect: the check runs again
    with pytest.raises(
        shipyard.SchemaOutdatedError,
        match=rf"has schema revision {revision}, this shipyard needs {HEAD_REVISION}: "
        r"run `shipyard db upgrade` \(back up the database first\)",
    ):
        store.metadata.get_or_create_experiment("e")
    # Nothing was written past the check.
    assert store.metadata.db.current_revision() == revision


def test_schema_error_is_a_store_error(
    make_empty_url: Callable[[], str], open_store: OpenStore
) -> None:
    store = open_store(make_empty_url(), auto_create=False)
    with pytest.raises(shipyard.StoreError) as caught:
        store.metadata.count_runs()
    assert caught.value.status_code == 503


def test_upgrade_creates_the_schema_and_is_idempotent(
    make_empty_url: Callable[[], str], open_store: OpenStore
) -> None:
    store = open_store(make_empty_url(), auto_create=False)
    assert store.upgrade() == HEAD_REVISION
    experiment = store.metadata.create_experiment("after-upgrade")
    assert store.upgrade() == HEAD_REVISION
    assert store.metadata.list_experiments() == [experiment]


def test_upgrade_from_an_unknown_revision_is_a_store_error(
    make_empty_url: Callable[[], str], open_store: OpenStore
) -> None:
    store = open_store(make_empty_url())
    store.upgrade()
    _set_revision(store, "9999")
    with pytest.raises(
        shipyard.StoreError, match=r"cannot upgrade metadata store .* to head: .*'9999'"
    ):
        store.upgrade()


def test_head_revision_is_the_newest_migration() -> None:
    scripts = ScriptDirectory(str(resources.files("shipyard.stores") / "migrations"))
    assert scripts.get_heads() == [HEAD_REVISION]


def test_migrations_build_the_declared_schema(
    make_empty_url: Callable[[], str], open_store: OpenStore
) -> None:
    store = open_store(make_empty_url(), auto_create=False)
    store.upgrade()
    with store.metadata.db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == []
