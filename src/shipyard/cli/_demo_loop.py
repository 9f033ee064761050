"""The demo's closed loop: March-December 2013 replayed through a real server.

A server on a loopback port serves the endpoint, stamping each prediction with the
replay's clock. Each day, that day's flights are sent hour by hour as requests; their
arrival outcomes come back the next evening as feedback, as labels do in life; then the
loop takes one step: it monitors completed weeks, retrains when a trigger fires, gates
the challenger against the champion, runs the canary on live traffic and promotes or
rolls back. At the end, every month's AUC of the model the loop kept serving is set
against the never-retrained champion's on the same flights. Nothing is staged.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from rich import box
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from shipyard.cli._flights import FEATURES, TARGET
from shipyard.cli._live_server import LiveServer
from shipyard.cli._output import console
from shipyard.core.entities import Decision
from shipyard.core.policy import (
    GatePolicy,
    LoopPolicy,
    RetrainPolicy,
    RolloutPolicy,
    TrainingSpec,
    TriggerPolicy,
)
from shipyard.core.settings import Settings
from shipyard.services import endpoints, monitoring, registry
from shipyard.services.loop import loop_tick
from shipyard.services.prediction_log import prediction_log
from shipyard.stores import Store

if TYPE_CHECKING:
    import httpx
    import pandas as pd

__all__ = ["ReplayClock", "demo_policy", "demo_training", "replay_with_loop"]

_PER_MONTH_FAST = 2_500


class ReplayClock:
    """The replay's time: what the server stamps predictions with, moved by the demo."""

    def __init__(self, start: datetime) -> None:
        self.seconds = start.timestamp()

    def set(self, moment: datetime) -> None:
        self.seconds = moment.timestamp()

    def __call__(self) -> float:
        return self.seconds


def demo_policy(*, fast: bool) -> LoopPolicy:
    """The demo endpoint's policy (the same as a ``[loop.flight-delays]`` table)."""
    return LoopPolicy(
        every="7d",
        cooldown="28d",
        trigger=TriggerPolicy(
            drift_share=0.5, metric="auc", drop=0.02, min_labels=100 if fast else 500
        ),
        retrain=RetrainPolicy(window="28d", include_original=True, min_rows=500),
        gate=GatePolicy(
            metric="auc",
            margin=0.0,
            holdout="7d",
            guards={"log_loss": 0.01},
            min_rows=200 if fast else 1000,
        ),
        rollout=RolloutPolicy(
            percent=50 if fast else 25,
            min_predictions=150 if fast else 1500,
            min_labels=120 if fast else 1000,
            test="bootstrap",
            metric="auc",
            max_duration="14d",
        ),
    )


def demo_training(params: dict[str, Any]) -> TrainingSpec:
    """How the loop retrains the demo model (a ``[models.flight-delays]`` table)."""
    return TrainingSpec(
        pipeline="shipyard.cli._demo_training:pipeline",
        target=TARGET,
        data="flights-jan-feb",
        params={"target": TARGET, **params},
    )


def _columns(frame: pd.DataFrame) -> dict[str, Any]:
    """Each feature as an object array of JSON-ready values: text categories, null for NaN."""

    out: dict[str, Any] = {}
    for name in FEATURES:
        values = frame[name].astype(object).to_numpy().copy()
        missing = frame[name].isna().to_numpy()
        values[missing] = None
        out[name] = values
    return out


@dataclass
class _Replay:
    """What the replay counts as it goes."""

    sent: int = 0
    failed: int = 0
    failed_after_rollback: int = 0
    rolled_back: bool = False
    decisions: list[Decision] = field(default_factory=list)


async def _send(
    client: httpx.AsyncClient,
    url: str,
    part: pd.DataFrame,
    columns: dict[str, Any],
    tally: _Replay,
) -> None:
    """One request: the flights of one block of hours, with their ids."""
    rows = part.index.to_numpy()
    ids = [f"f{i}" for i in rows]
    # The first flight's id routes the request: the canary's share is sticky and the
    # same on every run of the demo, so its numbers repeat.
    body = {
        "columns": {k: v[rows].tolist() for k, v in columns.items()},
        "ids": ids,
        "routing_key": ids[0],
    }
    response = await client.post(url, json=body)
    tally.sent += 1
    if response.status_code != 200:
        tally.failed += 1
        if tally.rolled_back:
            tally.failed_after_rollback += 1


async def _wait_for_traffic(
    client: httpx.AsyncClient, server: str, endpoint: str, store: Store
) -> None:
    """Wait until the server routes the endpoint as the store now says."""
    wanted = endpoints.resolve_traffic(endpoint, store=store)
    canary = wanted.canary_version if wanted.canary_percent > 0 else None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        body = (await client.get(f"{server}/api/endpoints/{endpoint}")).json()
        serving = body.get("serving") or {}
        if serving.get("primary") == wanted.primary_version and serving.get("canary") == canary:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"the server did not pick up {endpoint}'s new traffic within 30 s")


