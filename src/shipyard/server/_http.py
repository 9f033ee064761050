"""HTTP plumbing shared by the routes: bodies with a size cap, JSON, tokens, error bodies."""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from shipyard.core.errors import (
    InvalidInputError,
    PayloadTooLargeError,
    ShipyardError,
    UnauthorizedError,
)

__all__ = [
    "INTERNAL_ERROR",
    "Answer",
    "ClientGone",
    "answer_error",
    "check_token",
    "dumps",
    "install_error_handlers",
    "internal_error",
    "json_response",
    "read_capped",
    "read_json",
    "to_response",
]

log = logging.getLogger("shipyard.server")


#: The body of a 500 that is not shipyard's: nothing of the code; the log has the rest.
INTERNAL_ERROR = {
    "error": {
        "type": "InternalError",
        "message": "the server failed to answer this request; its log has the details",
        "details": [],
    }
}


def dumps(body: Any) -> bytes:
    """JSON with orjson (numpy scalars and arrays included)."""
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response serialised with orjson."""
    return Response(dumps(body), status_code=status, media_type="application/json", headers=headers)


class ClientGone(Exception):
    """The client went away before sending its whole body: there is no one to answer."""


@dataclass(slots=True)
class Answer:
    """An HTTP answer: status, body and headers (``content-type`` included)."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def to_response(answer: Answer) -> Response:
    """A framework response from an answer."""
    return Response(answer.body, status_code=answer.status, headers=answer.headers)


def answer_error(error: ShipyardError) -> Answer:
    """The JSON error body of a shipyard error, with its status."""
    headers = {"content-type": "application/json"}
    if isinstance(error, UnauthorizedError):
        headers["www-authenticate"] = "Bearer"
    return Answer(error.status_code, dumps(error.to_dict()), headers)


def internal_error() -> Answer:
    """A 500 that says nothing of the code; the details go to the server's log."""
    return Answer(500, dumps(INTERNAL_ERROR), {"content-type": "application/json"})


async def read_capped(chunks: AsyncIterator[bytes], declared: str | None, limit: int) -> bytes:
    """A whole body from its chunks, refusing more than ``limit`` bytes without reading it all.

    Args:
        chunks: the body as it arrives.
        declared: the ``Content-Length`` header, if any (a larger one is refused at once).
        limit: the most bytes accepted (the ``max_body_bytes`` setting).
    """
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(
            f"the request body is {int(declared)} bytes; this server takes at most {limit} "
            "(setting max_body_bytes); send fewer rows per request"
        )
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(
                f"the request body is over {limit} bytes (setting max_body_bytes); "
                "send fewer rows per request"
            )
        parts.append(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def read_json(body: bytes) -> Any:
    """Parse a JSON body, or a 400 saying where it broke."""
    if not body:
        raise InvalidInputError("the request body is empty; send a JSON object")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(f"the request body is not valid JSON: {exc}") from None


def check_token(header: str | None, expected: str | None, what: str) -> None:
    """Refuse the call unless ``header`` is ``Bearer <expected>`` (no token set: all pass)."""
    if not expected:
        return
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.strip().encode(), expected.encode()
    ):
        raise UnauthorizedError(
            f"{what} needs `Authorization: Bearer <token>` with the server's token"
        )


def install_error_handlers(app: Any) -> None:
    """Every error becomes ``{"error": {"type", "message", "details"}}`` with its status."""

    async def on_shipyard_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ShipyardError)
        if exc.status_code >= 500:
            log.error("%s: %s", type(exc).__name__, exc)
        return to_response(answer_error(exc))

    async def on_http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        kind = {404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code, "HTTPError")
        body = {"error": {"type": kind, "message": str(exc.detail), "details": []}}
        return json_response(body, exc.status_code, dict(exc.headers or {}))

    async def on_validation_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        details = [
            {
                "field": ".".join(str(p) for p in err.get("loc", ())),
                "message": err.get("msg", ""),
            }
            for err in exc.errors()
        ]
        message = "; ".join(f"{d['field']}: {d['message']}" for d in details)
        body = {"error": {"type": "InvalidInputError", "message": message, "details": details}}
        return json_response(body, 422)

    async def on_unexpected(_request: Request, exc: Exception) -> Response:
        log.exception("unexpected error", exc_info=exc)
        return json_response(INTERNAL_ERROR, 500)

    app.add_exception_handler(ShipyardError, on_shipyard_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(Exception, on_unexpected)
