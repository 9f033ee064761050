"""The prediction hot path, straight from ASGI.

Under load the server spends most of its time per request outside the model: in HTTP
parsing, routing, dependency resolution and middleware. This ASGI middleware answers
the three prediction routes itself (a regular expression on the path, the body read
with its size cap, the handler, two ``send`` calls) and hands every other request to
the FastAPI app, which also declares the prediction routes for the OpenAPI spec and
answers them identically when this middleware is not installed.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from shipyard.server._handlers import answer_request
from shipyard.server._http import Answer, ClientGone
from shipyard.server._runtime import ServingRuntime

__all__ = ["FastPredictions"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_V1 = re.compile(r"/v1/endpoints/([^/]+)/(predict|invocations)")
_V2 = re.compile(r"/v2/models/([^/]+)(?:/versions/([^/]+))?/infer")


class FastPredictions:
    """ASGI middleware answering ``POST`` prediction routes without the framework."""

    def __init__(self, app: ASGIApp, runtime: ServingRuntime) -> None:
        self.app = app
        self.runtime = runtime

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
        version = v2.group(2) if v2 is not None else None
        try:
            answer = await answer_request(
                self.runtime, protocol, endpoint, version, headers, _chunks(receive), started
            )
        except ClientGone:
            return
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
            raise ClientGone
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return
