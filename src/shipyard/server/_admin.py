"""The management API under ``/api/``: create endpoints, move their traffic, answer the loop.

When the ``admin_token`` setting (``SHIPYARD_ADMIN_TOKEN``) is set, every route here
needs ``Authorization: Bearer <token>``; without it the answer is 401 and nothing
changes. A change is written to the store (so every worker and replica follows it) and
applied by this process before the answer is sent.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shipyard import services
from shipyard.core.entities import Decision, Endpoint
from shipyard.core.errors import InvalidInputError
from shipyard.server._http import check_token, json_response
from shipyard.server._runtime import ServingRuntime

__all__ = ["admin_router"]


def _require_admin(request: Request) -> None:
    check_token(
        request.headers.get("authorization"),
        request.app.state.settings.admin_token,
        "the management API",
    )


admin_router = APIRouter(prefix="/api", tags=["admin"], dependencies=[Depends(_require_admin)])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateEndpoint(_Body):
    """A new endpoint: its name and what it serves (``MODEL@ALIAS`` or ``MODEL/VERSION``)."""

    name: str = Field(min_length=1, max_length=256)
    model: str = Field(min_length=1, examples=["flight-delays@champion"])
    max_batch_size: int | None = Field(default=None, ge=1, le=100_000)
    max_latency_ms: float | None = Field(default=None, ge=0, le=60_000)
    description: str = ""


class UpdateEndpoint(_Body):
    """Fields to change; the ones left out stay as they are."""

    model: str | None = None
    max_batch_size: int | None = Field(default=None, ge=1, le=100_000)
    max_latency_ms: float | None = Field(default=None, ge=0, le=60_000)
    description: str | None = None


class Canary(_Body):
    """Send ``percent`` of the traffic to ``version``."""

    version: int = Field(ge=1)
    percent: float = Field(gt=0, le=100)


class Shadow(_Body):
    """Copy every request to ``version`` off the request path."""

    version: int = Field(ge=1)


def _endpoint_body(endpoint: Endpoint, runtime: ServingRuntime) -> dict[str, Any]:
    body = dataclasses.asdict(endpoint)
    route = runtime.routes.get(endpoint.name)
    body["serving"] = (
        None
        if route is None
        else {
            "primary": route.primary.version,
            "canary": None if route.canary is None else route.canary.version,
            "canary_percent": route.canary_percent if route.canary is not None else 0.0,
            "shadows": [slot.version for slot in route.shadows],
        }
    )
    if endpoint.name in runtime.errors:
        body["error"] = runtime.errors[endpoint.name]
    return body


async def _change(
    request: Request, name: str, call: Callable[[], Any], status: int = 200
) -> Response:
    """Run a store change off the loop, apply it here, answer with the endpoint."""
    runtime: ServingRuntime = request.app.state.runtime
    await run_in_threadpool(call)
    await runtime.refresh()
    endpoint = await run_in_threadpool(services.get_endpoint, name, store=runtime.store)
    return json_response(_endpoint_body(endpoint, runtime), status)


def _store(request: Request) -> Any:
    return request.app.state.runtime.store


@admin_router.get("/endpoints", summary="List endpoints")
async def list_endpoints(request: Request) -> Response:
    runtime: ServingRuntime = request.app.state.runtime
    found = await run_in_threadpool(services.list_endpoints, store=runtime.store)
    return json_response({"endpoints": [_endpoint_body(e, runtime) for e in found]})


@admin_router.post("/endpoints", summary="Create an endpoint", status_code=201)
async def create_endpoint(body: CreateEndpoint, request: Request) -> Response:
    store = _store(request)
    return await _change(
        request,
        body.name,
        lambda: services.create_endpoint(
            body.name,
            body.model,
            max_batch_size=body.max_batch_size,
            max_latency_ms=body.max_latency_ms,
            description=body.description,
            store=store,
        ),
        201,
    )


@admin_router.get("/endpoints/{name}", summary="An endpoint, its traffic and what serves it")
async def get_endpoint(name: str, request: Request) -> Response:
    runtime: ServingRuntime = request.app.state.runtime
    endpoint = await run_in_threadpool(services.get_endpoint, name, store=runtime.store)
    return json_response(_endpoint_body(endpoint, runtime))


@admin_router.patch("/endpoints/{name}", summary="Change an endpoint's model or batching")
async def update_endpoint(name: str, body: UpdateEndpoint, request: Request) -> Response:
    store = _store(request)
    return await _change(
        request,
        name,
        lambda: services.update_endpoint(
            name,
            model=body.model,
            max_batch_size=body.max_batch_size,
            max_latency_ms=body.max_latency_ms,
            description=body.description,
            store=store,
        ),
    )


@admin_router.delete("/endpoints/{name}", summary="Delete an endpoint")
async def delete_endpoint(name: str, request: Request) -> Response:
    runtime: ServingRuntime = request.app.state.runtime
    await run_in_threadpool(services.delete_endpoint, name, store=runtime.store)
    await runtime.refresh()
    return json_response({"deleted": name})


@admin_router.post("/endpoints/{name}/canary", summary="Start or change a canary")
async def start_canary(name: str, body: Canary, request: Request) -> Response:
    store = _store(request)
    return await _change(
        request, name, lambda: services.set_canary(name, body.version, body.percent, store=store)
    )


@admin_router.delete("/endpoints/{name}/canary", summary="Stop the canary")
async def stop_canary(name: str, request: Request) -> Response:
    store = _store(request)
    return await _change(request, name, lambda: services.stop_canary(name, store=store))


@admin_router.post("/endpoints/{name}/shadows", summary="Add a shadow version")
async def add_shadow(name: str, body: Shadow, request: Request) -> Response:
    store = _store(request)
    return await _change(
        request, name, lambda: services.add_shadow(name, body.version, store=store)
    )


@admin_router.delete("/endpoints/{name}/shadows/{version}", summary="Remove a shadow version")
async def remove_shadow(name: str, version: int, request: Request) -> Response:
    store = _store(request)
    return await _change(request, name, lambda: services.remove_shadow(name, version, store=store))


@admin_router.post("/endpoints/{name}/promote", summary="Make the canary the primary")
async def promote(name: str, request: Request) -> Response:
    store = _store(request)
    return await _change(request, name, lambda: services.promote(name, store=store))


@admin_router.post(
    "/endpoints/{name}/rollback",
    summary="Stop the canary, or bring the previous primary back",
)
async def rollback(name: str, request: Request) -> Response:
    store = _store(request)
    return await _change(request, name, lambda: services.rollback(name, store=store))


@admin_router.get("/endpoints/{name}/history", summary="Every change to an endpoint's traffic")
async def history(name: str, request: Request) -> Response:
    store = _store(request)
    events = await run_in_threadpool(services.endpoint_history, name, store=store)
    return json_response({"events": [dataclasses.asdict(e) for e in events]})


#: A decision id in a path: a positive 64-bit integer, as the store keeps them.
DecisionId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The decision's id.")]


class Veto(_Body):
    """Why the cycle is stopped; kept in the veto decision."""

    reason: str = Field(default="", max_length=2_000)


def _decision_body(decision: Decision) -> dict[str, Any]:
    body = dataclasses.asdict(decision)
    body["at"] = decision.at.isoformat()
    body["created_at"] = decision.created_at.isoformat()
    return body


async def _answer_loop(request: Request, call: Callable[[], list[Decision]]) -> Response:
    """Run an approval or veto off the loop, apply the traffic it changed, list its decisions."""
    runtime: ServingRuntime = request.app.state.runtime
    taken = await run_in_threadpool(call)
    await runtime.refresh()
    return json_response({"decisions": [_decision_body(d) for d in taken]})


@admin_router.post(
    "/decisions/{decision_id}/approve",
    summary="Approve what a waiting approval decision holds back (canary or promotion)",
)
async def approve_decision(decision_id: DecisionId, request: Request) -> Response:
    store = _store(request)
    return await _answer_loop(request, lambda: services.approve(decision_id, store=store))


@admin_router.post(
    "/decisions/{decision_id}/veto",
    summary="Stop the loop's cycle a decision belongs to (no canary, or roll it back)",
)
async def veto_decision(decision_id: DecisionId, request: Request) -> Response:
    store = _store(request)
    raw = await request.body()
    # The body is optional ({"reason": ...}), so it is read here rather than declared:
    # an optional model parameter would make FastAPI build an aliased union field.
    try:
        reason = Veto.model_validate_json(raw).reason if raw.strip() else ""
    except ValidationError as exc:
        raise InvalidInputError(
            'a veto\'s body is {"reason": "..."} (or empty); ' + exc.errors()[0]["msg"]
        ) from exc
    return await _answer_loop(request, lambda: services.veto(decision_id, reason, store=store))
