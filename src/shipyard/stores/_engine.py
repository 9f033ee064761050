"""Database engines for the metadata store: SQLite (embedded) and PostgreSQL.

SQLite is made safe for several writing processes: WAL journal, a busy timeout,
and ``BEGIN IMMEDIATE`` for write transactions, so two writers queue on the
lock instead of one failing with "database is locked" when it upgrades a read
lock mid-transaction.
"""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DataError, OperationalError
from sqlalchemy.pool import QueuePool, StaticPool

from shipyard.core.errors import ConfigError, InvalidInputError, SchemaOutdatedError, StoreError
from shipyard.stores._schema import HEAD_REVISION

__all__ = ["Database", "normalize_url"]

# A forked child must not use its parent's pooled connections (two processes on one
# socket or SQLite handle): it drops them without closing them and opens its own.
_live: weakref.WeakSet[Database] = weakref.WeakSet()


def _forget_connections_after_fork() -> None:
    for database in list(_live):
        if database._engine is not None:
            database._engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_connections_after_fork)

_WRITE = "shipyard_write"
_MIGRATION_LOCK = 0x5348_4950  # any constant, shared by every shipyard process


def normalize_url(url: str) -> URL:
    """Parse a database URL, choosing psycopg 3 for plain ``postgresql://`` URLs.

    Raises:
        ConfigError: the URL does not parse or names an unsupported database.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            f"metadata URL {url!r} does not parse; expected e.g. sqlite:///path/shipyard.db "
            "or postgresql://user@host/db"
        ) from exc
    # ``postgres://`` (what Heroku and many hosts hand out) is not a name SQLAlchemy knows.
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"metadata URL {parsed.render_as_string(hide_password=True)!r} names {backend!r}; "
            "shipyard supports sqlite and postgresql"
        )
    return parsed


def _enable_wal(cursor: Any, timeout_s: float) -> None:
    """Switch the database to WAL, waiting for other connections doing the same.

    A new database is switched with a read-then-write transaction, so when two
    processes open it at once the loser gets "database is locked" at once, without
    SQLite consulting the busy timeout; it retries until the timeout instead.
    """
    import sqlite3  # only SQLite connections get here

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


class Database:
    """A lazily created SQLAlchemy engine plus schema checks. No I/O until first use."""

    def __init__(self, url: str, *, busy_timeout_s: float = 60.0, auto_create: bool = True) -> None:
        self.url = normalize_url(url)
        self.busy_timeout_s = busy_timeout_s
        self.auto_create = auto_create
        self._engine: Engine | None = None
        self._checked = False

    @property
    def is_sqlite(self) -> bool:
        """True for the embedded backend."""
        return self.url.get_backend_name() == "sqlite"

    @property
    def display_url(self) -> str:
        """The URL with any password hidden, for messages."""
        return self.url.render_as_string(hide_password=True)

    @property
    def engine(self) -> Engine:
        """The engine, created on first access (this is the first I/O)."""
        if self._engine is None:
            self._engine = self._create_engine()
            _live.add(self)
        return self._engine

    def _create_engine(self) -> Engine:
        if not self.is_sqlite:
            return create_engine(self.url, pool_pre_ping=True, pool_size=5, max_overflow=5)
        database = self.url.database
        in_memory = database in (None, "", ":memory:")
        if database and not in_memory:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        # A file database is pooled: closing the last connection to a WAL database
        # checkpoints and syncs it, which would cost milliseconds on every transaction.
        # An in-memory database lives only as long as its connection, so it keeps one.
        pooling: dict[str, Any] = (
            {"poolclass": StaticPool}
            if in_memory
            else {"poolclass": QueuePool, "pool_size": 5, "max_overflow": 10}
        )
        engine = create_engine(
            self.url,
            connect_args={"timeout": self.busy_timeout_s, "check_same_thread": False},
            **pooling,
        )
        busy_ms = int(self.busy_timeout_s * 1000)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
            cursor = dbapi_conn.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            _enable_wal(cursor, self.busy_timeout_s)
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
            # LIKE is case-sensitive on PostgreSQL; make SQLite agree (ILIKE stays insensitive).
            cursor.execute("PRAGMA case_sensitive_like = ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            write = conn.get_execution_options().get(_WRITE, False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    def dialect_insert(self, table: Any) -> Any:
        """INSERT with ON CONFLICT support; the dialect module is imported only when used."""
        if self.is_sqlite:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            return sqlite_insert(table)
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection in a read transaction."""
        self.ensure_schema()
        with self._wrap_errors(), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A connection in a write transaction that commits on success."""
        self.ensure_schema()
        with (
            self._wrap_errors(),
            self.engine.connect().execution_options(**{_WRITE: True}) as conn,
            conn.begin(),
        ):
            yield conn

    @contextmanager
    def _wrap_errors(self) -> Iterator[None]:
        try:
            yield
        except DataError as exc:  # e.g. a value wider than its column on PostgreSQL
            raise InvalidInputError(
                f"metadata store {self.display_url} refused a value: {exc.orig or exc}"
            ) from exc
        except OperationalError as exc:
            raise StoreError(
                f"metadata store {self.display_url} failed: {exc.orig or exc}"
            ) from exc

    # -- schema -----------------------------------------------------------------

    def current_revision(self) -> str | None:
        """The schema revision recorded in the database, or None for an empty one."""
        with self._wrap_errors(), self.engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
            return None if row is None else str(row[0])

    def ensure_schema(self) -> None:
        """Check once that the schema matches the code, creating it in an empty database.

        Raises:
            SchemaOutdatedError: the database holds an older (or newer) schema.
        """
        if self._checked:
            return
        current = self.current_revision()
        if current is None and self.auto_create:
            self.upgrade()
        elif current != HEAD_REVISION:
            found = "no shipyard schema" if current is None else f"schema revision {current}"
            raise SchemaOutdatedError(
                f"metadata store {self.display_url} has {found}, this shipyard needs "
                f"{HEAD_REVISION}: run `shipyard db upgrade` (back up the database first)"
            )
        self._checked = True

    def upgrade(self, revision: str = "head") -> str | None:
        """Apply migrations up to ``revision`` and return the resulting revision."""
        from alembic import command
        from alembic.config import Config
        from alembic.util import CommandError

        config = Config()
        config.set_main_option(
            "script_location", str(resources.files("shipyard.stores") / "migrations")
        )
        with (
            self._wrap_errors(),
            self.engine.connect().execution_options(**{_WRITE: True}) as conn,
            conn.begin(),
        ):
            # Two processes opening an empty store at once: the second waits for the
            # first's lock, then Alembic reads the new version and has nothing to do.
            if not self.is_sqlite:
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            config.attributes["connection"] = conn
            try:
                command.upgrade(config, revision)
            except CommandError as exc:
                # Typically a revision this version has never heard of: a newer shipyard's.
                raise StoreError(
                    f"cannot upgrade metadata store {self.display_url} to {revision}: {exc}; "
                    "a database written by a newer shipyard needs that version"
                ) from exc
        self._checked = False
        return self.current_revision()

    def dispose(self) -> None:
        """Close pooled connections."""
        if self._engine is not None:
            self._engine.dispose()
