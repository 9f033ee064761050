"""Core: errors, settings, domain objects, ids and the search language. No I/O."""

from shipyard.core.entities import (
    AliasEvent,
    ArtifactInfo,
    Dataset,
    Experiment,
    Metric,
    ModelVersion,
    RegisteredModel,
    Run,
    RunInput,
    RunStatus,
)
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
from shipyard.core.signature import SchemaValidationError

__all__ = [
    "AliasEvent",
    "AlreadyExistsError",
    "ArtifactInfo",
    "ArtifactNotFoundError",
    "ConfigError",
    "ConflictError",
    "CorruptedArtifactError",
    "Dataset",
    "Experiment",
    "InvalidFilterError",
    "InvalidInputError",
    "Metric",
    "ModelVersion",
    "NotFoundError",
    "ParamConflictError",
    "RegisteredModel",
    "Run",
    "RunInput",
    "RunStatus",
    "SchemaOutdatedError",
    "SchemaValidationError",
    "Settings",
    "ShipyardError",
    "StoreError",
]
