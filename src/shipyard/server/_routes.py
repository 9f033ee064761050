"""Prediction routes: the native protocol, MLflow-compatible scoring, and feedback."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from shipyard.core.errors import InvalidInputError, ModelError, ShipyardError
from shipyard.core.signature import Signature
from shipyard.server._codec import Parsed
from shipyard.server._http import check_token, json_response, read_body, read_json
from shipyard.server._mlflow import format_mlflow, parse_mlflow
from shipyard.server._native import parse_native
from shipyard.server._runtime import ServingRuntime
from shipyard.server._slots import Job, Outcome, new_prediction_ids

__all__ = ["predict_router", "serve_job", "signature_of", "version_headers"]

predict_router = APIRouter()

_MAX_FEEDBACK_ITEMS = 100_000


def _runtime(request: Request) -> ServingRuntime:
    runtime: ServingRuntime = request.app.state.runtime
    return runtime


async def _body(request: Request) -> bytes:
    settings = request.app.state.settings
    check_token(request, settings.predict_token, "this prediction route")
    return await read_body(request, settings.max_body_bytes)


async def serve_job(
    request: Request,
    endpoint: str,
    parsed: Parsed,
    protocol: str,
    *,
    ids: tuple[str, ...] | None = None,
    routing_key: str | None = None,
    version: int | None = None,
) -> Outcome:
    """Route one parsed request to a version, wait for its answer, count it."""
    runtime = _runtime(request)
    started = request.scope.get("shipyard.started", time.perf_counter())
    job = Job(
        parsed.data,
        parsed.kind,
        parsed.rows,
        list(ids) if ids is not None else new_prediction_ids(parsed.rows),
        time.time(),
        started,
        protocol=protocol,
    )
    metrics = runtime.metrics
    try:
        outcome = await runtime.predict(endpoint, job, routing_key, version)
    except ModelError as exc:
        failed = str(exc.version)
        metrics.model_errors.labels(endpoint, failed).inc()
        metrics.requests.labels(endpoint, failed, job.role, protocol, "500").inc()
        raise
    except ShipyardError as exc:
        metrics.requests.labels(endpoint, "", job.role, protocol, str(exc.status_code)).inc()
        raise
    metrics.requests.labels(endpoint, str(outcome.version), outcome.role, protocol, "200").inc()
    return outcome


def signature_of(request: Request, endpoint: str) -> Signature | None:
    """The signature of the version an endpoint's requests are parsed against."""
    return _runtime(request).route(endpoint).primary.model.signature


def version_headers(outcome: Outcome) -> dict[str, str]:
    """Every answer names the version that gave it."""
    return {"X-Shipyard-Model": outcome.model, "X-Shipyard-Model-Version": str(outcome.version)}


_NATIVE_BODY = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "records": {"type": "array", "items": {"type": "object"}},
                    "columns": {"type": "object", "additionalProperties": {"type": "array"}},
                    "routing_key": {"type": "string"},
                    "ids": {"type": "array", "items": {"type": "string"}},
                },
            },
            "example": {"records": [{"carrier": "UA", "distance": 1400, "hour": 7}]},
        }
    },
    "required": True,
}


@predict_router.post(
    "/v1/endpoints/{name}/predict",
    tags=["predict"],
    summary="Predict with an endpoint (native JSON: records or columns)",
    openapi_extra={"requestBody": _NATIVE_BODY},
)
async def predict(name: str, request: Request) -> Response:
    """``{"records": [...]}`` or ``{"columns": {...}}``; optional ``routing_key``, ``ids``."""
    request.scope["shipyard.started"] = time.perf_counter()
    raw = await _body(request)
    parsed = parse_native(raw, signature_of(request, name))
    outcome = await serve_job(
        request, name, parsed, "native", ids=parsed.ids, routing_key=parsed.routing_key
    )
    body: dict[str, Any] = {"predictions": outcome.predictions.tolist()}
    if outcome.probabilities is not None:
        body["probabilities"] = outcome.probabilities.tolist()
        body["classes"] = outcome.classes
    body["prediction_ids"] = outcome.ids
    body["model"] = {"name": outcome.model, "version": outcome.version, "role": outcome.role}
    return json_response(body, headers=version_headers(outcome))


