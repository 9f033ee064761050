"""The prediction protocols as plain async functions: headers and body in, an answer out.

:func:`answer_request` is the one entry: the hot path calls it straight from ASGI
(:mod:`shipyard.server._fast`), without the web framework's routing, dependency
resolution and middleware, and the FastAPI routes call it too, so both paths give the
same answers and the OpenAPI description stays whole.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from shipyard.core.errors import (
    InvalidInputError,
    ModelError,
    ShipyardError,
)
from shipyard.core.signature import Signature
from shipyard.server._codec import Parsed
from shipyard.server._http import (
    Answer,
    ClientGone,
    answer_error,
    check_token,
    dumps,
    internal_error,
    read_capped,
)
from shipyard.server._mlflow import format_mlflow, parse_mlflow
from shipyard.server._native import parse_native
from shipyard.server._runtime import ServingRuntime
from shipyard.server._slots import Job, Outcome, new_prediction_ids
from shipyard.server._v2 import HEADER_LENGTH, decode_v2_infer, encode_v2_infer

__all__ = ["answer_request", "parse_version"]

log = logging.getLogger("shipyard.server")

_JSON = "application/json"


def signature_of(runtime: ServingRuntime, endpoint: str) -> Signature | None:
    """The signature of an endpoint's primary version."""
    return runtime.route(endpoint).primary.model.signature


def _version_headers(outcome: Outcome, content_type: str = _JSON) -> dict[str, str]:
    # Every answer names the version that gave it.
    return {
        "content-type": content_type,
        "x-shipyard-model": outcome.model,
        "x-shipyard-model-version": str(outcome.version),
    }


def count_error(
    runtime: ServingRuntime,
    endpoint: str,
    protocol: str,
    error: Exception,
    started: float | None = None,
) -> None:
    """Count a failed request in ``requests_total`` (and a model's failure as such).

    With ``started`` (``time.perf_counter()`` at arrival) the failure also goes to the
    live figures of an endpoint this server serves.
    """
    status = error.status_code if isinstance(error, ShipyardError) else 500
    version = str(error.version) if isinstance(error, ModelError) else ""
    if isinstance(error, ModelError):
        runtime.metrics.model_errors.labels(endpoint, version).inc()
    # Unknown names are not labels: a scan of random paths must not grow the metrics.
    known = endpoint if endpoint in runtime.routes else ""
    runtime.metrics.requests.labels(known, version, "", protocol, str(status)).inc()
    if known and started is not None:
        number = (error.version or None) if isinstance(error, ModelError) else None
        runtime.live.record(known, number, "", (time.perf_counter() - started) * 1e3, status)


async def _serve(
    runtime: ServingRuntime,
    endpoint: str,
    parse: Callable[[Signature | None], Parsed],
    protocol: str,
    started: float,
    *,
    version: int | None = None,
) -> tuple[Parsed, Outcome, Signature | None]:
    """Parse, choose the answering version, wait for its answer, count it.

    The body is parsed against the primary's signature (which also yields the routing
    key), and again against the chosen version's when a canary's signature differs.
    """
    primary = signature_of(runtime, endpoint)
    parsed = parse(primary)
    route, slot, role = runtime.choose(endpoint, parsed.routing_key, version)
    signature = slot.model.signature
    if signature != primary:
        parsed = parse(signature)
    job = Job(
        parsed.data,
        parsed.kind,
        parsed.rows,
        list(parsed.ids) if parsed.ids is not None else new_prediction_ids(parsed.rows),
        runtime.clock(),
        started,
        protocol=protocol,
    )
    outcome = await runtime.predict(route, slot, role, job)
    runtime.metrics.requests.labels(
        endpoint, str(outcome.version), outcome.role, protocol, "200"
    ).inc()
    runtime.live.record(
        endpoint, outcome.version, outcome.role, (time.perf_counter() - started) * 1e3, 200
    )
    return parsed, outcome, signature


async def answer_predict(
    runtime: ServingRuntime, endpoint: str, body: bytes, started: float
) -> Answer:
    """The native protocol: records or columns in; predictions, ids and version out."""
    _, outcome, _ = await _serve(
        runtime, endpoint, lambda sig: parse_native(body, sig), "native", started
    )
    answer: dict[str, Any] = {"predictions": outcome.predictions.tolist()}
    if outcome.probabilities is not None:
        answer["probabilities"] = outcome.probabilities.tolist()
        answer["classes"] = outcome.classes
    answer["prediction_ids"] = outcome.ids
    answer["model"] = {"name": outcome.model, "version": outcome.version, "role": outcome.role}
    return Answer(200, dumps(answer), _version_headers(outcome))


