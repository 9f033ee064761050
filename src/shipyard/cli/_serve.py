"""``shipyard serve``: the model server for every endpoint in the store, on uvicorn."""

from __future__ import annotations

import os
import shutil
import tempfile

import typer

from shipyard.cli._app import app
from shipyard.cli._output import console
from shipyard.core.errors import InvalidInputError

__all__ = ["serve", "ui"]


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0: every one)."),
    port: int = typer.Option(8000, help="Port to listen on."),
    workers: int = typer.Option(
        1, min=1, help="Worker processes; each loads every endpoint's model."
    ),
    log_predictions: bool = typer.Option(
        True, "--log-predictions/--no-log-predictions", help="Write the prediction log."
    ),
    log_level: str = typer.Option("info", help="uvicorn's log level."),
) -> None:
    """Serve every endpoint in the store over HTTP until Ctrl-C.

    Routes: /v1/endpoints/NAME/predict (native JSON), /v1/endpoints/NAME/invocations
    (MLflow scoring), /v2/models/NAME/infer (Open Inference Protocol), feedback,
    /metrics, /healthz, /readyz, the management API under /api/ and OpenAPI at /docs.
    Endpoints created, canaried or rolled back while it runs are picked up within
    ``serve_poll_seconds``.
    """
    import copy

    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from shipyard.server import LOG_PREDICTIONS_ENV

    if not 0 < port < 65536:
        raise InvalidInputError(f"--port must be between 1 and 65535, got {port}")
    os.environ[LOG_PREDICTIONS_ENV] = "1" if log_predictions else "0"
    # OpenMP pools (scikit-learn, LightGBM, XGBoost) get the cores the event loops leave:
    # a pool as wide as the machine stalls whenever a loop holds one of its cores.
    cores = os.cpu_count() or 1
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (cores - workers) // workers)))
    metrics_dir = None
    if workers > 1:
        # Each worker counts in its own files; /metrics sums them.
        metrics_dir = tempfile.mkdtemp(prefix="shipyard-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    console.print(
        f"shipyard server on http://{host}:{port}  ({workers} worker"
        f"{'s' if workers > 1 else ''}; API docs at /docs)"
    )
    # shipyard's own messages (endpoints loaded, switched, failing) go where uvicorn's go.
    log_config = copy.deepcopy(LOGGING_CONFIG)
    log_config["loggers"]["shipyard"] = {
        "handlers": ["default"],
        "level": log_level.upper(),
        "propagate": False,
    }
    try:
        uvicorn.run(
            "shipyard.server:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            log_config=log_config,
            access_log=False,
            timeout_graceful_shutdown=30,
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


@app.command()
def ui(
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0: every one)."),
    port: int = typer.Option(8000, help="Port to listen on."),
    log_level: str = typer.Option("warning", help="uvicorn's log level."),
) -> None:
    """The web dashboard at http://HOST:PORT/ui, with the model server behind it.

    Runs, models and lineage, endpoints and their traffic, monitoring and the loop's
    decisions; every asset is in the package, so it works offline. Buttons that change
    traffic ask for the admin token when SHIPYARD_ADMIN_TOKEN is set.
    """
    console.print(f"dashboard: [bold]http://{host}:{port}/ui/[/]")
    serve(host=host, port=port, workers=1, log_predictions=True, log_level=log_level)