def _day_frames(later: pd.DataFrame) -> list[tuple[datetime, pd.DataFrame]]:
    days = []
    for day, part in later.groupby(later["time"].dt.floor("D")):
        days.append((day.to_pydatetime(), part))
    return days


def _describe(decision: Decision) -> str:
    colour = {"refused": "red", "rollback": "red", "rolled_back": "red", "failed": "red"}.get(
        decision.outcome, "green" if decision.kind in ("promotion", "gate") else "cyan"
    )
    return (
        f"[dim]{decision.at:%Y-%m-%d}[/] [{colour}]{decision.kind} {decision.outcome}[/]: "
        f"{decision.summary}"
    )


def replay_with_loop(
    store: Store,
    endpoint: str,
    flights: pd.DataFrame,
    params: dict[str, Any],
    *,
    fast: bool,
    seed: int,
) -> tuple[_Replay, pd.DataFrame]:
    """Serve the rest of 2013 through a real server while the loop runs; return the tally."""
    import httpx

    from shipyard.server import create_app

    later = flights[(flights["time"].dt.month >= 3) & (flights["time"].dt.year == 2013)]
    if fast:
        later = later.groupby(later["time"].dt.month, group_keys=False).apply(
            lambda part: part.sample(n=min(_PER_MONTH_FAST, len(part)), random_state=seed)
        )
        later = later.sort_values("time", kind="stable")
    later = later.reset_index(drop=True)  # a flight's id is its position in the replay
    policy, training = demo_policy(fast=fast), demo_training(params)
    (store.settings.home_dir / "demo-loop.toml").write_text(
        _toml(endpoint, policy, training), encoding="utf-8"
    )
    days = _day_frames(later)
    clock = ReplayClock(days[0][0])
    # The server polls the store often, so the loop's traffic changes reach it at once.
    serving = Store.from_settings(
        Settings.from_values(
            {**store.settings.model_dump(), "serve_poll_seconds": 0.05, "log_flush_seconds": 30}
        )
    )
    app = create_app(serving, clock=clock)
    runtime = app.state.runtime
    tally = _Replay()
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} days"),
        TimeElapsedColumn(),
        console=console,
    )
    columns = _columns(later)
    block = "12h" if fast else "3h"  # how much of a day one request carries

    async def replay(server: LiveServer) -> None:
        url = f"{server.url}/v1/endpoints/{endpoint}/predict"
        feedback = f"{server.url}/v1/endpoints/{endpoint}/feedback"
        task = progress.add_task("replaying", total=len(days))
        console.print(
            f"serving {endpoint} on {server.url}; replaying {len(later):,} flights, "
            f"{days[0][0]:%b %d} to {days[-1][0]:%b %d}, with the loop on"
        )
        pending: pd.DataFrame | None = None
        async with httpx.AsyncClient(timeout=60) as client:
            for day, frame in days:
                for start, part in frame.groupby(frame["time"].dt.floor(block)):
                    clock.set(start.to_pydatetime())
                    await _send(client, url, part, columns, tally)
                end = day + timedelta(days=1)
                clock.set(end)
                if pending is not None:  # yesterday's arrivals are known by tonight
                    items = [
                        {"prediction_id": f"f{i}", "label": int(v)}
                        for i, v in zip(pending.index, pending[TARGET], strict=True)
                    ]
                    (await client.post(feedback, json={"items": items})).raise_for_status()
                pending = frame
                runtime.writer.flush(timeout=60)
                decisions = loop_tick(
                    endpoint, now=end, policy=policy, training=training, store=store
                )
                for decision in decisions:
                    progress.console.print(_describe(decision))
                    tally.rolled_back = tally.rolled_back or decision.kind == "rollback"
                tally.decisions.extend(decisions)
                if any(d.kind in ("canary", "promotion", "rollback") for d in decisions):
                    await _wait_for_traffic(client, server.url, endpoint, store)
                state = store.loop.get_state(endpoint)
                champion = endpoints.resolve_traffic(endpoint, store=store).primary_version
                progress.update(
                    task,
                    advance=1,
                    description=f"{day:%Y-%m-%d}  v{champion} serving  loop: {state.phase:<18}",
                )

    with LiveServer(app) as server, progress:
        asyncio.run(replay(server))
    return tally, later


