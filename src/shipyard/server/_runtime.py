"""What the server is serving right now, and how it follows the store.

Every ``serve_poll_seconds`` the runtime reads all endpoints' traffic in one query.
When an endpoint changed (its alias moved, a canary started, a rollback), the
versions the new traffic needs are loaded and warmed on a worker thread first; only
then does the new route replace the old one, in one assignment on the event loop.
Requests already queued on an old slot are answered by it, so a switch fails no
request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import NotFoundError, NotReadyError, ShipyardError
from shipyard.server._live import LiveStats
from shipyard.server._metrics import ServerMetrics
from shipyard.server._slots import Job, Outcome, Slot
from shipyard.services import load_model, traffic_snapshot
from shipyard.stores._prediction_log import PredictionLogWriter

if TYPE_CHECKING:
    from shipyard.services import LoadedModel, Traffic
    from shipyard.stores import Store

__all__ = ["Route", "ServingRuntime"]

log = logging.getLogger("shipyard.server")

#: A shadow version this many batches behind gets no more copies until it catches up.
_SHADOW_BACKLOG_BATCHES = 4
#: A switch that failed to load is tried again, for the same traffic, after this long.
_RETRY_SECONDS = 30.0
#: How long a graceful stop waits for the queued requests to be answered.
_STOP_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Route:
    """One endpoint's live traffic: the slots that answer and how requests are split."""

    traffic: Traffic
    primary: Slot
    canary: Slot | None = None
    canary_percent: float = 0.0
    shadows: tuple[Slot, ...] = ()

    def pick(self, routing_key: str | None) -> tuple[Slot, str]:
        """The slot for one request and its role (``primary`` or ``canary``).

        With a routing key the choice is sticky: the same key always lands on the same
        side for a given percent.
        """
        if self.canary is None or self.canary_percent <= 0:
            return self.primary, "primary"
        if routing_key is not None:
            bucket = zlib.crc32(routing_key.encode("utf-8")) % 10_000
            chosen = bucket < self.canary_percent * 100
        else:
            chosen = random.random() * 100 < self.canary_percent
        return (self.canary, "canary") if chosen else (self.primary, "primary")

    def by_version(self, version: int) -> tuple[Slot, str]:
        """The slot serving ``version`` as primary or canary.

        Raises:
            NotFoundError: that version takes no traffic here.
        """
        if self.primary.version == version:
            return self.primary, "primary"
        if self.canary is not None and self.canary.version == version:
            return self.canary, "canary"
        serving = [self.primary.version] + ([self.canary.version] if self.canary else [])
        raise NotFoundError(
            f"endpoint {self.traffic.endpoint!r} does not serve version {version}; "
            f"it serves {', '.join(str(v) for v in serving)}"
        )

    def slots(self) -> list[Slot]:
        """Every slot the route uses."""
        found = [self.primary, *self.shadows]
        if self.canary is not None:
            found.append(self.canary)
        return found


