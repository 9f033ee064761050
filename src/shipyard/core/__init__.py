"""Core: errors, settings, domain objects, ids and the search language. No I/O."""

from shipyard.core.entities import ArtifactInfo, Experiment, Metric, Run, RunInput, RunStatus
from shipyard.core.errors import (
    AlreadyExistsError,
    ArtifactNotFoundError,
    ConfigError,
    ConflictError,
    CorruptedArtifactError,
    InvalidFilterError,
    InvalidInputError,
    NotFoundError,
    ParamConflictError,
    SchemaOutdatedError,
    ShipyardError,
    StoreError,
)
from shipyard.core.settings import Settings

__all__ = [
    "AlreadyExistsError",
    "ArtifactInfo",
    "ArtifactNotFoundError",
    "ConfigError",
    "ConflictError",
    "CorruptedArtifactError",
    "Experiment",
    "InvalidFilterError",
    "InvalidInputError",
    "Metric",
    "NotFoundError",
    "ParamConflictError",
    "Run",
    "RunInput",
    "RunStatus",
    "SchemaOutdatedError",
    "Settings",
    "ShipyardError",
    "StoreError",
]
