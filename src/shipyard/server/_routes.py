"""Prediction routes: the native protocol, MLflow-compatible scoring, and feedback.

The prediction routes are answered by :mod:`shipyard.server._handlers`; declared here,
they also describe themselves in the OpenAPI spec.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.requests import ClientDisconnect

from shipyard.core.errors import InvalidInputError
from shipyard.server._handlers import answer_request
from shipyard.server._http import (
    ClientGone,
    check_token,
    json_response,
    read_capped,
    read_json,
    to_response,
)
from shipyard.server._runtime import ServingRuntime

__all__ = ["answer_route", "predict_router"]

predict_router = APIRouter()

_MAX_FEEDBACK_ITEMS = 100_000


def _runtime(request: Request) -> ServingRuntime:
    runtime: ServingRuntime = request.app.state.runtime
    return runtime


async def answer_route(
    request: Request, protocol: str, endpoint: str, version: str | None = None
) -> Response:
    """A prediction route through the same handler as the ASGI fast path."""
    started = time.perf_counter()
    answer = await answer_request(
        _runtime(request),
        protocol,
        endpoint,
        version,
        request.headers,
        _stream(request),
        started,
    )
    return to_response(answer)


async def _stream(request: Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            yield chunk
    except ClientDisconnect:
        raise ClientGone from None


async def _feedback_body(request: Request) -> bytes:
    """The body of a feedback call, once its token and size are checked."""
    settings = request.app.state.settings
    check_token(
        request.headers.get("authorization"), settings.predict_token, "this prediction route"
    )
    return await read_capped(
        request.stream(), request.headers.get("content-length"), settings.max_body_bytes
    )


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
    return await answer_route(request, "native", name)


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


@predict_router.post(
    "/v1/endpoints/{name}/invocations",
    tags=["predict"],
    summary="Predict with an endpoint (MLflow scoring format)",
    openapi_extra={"requestBody": _MLFLOW_BODY},
)
async def invocations(name: str, request: Request) -> Response:
    """Accepts what ``mlflow models serve`` accepts; answers ``{"predictions": [...]}``."""
    return await answer_route(request, "mlflow", name)


@predict_router.post(
    "/invocations",
    tags=["predict"],
    summary="MLflow scoring on the default endpoint (setting default_endpoint)",
    openapi_extra={"requestBody": _MLFLOW_BODY},
)
async def root_invocations(request: Request) -> Response:
    """The configured default endpoint, or the only one when there is exactly one."""
    return await answer_route(request, "mlflow", "")


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
    payload = read_json(await _feedback_body(request))
    ids, labels = _feedback_items(payload)
    accepted = await _runtime(request).feedback(name, ids, labels)
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
