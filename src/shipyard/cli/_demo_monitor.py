"""The demo's monitoring part: the rest of 2013 scored, logged, labelled and monitored.

The champion scores every later flight as a batch-scoring job would, its predictions
go into the endpoint's prediction log stamped with the flight's scheduled hour, the
arrival outcomes come back as feedback, and monitoring runs month by month. Every
figure is computed from that run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.table import Table

from shipyard.cli._flights import FEATURES, TARGET
from shipyard.cli._output import console
from shipyard.services import monitoring, registry
from shipyard.services.prediction_log import log_feedback
from shipyard.stores import Store
from shipyard.stores._prediction_log import LogBatch, PredictionLogWriter

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["replay_and_monitor"]

_PER_MONTH_FAST = 2_000
_AUC_DROP = 0.05  # what the table marks in red


def _log_month(
    writer: PredictionLogWriter,
    model: Any,
    endpoint: str,
    version: int,
    month: pd.DataFrame,
) -> list[str]:
    import numpy as np
    import pandas as pd

    inputs = month[FEATURES].reset_index(drop=True)
    proba = np.asarray(model.predict_proba(inputs))
    classes = list(model.classes or [])
    ids = [f"demo-{i}" for i in month.index]
    seconds = ((month["time"] - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)).to_numpy()
    writer.submit(
        LogBatch(
            endpoint=endpoint,
            model=endpoint,
            version=version,
            role="primary",
            prediction_ids=ids,
            received_at=seconds,
            latency_ms=np.zeros(len(ids)),
            status=200,
            error=None,
            inputs=inputs,
            predictions=np.asarray(classes, dtype=object)[proba.argmax(axis=1)],
            probabilities=proba,
            classes=classes,
        ),
        block=True,
    )
    return ids


def replay_and_monitor(
    store: Store, endpoint: str, flights: pd.DataFrame, *, fast: bool, seed: int
) -> None:
    """Score, log and label March-December through the champion, then monitor by month."""
    later = flights[(flights["time"].dt.month >= 3) & (flights["time"].dt.year == 2013)]
    if fast:
        later = later.groupby(later["time"].dt.month, group_keys=False).apply(
            lambda part: part.sample(n=min(_PER_MONTH_FAST, len(part)), random_state=seed)
        )
    champion = registry.load_model(f"models:/{endpoint}@champion", store=store)
    version = int(champion.version or 0)
    writer = PredictionLogWriter(store.artifacts, flush_rows=50_000).start()
    labels: list[dict[str, Any]] = []
    with console.status("scoring March-December with the champion, logging every prediction..."):
        for _, month in later.groupby(later["time"].dt.month):
            ids = _log_month(writer, champion, endpoint, version, month)
            truth = month[TARGET].tolist()
            labels.extend({"prediction_id": i, "label": t} for i, t in zip(ids, truth, strict=True))
        writer.close()
        log_feedback(endpoint, labels, store=store)
    with console.status("monitoring the log month by month..."):
        result = monitoring.monitor(endpoint, "2013-03-01", "2014-01-01", every="1mo", store=store)
    table = Table(
        "month",
        "predictions",
        "late share",
        "drifted columns",
        "AUC",
        "vs reference",
        title=f"{endpoint}: monitoring the champion (v{version}) on the rest of 2013",
        title_justify="left",
    )
    for window in result.windows:
        drift = window.results["drift"] or {}
        performance = window.results["performance"] or {}
        auc = (performance.get("metrics") or {}).get("auc")
        reference = (performance.get("reference") or {}).get("auc")
        month_rows = later[(later["time"] >= window.start) & (later["time"] < window.end)]
        drifted = sum(1 for c in (drift.get("columns") or {}).values() if c["drifted"])
        change = "-"
        if auc is not None and reference is not None:
            change = f"{auc - reference:+.3f}"
            if reference - auc > _AUC_DROP:
                change = f"[red]{change}[/]"
        table.add_row(
            window.start.strftime("%b"),
            f"{window.rows:,}",
            f"{month_rows[TARGET].mean():.1%}" if len(month_rows) else "-",
            f"{drifted} of {len(drift.get('columns') or {})}",
            "-" if auc is None else f"{auc:.3f}",
            change,
        )
    console.print(table)
    report = store.settings.home_dir / "monitor-report.html"
    monitoring.write_report(endpoint, report, store=store)
    console.print(f"monitoring report: [bold]{report}[/] (one page, opens offline)")
