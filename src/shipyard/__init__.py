"""shipyard: take a model from a notebook to production and keep it healthy there.

Example:
    >>> import shipyard
    >>> with shipyard.start_run("flights", params={"model": "gbm"}) as run:  # doctest: +SKIP
    ...     run.log_metric("auc", 0.87)
    >>> shipyard.search_runs("flights", filter="metrics.auc > 0.8")  # doctest: +SKIP
"""

from shipyard._version import __version__
from shipyard.core import (
    AlreadyExistsError,
    ArtifactInfo,
    ArtifactNotFoundError,
    ConfigError,
    ConflictError,
    CorruptedArtifactError,
    Experiment,
    InvalidFilterError,
    InvalidInputError,
    Metric,
    NotFoundError,
    ParamConflictError,
    Run,
    RunInput,
    RunStatus,
    SchemaOutdatedError,
    Settings,
    ShipyardError,
    StoreError,
)
from shipyard.services import (
    ActiveRun,
    download_artifact,
    get_default_store,
    get_metric_history,
    get_run,
    list_artifacts,
    list_experiments,
    read_artifact,
    search_runs,
    set_default_store,
    start_run,
)
from shipyard.stores import Store

__all__ = [
    "ActiveRun",
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
    "Store",
    "StoreError",
    "__version__",
    "download_artifact",
    "get_default_store",
    "get_metric_history",
    "get_run",
    "list_artifacts",
    "list_experiments",
    "read_artifact",
    "search_runs",
    "set_default_store",
    "start_run",
]
