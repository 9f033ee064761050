"""Monitoring results per window of the prediction log, their figures and alerts.

A window is identified by (endpoint, start, end): saving it replaces, in one
transaction, every window of the endpoint it overlaps (the same span from an earlier
run, or windows of another length), with their figures. An alert is identified by
(endpoint, window, rule), so a rule fires once per window however often the monitor runs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from shipyard.core.entities import Alert, MonitorWindow
from shipyard.core.errors import StoreError
from shipyard.core.ids import from_ms, now_ms, to_ms
from shipyard.stores._engine import Database
from shipyard.stores._schema import alerts, monitor_metrics, monitor_windows

__all__ = ["NewAlert", "SqlMonitorStore"]

_ATTEMPTS = 3  # saving a window that a concurrent run saved first


@dataclass(frozen=True)
class NewAlert:
    """A fired rule, as the monitoring service hands it to the store."""

    endpoint: str
    window_start: datetime
    window_end: datetime
    rule: str
    metric: str
    value: float
    threshold: float
    message: str
    reference: float | None = None


def _finite(value: float | None) -> float | None:
    """NaN becomes NULL; infinities are kept (both databases store them)."""
    if value is None or math.isnan(value):
        return None
    return float(value)


def _key(key: Any) -> int:
    """The new row's id from ``inserted_primary_key``."""
    return int(key[0])


def _window(row: Row[Any]) -> MonitorWindow:
    return MonitorWindow(
        endpoint=row.endpoint,
        start=from_ms(row.start_ms),
        end=from_ms(row.end_ms),
        rows=row.rows,
        labelled=row.labelled,
        model_name=row.model_name,
        version=row.version,
        results=json.loads(row.results),
        computed_at=from_ms(row.computed_at),
        window_id=row.id,
    )


def _alert(row: Row[Any]) -> Alert:
    return Alert(
        alert_id=row.id,
        endpoint=row.endpoint,
        window_start=from_ms(row.window_start_ms),
        window_end=from_ms(row.window_end_ms),
        rule=row.rule,
        metric=row.metric,
        value=math.nan if row.value is None else float(row.value),
        threshold=float(row.threshold),
        message=row.message,
        created_at=from_ms(row.created_at),
        reference=None if row.reference is None else float(row.reference),
        delivered=None if row.delivered is None else bool(row.delivered),
    )


