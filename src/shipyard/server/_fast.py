"""The prediction hot path, straight from ASGI.

Under load the server spends most of its time per request outside the model: in HTTP
parsing, routing, dependency resolution and middleware. This ASGI middleware answers
the three prediction routes itself (a regular expression on the path, the body read
with its size cap, the handler, two ``send`` calls) and hands every other request to
the FastAPI app, which also declares the prediction routes for the OpenAPI spec and
answers them identically when this middleware is not installed.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from shipyard.core.errors import ShipyardError
from shipyard.server._handlers import (
    answer_infer,
    answer_invocations,
    answer_predict,
    count_error,
    default_endpoint,
)
from shipyard.server._http import (
    Answer,
    answer_error,
    check_token,
    internal_error,
    read_capped,
)
from shipyard.server._runtime import ServingRuntime

__all__ = ["FastPredictions"]

log = logging.getLogger("shipyard.server")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_V1 = re.compile(r"/v1/endpoints/([^/]+)/(predict|invocations)")
_V2 = re.compile(r"/v2/models/([^/]+)(?:/versions/([^/]+))?/infer")


class _Disconnected(Exception):
    """The client went away before sending its whole body."""


class FastPredictions:
    """ASGI middleware answering ``POST`` prediction routes without the framework."""

    def __init__(self, app: ASGIApp, runtime: ServingRuntime) -> None:
        self.app = app
        self.runtime = runtime
        self.settings = runtime.store.settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        v1 = _V1.fullmatch(path)
        v2 = None if v1 is not None else _V2.fullmatch(path)
        if v1 is None and v2 is None and path != "/invocations":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {
            key.decode("latin-1").lower(): value.decode("latin-1")
            for key, value in scope["headers"]
        }
        if v1 is not None:
            endpoint, protocol = v1.group(1), "native" if v1.group(2) == "predict" else "mlflow"
        elif v2 is not None:
            endpoint, protocol = v2.group(1), "v2"
        else:
            endpoint, protocol = "", "mlflow"
        try:
            check_token(
                headers.get("authorization"), self.settings.predict_token, "this prediction route"
            )
            body = await read_capped(
                _chunks(receive), headers.get("content-length"), self.settings.max_body_bytes
            )
            if protocol == "native":
                answer = await answer_predict(self.runtime, endpoint, body, started)
            elif protocol == "v2":
                assert v2 is not None
                answer = await answer_infer(
                    self.runtime, endpoint, v2.group(2), body, headers, started
                )
            else:
                endpoint = endpoint or default_endpoint(self.runtime)
                answer = await answer_invocations(
                    self.runtime, endpoint, body, headers.get("content-type"), started
                )
        except _Disconnected:
            return
        except ShipyardError as exc:
            if exc.status_code >= 500:
                log.error("%s: %s", type(exc).__name__, exc)
            count_error(self.runtime, endpoint, protocol, exc)
            answer = answer_error(exc)
        except Exception as exc:
            log.exception("unexpected error on %s", path, exc_info=exc)
            count_error(self.runtime, endpoint, protocol, exc)
            answer = internal_error()
        await self._send(send, answer)

    @staticmethod
    async def _send(send: Send, answer: Answer) -> None:
        raw = [(b"content-length", str(len(answer.body)).encode())]
        raw += [(key.encode(), value.encode()) for key, value in answer.headers.items()]
        await send({"type": "http.response.start", "status": answer.status, "headers": raw})
        await send({"type": "http.response.body", "body": answer.body})


async def _chunks(receive: Receive) -> AsyncIterator[bytes]:
    """The request body's chunks from ASGI messages, until the last one."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return
