"""MLflow half of ``benchmarks/registry.py``'s setup; runs in the peer's virtual environment.

Not meant to be run by hand: ``registry.py`` starts it with the MLflow interpreter as::

    python _registry_worker.py '{"task": "register", "home": "...", "model": "...", ...}'

Tasks:

- ``info``: versions of the peer side.
- ``register``: unpickle the fitted scikit-learn pipeline that ``registry.py`` trained
  (the same object shipyard registers), log it with ``mlflow.sklearn.log_model`` in a
  fresh SQLite backend (``sqlite:///<home>/mlflow.db``, artifacts under
  ``<home>/artifacts``) and register it as version 1 of the given name. The time of the
  logging and registration is reported for information only; the cold loads that are
  compared run in separate ``python -c`` processes started by ``registry.py``.

The result is one JSON object on stdout; everything MLflow itself prints goes to stderr.
"""

from __future__ import annotations

import pickle
import platform
import sys
import time
from pathlib import Path
from typing import Any

# Run as a file, this script's folder is first on sys.path, so the shared module imports
# (it uses nothing outside the standard library: this interpreter has no shipyard).
from _common import Task, quiet_telemetry, sqlite_uri, versions, worker_main

# Set before MLflow is imported (lazily, below), so no telemetry call lands in a timing.
quiet_telemetry()


def task_info() -> dict[str, Any]:
    """Versions of the peer side."""
    import mlflow

    dists = ("scikit-learn", "pandas", "numpy", "sqlalchemy", "cloudpickle", "skops")
    return {"python": platform.python_version(), "mlflow": mlflow.__version__, **versions(dists)}


def _untrusted_types(model: Any) -> list[str]:
    """The types skops would refuse in this model (all of them scikit-learn's own)."""
    import skops.io

    return sorted(skops.io.get_untrusted_types(data=skops.io.dumps(model)))


def task_register(config: dict[str, Any]) -> dict[str, Any]:
    """Log the pickled pipeline with ``mlflow.sklearn`` and register it as version 1."""
    import mlflow
    import mlflow.sklearn
    import pandas as pd
    from mlflow import MlflowClient

    home = Path(config["home"])
    uri = sqlite_uri(home)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment_id = client.create_experiment(
        "registry-bench", artifact_location=(home / "artifacts").as_uri()
    )
    model = pickle.loads(Path(config["model"]).read_bytes())
    example = pd.DataFrame.from_records(config["example"])
    fmt = config["format"]
    kwargs: dict[str, Any] = {"serialization_format": fmt}
    trusted: list[str] = []
    if fmt == "skops":
        trusted = _untrusted_types(model)
        kwargs["skops_trusted_types"] = trusted
    start = time.perf_counter()
    with mlflow.start_run(experiment_id=experiment_id):
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            input_example=example,
            registered_model_name=config["name"],
            **kwargs,
        )
    seconds = time.perf_counter() - start
    version = client.get_model_version(config["name"], "1")
    return {
        "seconds": seconds,
        "model_uri": info.model_uri,
        "registered_version": int(version.version),
        "tracking_uri": uri,
        "serialization_format": fmt,
        "skops_trusted_types": trusted,
    }


TASKS: dict[str, Task] = {
    "info": lambda config: task_info(),
    "register": task_register,
}


def main(argv: list[str]) -> int:
    """Run one task given as a JSON object in ``argv[1]``; print the result as JSON."""
    return worker_main(argv, TASKS)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
