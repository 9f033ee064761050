"""A store: one metadata database plus one artifact root, named by two URLs."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from shipyard.core.settings import Settings
from shipyard.stores._artifacts import ArtifactStore
from shipyard.stores._endpoints import SqlEndpointStore
from shipyard.stores._engine import Database
from shipyard.stores._loop import SqlLoopStore
from shipyard.stores._metadata import SqlMetadataStore
from shipyard.stores._monitor import SqlMonitorStore
from shipyard.stores._registry import SqlRegistryStore

__all__ = ["Store"]


@dataclass
class Store:
    """Where shipyard keeps everything. Building one does no I/O.

    Example:
        >>> store = Store.from_urls("sqlite:////tmp/sy/shipyard.db", "/tmp/sy/artifacts")
        >>> store.metadata.db.is_sqlite
        True
    """

    metadata: SqlMetadataStore
    artifacts: ArtifactStore
    settings: Settings

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Store:
        """The store the settings name (default: read from the environment and shipyard.toml)."""
        settings = settings if settings is not None else Settings.load()
        database = Database(
            settings.resolved_metadata_url(),
            busy_timeout_s=settings.sqlite_busy_timeout_s,
            auto_create=settings.auto_create,
        )
        return cls(
            metadata=SqlMetadataStore(database),
            artifacts=ArtifactStore(settings.resolved_artifact_url()),
            settings=settings,
        )

    @classmethod
    def from_urls(
        cls, metadata_url: str, artifact_url: str, settings: Settings | None = None
    ) -> Store:
        """A store from explicit URLs; other settings come from ``settings`` or defaults."""
        base = settings if settings is not None else Settings()
        return cls.from_settings(
            base.model_copy(update={"metadata_url": metadata_url, "artifact_url": artifact_url})
        )

    @cached_property
    def registry(self) -> SqlRegistryStore:
        """Models, versions, aliases and datasets, in the same database as the runs."""
        return SqlRegistryStore(self.metadata.db)

    @cached_property
    def endpoints(self) -> SqlEndpointStore:
        """Serving endpoints and their change history, in the same database."""
        return SqlEndpointStore(self.metadata.db)

    @cached_property
    def monitor(self) -> SqlMonitorStore:
        """Monitoring results per window and alerts, in the same database."""
        return SqlMonitorStore(self.metadata.db)

    @cached_property
    def loop(self) -> SqlLoopStore:
        """The closed loop's state per endpoint and its decisions, in the same database."""
        return SqlLoopStore(self.metadata.db)

    def upgrade(self) -> str | None:
        """Create or migrate the metadata schema to this version's; returns the revision."""
        return self.metadata.db.upgrade()

    def close(self) -> None:
        """Release database connections."""
        self.metadata.db.dispose()