class SqlMonitorStore:
    """Monitoring tables on SQLite or PostgreSQL; no I/O until first use."""

    def __init__(self, database: Database) -> None:
        self.db = database

    def save_window(
        self, window: MonitorWindow, figures: Mapping[str, float | None]
    ) -> MonitorWindow:
        """Store a window's results and figures, replacing any earlier run of the same span.

        Two runs saving the same span at once both succeed, the later one last: the
        loser of the race on the span's unique index tries again.
        """
        start, end = to_ms(window.start), to_ms(window.end)
        results = json.dumps(window.results, sort_keys=True, allow_nan=False)
        for attempt in range(_ATTEMPTS):
            computed = now_ms()
            try:
                with self.db.write() as conn:
                    self._delete_span(conn, window.endpoint, start, end)
                    key = conn.execute(
                        insert(monitor_windows).values(
                            endpoint=window.endpoint,
                            start_ms=start,
                            end_ms=end,
                            rows=window.rows,
                            labelled=window.labelled,
                            model_name=window.model_name,
                            version=window.version,
                            results=results,
                            computed_at=computed,
                        )
                    ).inserted_primary_key
                    window_id = _key(key)
                    if figures:
                        conn.execute(
                            insert(monitor_metrics),
                            [
                                {"window_id": window_id, "name": name, "value": _finite(value)}
                                for name, value in figures.items()
                            ],
                        )
                break
            except IntegrityError as exc:
                if attempt == _ATTEMPTS - 1:
                    raise StoreError(
                        f"could not save the monitoring window {window.start.isoformat()} of "
                        f"{window.endpoint!r}: concurrent runs kept replacing it ({exc})"
                    ) from exc
        return replace(window, computed_at=from_ms(computed), window_id=window_id)

    @staticmethod
    def _delete_span(conn: Connection, endpoint: str, start: int, end: int) -> None:
        """Remove the endpoint's windows that overlap ``[start, end)``.

        Windows of one endpoint never overlap, so each figure has one value per moment
        even when runs change the window length (``--every``); alerts are kept.
        """
        old = select(monitor_windows.c.id).where(
            monitor_windows.c.endpoint == endpoint,
            monitor_windows.c.start_ms < end,
            monitor_windows.c.end_ms > start,
        )
        ids = [row.id for row in conn.execute(old)]
        if ids:
            conn.execute(delete(monitor_metrics).where(monitor_metrics.c.window_id.in_(ids)))
            conn.execute(delete(monitor_windows).where(monitor_windows.c.id.in_(ids)))

    def list_windows(
        self,
        endpoint: str,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[MonitorWindow]:
        """The endpoint's windows that start in ``[since, until)``, oldest first."""
        query = select(monitor_windows).where(monitor_windows.c.endpoint == endpoint)
        if since is not None:
            query = query.where(monitor_windows.c.start_ms >= to_ms(since))
        if until is not None:
            query = query.where(monitor_windows.c.start_ms < to_ms(until))
        query = query.order_by(monitor_windows.c.start_ms, monitor_windows.c.end_ms)
        with self.db.read() as conn:
            return [_window(row) for row in conn.execute(query)]

    def last_window(self, endpoint: str) -> MonitorWindow | None:
        """The endpoint's latest window by start, or None."""
        query = (
            select(monitor_windows)
            .where(monitor_windows.c.endpoint == endpoint)
            .order_by(monitor_windows.c.start_ms.desc(), monitor_windows.c.end_ms.desc())
            .limit(1)
        )
        with self.db.read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _window(row)

    def series(self, endpoint: str, name: str) -> list[tuple[datetime, datetime, float]]:
        """One figure over time: (window start, window end, value), oldest first.

        Windows where the figure was not computed are left out; NaN stands for a NULL.
        """
        query = (
            select(monitor_windows.c.start_ms, monitor_windows.c.end_ms, monitor_metrics.c.value)
            .join(monitor_metrics, monitor_metrics.c.window_id == monitor_windows.c.id)
            .where(monitor_windows.c.endpoint == endpoint, monitor_metrics.c.name == name)
            .order_by(monitor_windows.c.start_ms, monitor_windows.c.end_ms)
        )
        with self.db.read() as conn:
            return [
                (from_ms(r.start_ms), from_ms(r.end_ms), math.nan if r.value is None else r.value)
                for r in conn.execute(query)
            ]

    def figure_names(self, endpoint: str) -> list[str]:
        """Every figure name recorded for the endpoint, sorted."""
        query = (
            select(monitor_metrics.c.name)
            .join(monitor_windows, monitor_metrics.c.window_id == monitor_windows.c.id)
            .where(monitor_windows.c.endpoint == endpoint)
            .distinct()
            .order_by(monitor_metrics.c.name)
        )
        with self.db.read() as conn:
            return [row.name for row in conn.execute(query)]

    # -- alerts -------------------------------------------------------------------------

    def add_alert(self, new: NewAlert) -> Alert | None:
        """Record a fired rule; None when it already fired on that window."""
        stmt = self.db.dialect_insert(alerts).values(
            endpoint=new.endpoint,
            window_start_ms=to_ms(new.window_start),
            window_end_ms=to_ms(new.window_end),
            rule=new.rule,
            metric=new.metric,
            value=_finite(new.value),
            threshold=new.threshold,
            reference=_finite(new.reference),
            message=new.message,
            created_at=now_ms(),
        )
        # ON CONFLICT: a run racing another over the same window loses quietly.
        stmt = stmt.on_conflict_do_nothing(
            index_elements=[
                alerts.c.endpoint,
                alerts.c.window_start_ms,
                alerts.c.window_end_ms,
                alerts.c.rule,
            ]
        ).returning(alerts.c.id)
        with self.db.write() as conn:
            alert_id = conn.execute(stmt).scalar()
        return None if alert_id is None else self.get_alert(int(alert_id))

    def get_alert(self, alert_id: int) -> Alert:
        """An alert by id.

        Raises:
            NotFoundError: no alert has that id.
        """
        from shipyard.core.errors import NotFoundError

        with self.db.read() as conn:
            row = conn.execute(select(alerts).where(alerts.c.id == alert_id)).first()
        if row is None:
            raise NotFoundError(f"alert {alert_id} does not exist; see `shipyard alerts list`")
        return _alert(row)

    def set_delivered(self, alert_id: int, delivered: bool) -> None:
        """Record whether the webhook took the alert."""
        with self.db.write() as conn:
            conn.execute(
                update(alerts).where(alerts.c.id == alert_id).values(delivered=int(delivered))
            )

    def list_alerts(
        self,
        endpoint: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[Alert]:
        """Alerts, newest window first (then newest first), optionally of one endpoint."""
        query = select(alerts)
        if endpoint is not None:
            query = query.where(alerts.c.endpoint == endpoint)
        if since is not None:
            query = query.where(alerts.c.window_start_ms >= to_ms(since))
        query = query.order_by(alerts.c.window_start_ms.desc(), alerts.c.id.desc()).limit(limit)
        with self.db.read() as conn:
            return [_alert(row) for row in conn.execute(query)]
