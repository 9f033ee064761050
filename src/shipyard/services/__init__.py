"""Services: what shipyard does, built on the stores. Return domain dataclasses."""

from shipyard.services._context import get_default_store, set_default_store
from shipyard.services.tracking import (
    ActiveRun,
    download_artifact,
    get_metric_history,
    get_run,
    list_artifacts,
    list_experiments,
    read_artifact,
    runs_to_frame,
    search_runs,
    start_run,
)

__all__ = [
    "ActiveRun",
    "download_artifact",
    "get_default_store",
    "get_metric_history",
    "get_run",
    "list_artifacts",
    "list_experiments",
    "read_artifact",
    "runs_to_frame",
    "search_runs",
    "set_default_store",
    "start_run",
]
