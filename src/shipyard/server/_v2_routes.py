"""Open Inference Protocol (KServe v2) routes; a v2 model is a shipyard endpoint.

``tritonclient.http`` and KServe's clients work unchanged: health, server and model
metadata, readiness and inference (JSON or Triton's binary tensor extension). A
request for ``/versions/{v}`` goes to that version when it takes traffic here (primary
or canary); without a version the endpoint's traffic split chooses.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from shipyard._version import __version__
from shipyard.server._handlers import parse_version
from shipyard.server._http import check_token, json_response
from shipyard.server._routes import answer_route
from shipyard.server._runtime import ServingRuntime
from shipyard.server._v2 import v2_model_metadata

__all__ = ["v2_router"]

v2_router = APIRouter(prefix="/v2", tags=["open inference protocol"])


def _runtime(request: Request) -> ServingRuntime:
    runtime: ServingRuntime = request.app.state.runtime
    return runtime


def _check_token(request: Request) -> None:
    # A model's metadata tells its inputs: guarded like its predictions.
    check_token(
        request.headers.get("authorization"),
        request.app.state.settings.predict_token,
        "this model route",
    )


@v2_router.get("", summary="Server metadata")
async def server_metadata() -> Response:
    return json_response(
        {"name": "shipyard", "version": __version__, "extensions": ["binary_tensor_data"]}
    )


@v2_router.get("/health/live", summary="The server is up")
async def live() -> Response:
    return json_response({"live": True})


@v2_router.get("/health/ready", summary="Every endpoint is serving")
async def ready(request: Request) -> Response:
    is_ready = _runtime(request).ready
    return json_response({"ready": is_ready}, 200 if is_ready else 503)


async def _metadata(request: Request, name: str, version: str | None) -> Response:
    _check_token(request)
    route = _runtime(request).route(name)
    wanted = parse_version(version)
    slot = route.primary if wanted is None else route.by_version(wanted)[0]
    versions = [route.primary.version] + ([route.canary.version] if route.canary else [])
    body = v2_model_metadata(name, versions, slot.model.signature, f"shipyard_{slot.model.flavor}")
    return json_response(body)


@v2_router.get("/models/{name}", summary="Model metadata: inputs and outputs")
async def model_metadata(name: str, request: Request) -> Response:
    return await _metadata(request, name, None)


@v2_router.get("/models/{name}/versions/{version}", summary="Metadata of one version")
async def version_metadata(name: str, version: str, request: Request) -> Response:
    return await _metadata(request, name, version)


async def _ready(request: Request, name: str, version: str | None) -> Response:
    _check_token(request)
    runtime = _runtime(request)
    wanted = parse_version(version)
    route = runtime.routes.get(name)
    if route is None and name not in runtime.errors:
        runtime.route(name)  # raises the 404 naming the endpoints
    if route is not None and wanted is not None:
        route.by_version(wanted)  # a version taking no traffic here: 404
    ok = route is not None
    return json_response({"name": name, "ready": ok}, 200 if ok else 503)


@v2_router.get("/models/{name}/ready", summary="The model is loaded and serving")
async def model_ready(name: str, request: Request) -> Response:
    return await _ready(request, name, None)


@v2_router.get("/models/{name}/versions/{version}/ready", summary="One version is serving")
async def version_ready(name: str, version: str, request: Request) -> Response:
    return await _ready(request, name, version)


_INFER_BODY = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["inputs"],
                "properties": {
                    "id": {"type": "string"},
                    "inputs": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["name", "shape", "datatype"],
                            "properties": {
                                "name": {"type": "string"},
                                "shape": {"type": "array", "items": {"type": "integer"}},
                                "datatype": {"type": "string"},
                                "data": {},
                            },
                        },
                    },
                    "outputs": {"type": "array", "items": {"type": "object"}},
                    "parameters": {"type": "object"},
                },
            }
        }
    },
    "required": True,
}


async def _infer(request: Request, name: str, version: str | None) -> Response:
    return await answer_route(request, "v2", name, version)


@v2_router.post(
    "/models/{name}/infer",
    summary="Inference (JSON, or Triton's binary tensor extension)",
    openapi_extra={"requestBody": _INFER_BODY},
)
async def infer(name: str, request: Request) -> Response:
    return await _infer(request, name, None)


@v2_router.post(
    "/models/{name}/versions/{version}/infer",
    summary="Inference on one version",
    openapi_extra={"requestBody": _INFER_BODY},
)
async def infer_version(name: str, version: str, request: Request) -> Response:
    return await _infer(request, name, version)
