"""Storage: the metadata database (SQLAlchemy) and the artifact store (fsspec)."""

from shipyard.stores._artifacts import ArtifactStore, validate_artifact_path
from shipyard.stores._endpoints import (
    AliasMove,
    EndpointChange,
    EndpointState,
    NewEndpoint,
    SqlEndpointStore,
)
from shipyard.stores._engine import Database, normalize_url
from shipyard.stores._loop import NewDecision, SqlLoopStore
from shipyard.stores._metadata import MetadataStore, MetricPoint, SqlMetadataStore
from shipyard.stores._monitor import NewAlert, SqlMonitorStore
from shipyard.stores._registry import NewVersion, SqlRegistryStore
from shipyard.stores._schema import HEAD_REVISION
from shipyard.stores._store import Store

__all__ = [
    "HEAD_REVISION",
    "AliasMove",
    "ArtifactStore",
    "Database",
    "EndpointChange",
    "EndpointState",
    "MetadataStore",
    "MetricPoint",
    "NewAlert",
    "NewDecision",
    "NewEndpoint",
    "NewVersion",
    "SqlEndpointStore",
    "SqlLoopStore",
    "SqlMetadataStore",
    "SqlMonitorStore",
    "SqlRegistryStore",
    "Store",
    "normalize_url",
    "validate_artifact_path",
]
