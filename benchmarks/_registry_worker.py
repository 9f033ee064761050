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

import json
import os
import pickle
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

# Set before MLflow is imported (lazily, below), so no telemetry call lands in a timing.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def task_info() -> dict[str, Any]:
    """Versions of the peer side."""
    import mlflow

    info = {"python": platform.python_version(), "mlflow": mlflow.__version__}
    for dist in ("scikit-learn", "pandas", "numpy", "sqlalchemy", "cloudpickle", "skops"):
        try:
            info[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            info[dist] = "not installed"
    return info


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
    home.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{(home / 'mlflow.db').as_posix()}"
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


def main(argv: list[str]) -> int:
    """Run one task given as a JSON object in ``argv[1]``; print the result as JSON."""
    config: dict[str, Any] = json.loads(argv[1])
    out = sys.stdout
    sys.stdout = sys.stderr  # keep stdout clean for the one JSON result
    task = config["task"]
    if task == "info":
        result = task_info()
    elif task == "register":
        result = task_register(config)
    else:
        raise SystemExit(f"unknown task {task!r}")
    out.write(json.dumps(result) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