class ServingRuntime:
    """Loads the store's endpoints, keeps them current and routes requests.

    Args:
        store: where endpoints, models and the prediction log live.
        metrics: the app's metrics.
        log_predictions: write every prediction to the prediction log.
        clock: stamps requests in the log, seconds since the epoch (default: ``time.time``).
    """

    def __init__(
        self,
        store: Store,
        metrics: ServerMetrics,
        *,
        log_predictions: bool = True,
        clock: Callable[[], float] | None = None,
    ) -> None:
        settings = store.settings
        self.clock: Callable[[], float] = clock if clock is not None else time.time
        self.store = store
        self.metrics = metrics
        self.poll_seconds = settings.serve_poll_seconds
        self.writer: PredictionLogWriter | None = None
        if log_predictions:
            self.writer = PredictionLogWriter(
                store.artifacts,
                flush_rows=settings.log_flush_rows,
                flush_seconds=settings.log_flush_seconds,
                queue_rows=settings.log_queue_rows,
                when_full=settings.log_when_full,
            )
        self.routes: dict[str, Route] = {}
        #: The last minutes of answered requests per endpoint, for the dashboard.
        self.live = LiveStats()
        #: Why an endpoint is not serving what the store asks (a failed load), for /readyz.
        self.errors: dict[str, str] = {}
        self._models: dict[tuple[str, int], LoadedModel] = {}
        self._slots: dict[tuple[str, str, int, tuple[int, float], bool], Slot] = {}
        self._failed: dict[str, tuple[Traffic, float]] = {}
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="shipyard-model")
        self._shadow_executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="shipyard-shadow"
        )
        self._lock = asyncio.Lock()
        self._poller: asyncio.Task[None] | None = None
        self._snapshot_seen = False
        self._background: set[asyncio.Task[Any]] = set()
        self._logged_dropped = 0
        self._logged_written = 0

    # Life cycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Load every endpoint once, then keep following the store."""
        if self.writer is not None:
            self.writer.start()
        try:
            await self.refresh()
        except ShipyardError as exc:
            log.error("could not read the endpoints: %s", exc)
        self._poller = asyncio.get_running_loop().create_task(self._poll())

    async def stop(self) -> None:
        """Answer what is queued, write the prediction log out, release the threads."""
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        for task in list(self._background):
            with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=10)
        for slot in list(self._slots.values()):
            try:
                # Bounded: a model thread waiting for room in a full log ("block") while
                # the store is down must not hold the stop forever.
                await asyncio.wait_for(slot.batcher.close(), _STOP_SECONDS)
            except TimeoutError:
                log.error("%r still had requests queued after %.0f s", slot, _STOP_SECONDS)
        if self.writer is not None:
            await asyncio.to_thread(self.writer.close)
        self._sync_log_metrics()
        self._executor.shutdown(wait=True)
        self._shadow_executor.shutdown(wait=True)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                await self.refresh()
            except Exception as exc:  # the poller must outlive a database hiccup
                log.warning("endpoint refresh failed: %s", exc)
            self._sync_log_metrics()

    def _sync_log_metrics(self) -> None:
        if self.writer is None:
            return
        dropped, written = self.writer.dropped_rows, self.writer.written_rows
        if dropped > self._logged_dropped:
            self.metrics.log_dropped.inc(dropped - self._logged_dropped)
            self._logged_dropped = dropped
        if written > self._logged_written:
            self.metrics.log_written.inc(written - self._logged_written)
            self._logged_written = written

    # Following the store --------------------------------------------------------

    async def refresh(self) -> None:
        """Bring every route in line with the store (load and warm first, then switch).

        A switch that fails to load leaves the endpoint on its current route (still
        serving, still ready) and is retried only after ``_RETRY_SECONDS`` for the same
        traffic; an endpoint with no route yet is not ready.
        """
        async with self._lock:
            snapshot = await asyncio.to_thread(traffic_snapshot, store=self.store)
            self._snapshot_seen = True
            for name, traffic in snapshot.items():
                current = self.routes.get(name)
                if current is not None and current.traffic == traffic:
                    self.errors.pop(name, None)
                    continue
                failed = self._failed.get(name)
                if failed is not None and failed[0] == traffic and time.monotonic() < failed[1]:
                    continue
                if traffic.primary_version is None:
                    self.errors[name] = "its alias points at no version"
                    continue
                try:
                    self.routes[name] = await self._build(traffic)
                except Exception as exc:
                    self._failed[name] = (traffic, time.monotonic() + _RETRY_SECONDS)
                    self.errors[name] = (
                        f"could not load {_describe(traffic)} ({type(exc).__name__}); "
                        "see the server log"
                    )
                    log.error("endpoint %r: could not load %s: %s", name, traffic, exc)
                    continue
                self._failed.pop(name, None)
                self.errors.pop(name, None)
                log.info(
                    "endpoint %r %s %s",
                    name,
                    "serves" if current is None else "now serves",
                    _describe(traffic),
                )
            for name in set(self.routes) - set(snapshot):
                del self.routes[name]
            for name in set(self.errors) - set(snapshot):
                del self.errors[name]
            for name in set(self._failed) - set(snapshot):
                del self._failed[name]
            self.live.forget(list(snapshot))
            await self._forget_unused()

    async def _build(self, traffic: Traffic) -> Route:
        primary = await self._slot(traffic, traffic.primary_version)
        canary = None
        if traffic.canary_version is not None and traffic.canary_percent > 0:
            canary = await self._slot(traffic, traffic.canary_version)
        shadows = tuple(
            [await self._slot(traffic, version, shadow=True) for version in traffic.shadow_versions]
        )
        return Route(traffic, primary, canary, traffic.canary_percent, shadows)

    async def _slot(self, traffic: Traffic, version: int | None, *, shadow: bool = False) -> Slot:
        assert version is not None
        # The model and the role are in the key: a slot's executor depends on the role,
        # and an endpoint switched to another model must not find the old one's slot.
        settings = (traffic.max_batch_size, traffic.max_latency_ms)
        key = (traffic.endpoint, traffic.model_name, version, settings, shadow)
        found = self._slots.get(key)
        if found is not None:
            return found
        model = self._models.get((traffic.model_name, version))
        if model is None:
            model = await asyncio.to_thread(
                load_model, f"models:/{traffic.model_name}/{version}", store=self.store
            )
            self._models[(traffic.model_name, version)] = model
            self.metrics.loaded_versions.set(len(self._models))
        slot = Slot(
            traffic.endpoint,
            model,
            executor=self._shadow_executor if shadow else self._executor,
            writer=self.writer,
            max_batch_size=settings[0],
            max_latency_ms=settings[1],
            on_batch=self._batch_observer(traffic.endpoint, version),
        )
        await asyncio.to_thread(slot.warm)
        self._slots[key] = slot
        return slot

    def _batch_observer(self, endpoint: str, version: int) -> Callable[[int, int, float], None]:
        rows_hist = self.metrics.batch_rows.labels(endpoint, str(version))
        requests_hist = self.metrics.batch_requests.labels(endpoint, str(version))

        def observe(rows: int, requests: int, _seconds: float) -> None:
            rows_hist.observe(rows)
            requests_hist.observe(requests)

        return observe

    async def _forget_unused(self) -> None:
        used = {id(slot) for route in self.routes.values() for slot in route.slots()}
        for key, slot in list(self._slots.items()):
            if id(slot) in used:
                continue
            del self._slots[key]
            task = asyncio.get_running_loop().create_task(slot.batcher.close())
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        kept = {(slot.model_name, slot.version) for slot in self._slots.values()}
        for model_key in set(self._models) - kept:
            del self._models[model_key]
        self.metrics.loaded_versions.set(len(self._models))

    # Serving ------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """True once the endpoints were read and every one of them has a route to serve.

        A failed switch leaves the old route serving, so it does not make the server
        unready (``errors`` still reports it).
        """
        return self._snapshot_seen and all(name in self.routes for name in self.errors)

    def route(self, endpoint: str) -> Route:
        """The live route of an endpoint.

        Raises:
            NotFoundError: no such endpoint.
            NotReadyError: it exists but is not serving yet.
        """
        found = self.routes.get(endpoint)
        if found is not None:
            return found
        if endpoint in self.errors:
            raise NotReadyError(f"endpoint {endpoint!r} is not serving: {self.errors[endpoint]}")
        known = ", ".join(sorted(self.routes)) or "none"
        raise NotFoundError(
            f"no endpoint named {endpoint!r}; endpoints served here: {known}. "
            "Create one with `shipyard endpoints create NAME --model MODEL@ALIAS`."
        )

    def choose(
        self, endpoint: str, routing_key: str | None, version: int | None = None
    ) -> tuple[Route, Slot, str]:
        """The route, slot and role (primary or canary) that will answer a request.

        ``version`` asks for one of the versions taking traffic by number instead of
        letting the traffic split choose.
        """
        route = self.route(endpoint)
        slot, role = route.pick(routing_key) if version is None else route.by_version(version)
        return route, slot, role

    async def predict(self, route: Route, slot: Slot, role: str, job: Job) -> Outcome:
        """Answer one request from the chosen slot, then copy it to the shadows."""
        job.role = role
        try:
            outcome = await slot.batcher.submit(job, job.rows)
        finally:
            elapsed = time.perf_counter() - job.started
            self.metrics.latency.labels(slot.endpoint, str(slot.version)).observe(elapsed)
        # The route may have changed while this request waited: copy to today's shadows.
        current = self.routes.get(slot.endpoint, route)
        for shadow in current.shadows:
            self._copy_to_shadow(shadow, job)
        return outcome

    def _copy_to_shadow(self, slot: Slot, job: Job) -> None:
        if slot.batcher.closed:
            return
        backlog = slot.batcher.queued_rows
        if backlog > _SHADOW_BACKLOG_BATCHES * slot.batcher.max_batch_size:
            self.metrics.shadow_dropped.labels(slot.endpoint, str(slot.version)).inc()
            return
        copy = Job(
            job.data,
            job.kind,
            job.rows,
            job.ids,
            job.received,
            job.started,
            "shadow",
            job.protocol,
        )
        task = asyncio.get_running_loop().create_task(self._shadow(slot, copy))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _shadow(self, slot: Slot, job: Job) -> None:
        try:
            await slot.batcher.submit(job, job.rows)
        except Exception as exc:  # a shadow's failure never reaches the client
            self.metrics.model_errors.labels(slot.endpoint, str(slot.version)).inc()
            log.debug("shadow %r failed: %s", slot, exc)

    async def feedback(self, endpoint: str, ids: list[str], labels: list[Any]) -> int:
        """Queue ground-truth labels for the prediction log (off the loop: it may wait)."""
        if endpoint not in self.routes and endpoint not in self.errors:
            self.route(endpoint)  # raises the NotFoundError with the known names
        if self.writer is None:
            from shipyard.services import log_feedback

            items = [{"prediction_id": i, "label": v} for i, v in zip(ids, labels, strict=True)]
            return await asyncio.to_thread(log_feedback, endpoint, items, store=self.store)
        return await asyncio.to_thread(self.writer.submit_feedback, endpoint, ids, labels)


def _describe(traffic: Traffic) -> str:
    text = f"{traffic.model_name} v{traffic.primary_version}"
    if traffic.canary_version is not None and traffic.canary_percent > 0:
        text += f", canary v{traffic.canary_version} at {traffic.canary_percent:g}%"
    if traffic.shadow_versions:
        text += f", shadows {list(traffic.shadow_versions)}"
    return text