def _toml_value(value: Any) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def _toml(endpoint: str, policy: LoopPolicy, training: TrainingSpec) -> str:
    """The policy as shipyard.toml tables, for the reader to copy."""

    def table(name: str, values: dict[str, Any]) -> list[str]:
        return [f"[{name}]", *(f"{k} = {_toml_value(v)}" for k, v in values.items())]

    dumped = policy.model_dump(exclude_none=True)
    parts = {part: dumped.pop(part) for part in ("trigger", "retrain", "gate", "rollout")}
    lines = ['# The loop policy "shipyard demo" ran, as shipyard.toml tables.']
    lines += table(f'models."{endpoint}"', training.model_dump(exclude_none=True))
    lines += ["", *table(f'loop."{endpoint}"', dumped)]
    for part, values in parts.items():
        lines += ["", *table(f'loop."{endpoint}".{part}', values)]
    return "\n".join(lines) + "\n"


def month_table(
    store: Store,
    endpoint: str,
    original: Any,
    replayed: pd.DataFrame,
    tally: _Replay,
) -> Table:
    """Per month: the never-retrained champion vs what the loop served, on the same flights."""
    import numpy as np
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    log = prediction_log(
        endpoint, "2013-03-01", "2014-01-01", roles=["primary", "canary"], store=store
    )
    log = log[(log["status"] == 200) & log["label"].notna()]
    served = pd.DataFrame(
        {
            "id": log["prediction_id"].to_numpy(),
            "served": log["output.proba.1"].to_numpy(dtype=float),
            "version": log["version"].to_numpy(),
            "role": log["role"].to_numpy(),
        }
    )
    flights = replayed.assign(id=[f"f{i}" for i in replayed.index])
    baseline = np.asarray(original.predict_proba(flights[FEATURES]))[:, 1]
    flights = flights.assign(baseline=baseline).merge(served, on="id")
    windows = monitoring.monitor_windows(endpoint, store=store)
    table = Table(
        "month",
        "flights",
        "late",
        "drift",
        "AUC fixed",
        "AUC loop",
        "change",
        "served",
        "decisions",
        title=f"{endpoint}, month by month: AUC of the February champion never retrained "
        "(fixed) vs what the loop served (loop), on the same flights; drift = mean share "
        "of drifted columns in the weekly windows",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for month, part in flights.groupby(flights["time"].dt.month):
        y = part[TARGET].to_numpy()
        if len(np.unique(y)) < 2:
            continue
        before = roc_auc_score(y, part["baseline"])
        after = roc_auc_score(y, part["served"])
        shares = [
            w.results["drift"]["share"]
            for w in windows
            if w.start.month == month
            and w.start.year == 2013
            and (w.results.get("drift") or {}).get("share") is not None
        ]
        change = after - before
        colour = "green" if change > 0.005 else "red" if change < -0.005 else "white"
        primaries = part[part["role"] == "primary"]["version"].value_counts()
        taken = Counter(
            (d.kind, d.outcome)
            for d in tally.decisions
            if (d.at - timedelta(seconds=1)).month == month  # a tick at midnight ends a day
        )
        done = [
            (taken[("retrain", "finished")], "R"),
            (taken[("gate", "refused")], "x"),
            (taken[("promotion", "promoted")], "P"),
            (taken[("rollback", "rolled_back")], "B"),
        ]
        table.add_row(
            datetime(2013, int(month), 1, tzinfo=UTC).strftime("%b"),
            f"{len(part):,}",
            f"{y.mean():.1%}",
            f"{sum(shares) / len(shares):.2f}" if shares else "-",
            f"{before:.3f}",
            f"{after:.3f}",
            f"[{colour}]{change:+.3f}[/]",
            ">".join(f"v{v}" for v in sorted(primaries.index)),
            " ".join(what * n for n, what in done if n) or "-",
        )
    return table


def summarize(
    store: Store, endpoint: str, original_version: int, replayed: pd.DataFrame, tally: _Replay
) -> None:
    """Print the month table, the loop's totals and where to look next."""
    original = registry.load_model(f"models:/{endpoint}/{original_version}", store=store)
    console.print(month_table(store, endpoint, original, replayed, tally))
    console.print(
        "decisions: R retrained, x refused by the gate, P promoted after its canary, "
        "B rolled back; served: the primary versions of the month"
    )
    kinds = Counter((d.kind, d.outcome) for d in tally.decisions)
    console.print(
        f"the loop: {kinds[('trigger', 'fired')]} triggers, "
        f"{kinds[('retrain', 'finished')]} retrains, "
        f"{kinds[('gate', 'passed')]} passed the gate and {kinds[('gate', 'refused')]} were "
        f"refused, {kinds[('promotion', 'promoted')]} promoted, "
        f"{kinds[('rollback', 'rolled_back')]} rolled back; "
        f"{tally.sent:,} requests, {tally.failed} failed"
        + (f" ({tally.failed_after_rollback} after a rollback)" if tally.rolled_back else "")
    )