_MLFLOW_BODY = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "dataframe_split": {"type": "object"},
                    "dataframe_records": {"type": "array", "items": {"type": "object"}},
                    "instances": {"type": "array"},
                    "inputs": {},
                },
            }
        },
        "text/csv": {"schema": {"type": "string"}},
    },
    "required": True,
}


async def _invocations(name: str, request: Request) -> Response:
    request.scope["shipyard.started"] = time.perf_counter()
    body = await _body(request)
    content_type = request.headers.get("content-type", "application/json")
    parsed = parse_mlflow(body, content_type, signature_of(request, name))
    outcome = await serve_job(request, name, parsed, "mlflow")
    return json_response(format_mlflow(outcome.predictions), headers=version_headers(outcome))


@predict_router.post(
    "/v1/endpoints/{name}/invocations",
    tags=["predict"],
    summary="Predict with an endpoint (MLflow scoring format)",
    openapi_extra={"requestBody": _MLFLOW_BODY},
)
async def invocations(name: str, request: Request) -> Response:
    """Accepts what ``mlflow models serve`` accepts; answers ``{"predictions": [...]}``."""
    return await _invocations(name, request)


@predict_router.post(
    "/invocations",
    tags=["predict"],
    summary="MLflow scoring on the default endpoint (setting default_endpoint)",
    openapi_extra={"requestBody": _MLFLOW_BODY},
)
async def root_invocations(request: Request) -> Response:
    """The configured default endpoint, or the only one when there is exactly one."""
    runtime = _runtime(request)
    name = request.app.state.settings.default_endpoint
    if not name:
        served = sorted(runtime.routes)
        if len(served) != 1:
            raise InvalidInputError(
                "POST /invocations needs a default endpoint: set default_endpoint in "
                "shipyard.toml or SHIPYARD_DEFAULT_ENDPOINT, or call "
                f"/v1/endpoints/NAME/invocations (endpoints here: {', '.join(served) or 'none'})"
            )
        name = served[0]
    return await _invocations(name, request)


@predict_router.get("/ping", tags=["health"], summary="MLflow's health check")
async def ping() -> Response:
    return Response(b"\n", media_type="application/json")


_FEEDBACK_BODY = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["items"],
                "properties": {
                    "items": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["prediction_id", "label"],
                            "properties": {"prediction_id": {"type": "string"}, "label": {}},
                        },
                    }
                },
            },
            "example": {"items": [{"prediction_id": "5f0c...", "label": 1}]},
        }
    },
    "required": True,
}


@predict_router.post(
    "/v1/endpoints/{name}/feedback",
    tags=["predict"],
    summary="Send ground-truth labels for earlier predictions",
    openapi_extra={"requestBody": _FEEDBACK_BODY},
)
async def feedback(name: str, request: Request) -> Response:
    """``{"items": [{"prediction_id": ..., "label": ...}]}``; answers how many were taken."""
    payload = read_json(await _body(request))
    ids, labels = _feedback_items(payload)
    accepted = _runtime(request).feedback(name, ids, labels)
    return json_response({"accepted": accepted})


def _feedback_items(payload: Any) -> tuple[list[str], list[Any]]:
    items = payload.get("items") if isinstance(payload, dict) else None
    if not isinstance(items, list) or not items:
        raise InvalidInputError(
            'feedback must be {"items": [{"prediction_id": "...", "label": ...}, ...]} '
            f"with at least one item; got {type(payload).__name__}"
        )
    if len(items) > _MAX_FEEDBACK_ITEMS:
        raise InvalidInputError(
            f"{len(items)} feedback items in one request; send at most {_MAX_FEEDBACK_ITEMS}"
        )
    ids: list[str] = []
    labels: list[Any] = []
    problems: list[dict[str, object]] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append({"row": index, "message": "expected an object"})
            continue
        pid, label = item.get("prediction_id"), item.get("label")
        if not isinstance(pid, str) or not pid:
            problems.append({"row": index, "message": "prediction_id must be a non-empty string"})
            continue
        if label is None or isinstance(label, dict | list):
            problems.append({"row": index, "message": "label must be a number, string or bool"})
            continue
        ids.append(pid)
        labels.append(label)
    if problems:
        raise InvalidInputError(
            f"{len(problems)} bad feedback item(s); first: item {problems[0]['row']}: "
            f"{problems[0]['message']}",
            details=problems,
        )
    return ids, labels