def default_endpoint(runtime: ServingRuntime) -> str:
    """What ``POST /invocations`` serves: the setting, or the only endpoint there is."""
    name = runtime.store.settings.default_endpoint
    if name:
        return name
    served = sorted(runtime.routes)
    if len(served) != 1:
        raise InvalidInputError(
            "POST /invocations needs a default endpoint: set default_endpoint in "
            "shipyard.toml or SHIPYARD_DEFAULT_ENDPOINT, or call "
            f"/v1/endpoints/NAME/invocations (endpoints here: {', '.join(served) or 'none'})"
        )
    return served[0]


async def answer_invocations(
    runtime: ServingRuntime,
    endpoint: str,
    body: bytes,
    content_type: str | None,
    started: float,
) -> Answer:
    """MLflow scoring: what ``mlflow models serve`` takes, ``{"predictions": [...]}`` out."""
    _, outcome, _ = await _serve(
        runtime, endpoint, lambda sig: parse_mlflow(body, content_type, sig), "mlflow", started
    )
    return Answer(200, dumps(format_mlflow(outcome.predictions)), _version_headers(outcome))


def parse_version(text: str | None) -> int | None:
    """A version number from a URL, or a 400."""
    if text is None:
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 10 or int(text) > 2**31 - 1:
        shown = text if len(text) <= 20 else text[:20] + "..."
        raise InvalidInputError(f"model version must be a whole number below 2**31, got {shown!r}")
    return int(text)


async def answer_infer(
    runtime: ServingRuntime,
    endpoint: str,
    version: str | None,
    body: bytes,
    headers: Mapping[str, str],
    started: float,
) -> Answer:
    """Open Inference Protocol inference, JSON or with the binary tensor extension."""
    wanted = parse_version(version)
    header_length = headers.get(HEADER_LENGTH.lower())
    parsed, outcome, signature = await _serve(
        runtime,
        endpoint,
        lambda sig: decode_v2_infer(body, header_length, sig),
        "v2",
        started,
        version=wanted,
    )
    content, extra = encode_v2_infer(
        parsed,
        model_name=endpoint,
        model_version=outcome.version,
        predictions=outcome.predictions,
        probabilities=outcome.probabilities,
        classes=outcome.classes,
        signature=signature,
        prediction_ids=outcome.ids,
    )
    answer_headers = _version_headers(outcome, extra.pop("Content-Type", _JSON))
    answer_headers.update({key.lower(): value for key, value in extra.items()})
    return Answer(200, content, answer_headers)


async def answer_request(
    runtime: ServingRuntime,
    protocol: str,
    endpoint: str,
    version: str | None,
    headers: Mapping[str, str],
    chunks: AsyncIterator[bytes],
    started: float,
) -> Answer:
    """One prediction request, from its headers and body to its answer, errors included.

    The token is checked, the body read with its cap, the protocol's handler called;
    a failure becomes its error answer and is counted.

    Args:
        protocol: ``native``, ``mlflow`` or ``v2``.
        endpoint: the endpoint named by the path; empty for the root ``/invocations``.
        version: the version named by a v2 path, if any.
        headers: the request's headers, names in lower case.
        chunks: the body as it arrives.
        started: when the request arrived (``time.perf_counter()``).

    Raises:
        ClientGone: the client left before sending its body.
    """
    settings = runtime.store.settings
    try:
        check_token(headers.get("authorization"), settings.predict_token, "this prediction route")
        body = await read_capped(chunks, headers.get("content-length"), settings.max_body_bytes)
        if protocol == "native":
            return await answer_predict(runtime, endpoint, body, started)
        if protocol == "v2":
            return await answer_infer(runtime, endpoint, version, body, headers, started)
        endpoint = endpoint or default_endpoint(runtime)
        return await answer_invocations(
            runtime, endpoint, body, headers.get("content-type"), started
        )
    except ClientGone:
        raise
    except ShipyardError as exc:
        if exc.status_code >= 500:
            log.error("%s: %s", type(exc).__name__, exc)
        count_error(runtime, endpoint, protocol, exc, started)
        return answer_error(exc)
    except Exception as exc:
        log.exception("unexpected error on a %s request to %r", protocol, endpoint, exc_info=exc)
        count_error(runtime, endpoint, protocol, exc, started)
        return internal_error()
