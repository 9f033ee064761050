"""The ASGI app: prediction protocols, feedback, health, metrics and the management API."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from shipyard._version import __version__
from shipyard.core.settings import Settings
from shipyard.server._admin import admin_router
from shipyard.server._fast import FastPredictions
from shipyard.server._http import install_error_handlers, json_response
from shipyard.server._metrics import CONTENT_TYPE_LATEST, ServerMetrics, metrics_payload
from shipyard.server._routes import predict_router
from shipyard.server._runtime import ServingRuntime
from shipyard.server._ui import ui_router
from shipyard.server._ui_decisions import router as ui_decisions
from shipyard.server._ui_endpoints import router as ui_endpoints
from shipyard.server._ui_models import router as ui_models
from shipyard.server._ui_monitoring import router as ui_monitoring
from shipyard.server._ui_overview import router as ui_overview
from shipyard.server._ui_runs import router as ui_runs
from shipyard.server._v2_routes import v2_router
from shipyard.stores import Store

__all__ = ["LOG_PREDICTIONS_ENV", "app_from_env", "create_app"]

#: Set to ``0`` to serve without writing the prediction log (benchmarks, debugging).
LOG_PREDICTIONS_ENV = "SHIPYARD_PREDICTION_LOG"


def create_app(
    store: Store | None = None,
    *,
    log_predictions: bool | None = None,
    clock: Callable[[], float] | None = None,
) -> FastAPI:
    """The server for every endpoint in ``store``.

    Endpoints are loaded when the app starts (its lifespan) and followed while it runs;
    the prediction log is flushed when it stops.

    Args:
        store: where endpoints and models live (default: from the settings).
        log_predictions: write the prediction log (default: on, unless the environment
            variable ``SHIPYARD_PREDICTION_LOG`` is ``0``).
        clock: what stamps each logged prediction, in seconds since the epoch (default:
            ``time.time``); a replay of past traffic passes its own.

    Example:
        >>> import uvicorn  # doctest: +SKIP
        >>> uvicorn.run(create_app(), port=8000)  # doctest: +SKIP
    """
    store = store if store is not None else Store.from_settings()
    if log_predictions is None:
        log_predictions = os.environ.get(LOG_PREDICTIONS_ENV, "1") != "0"
    metrics = ServerMetrics()
    runtime = ServingRuntime(store, metrics, log_predictions=log_predictions, clock=clock)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title="shipyard model server",
        version=__version__,
        summary="Predictions from registered models: native JSON, MLflow scoring and the "
        "Open Inference Protocol (KServe v2), with canary, shadow and rollback.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.settings = store.settings
    app.state.metrics = metrics
    install_error_handlers(app)
    # The prediction routes' hot path; everything else goes through FastAPI.
    app.add_middleware(FastPredictions, runtime=runtime)
    app.include_router(predict_router)
    app.include_router(v2_router)
    app.include_router(admin_router)
    # The dashboard: pages under /ui drawn from the same services.
    for router in (ui_router, ui_overview, ui_runs, ui_models, ui_endpoints, ui_monitoring):
        app.include_router(router)
    app.include_router(ui_decisions)

    @app.get("/healthz", tags=["health"], summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="Every endpoint is loaded and serving")
    async def readyz() -> Response:
        return _readiness(runtime)

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics")
    async def prometheus(_request: Request) -> Response:
        return Response(metrics_payload(metrics), media_type=CONTENT_TYPE_LATEST)

    return app


def _readiness(runtime: ServingRuntime) -> Response:
    body: dict[str, Any] = {
        "ready": runtime.ready,
        "endpoints": {
            name: {
                "model": route.primary.model_name,
                "version": route.primary.version,
            }
            for name, route in sorted(runtime.routes.items())
        },
    }
    if runtime.errors:
        body["errors"] = dict(runtime.errors)
    return json_response(body, 200 if runtime.ready else 503)


def app_from_env() -> FastAPI:
    """The app for ``uvicorn --factory``: settings from the environment and shipyard.toml."""
    return create_app(Store.from_settings(Settings.load()))
