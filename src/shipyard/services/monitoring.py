"""Monitoring: drift, data quality, performance from late labels and operations, per window.

:func:`monitor` cuts an endpoint's prediction log into aligned windows (``1d`` by
default) and, for each one, profiles the served inputs and outputs a batch at a time
(so a window of any size fits in memory), compares them with the reference profile of
the version that served most of the window, scores the labelled predictions, reads
request counts, errors and latency per version, stores every figure in the metadata
store and evaluates the alert rules of ``[monitor]`` in shipyard.toml.

Example:
    >>> import shipyard
    >>> result = shipyard.monitor("flight-delays", every="1d")  # doctest: +SKIP
    >>> [(w.start.date(), w.results["drift"]["share"]) for w in result.windows]  # doctest: +SKIP
    >>> shipyard.write_report("flight-delays", "report.html")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.core.entities import Alert, Endpoint, MonitorWindow
from shipyard.core.errors import ArtifactNotFoundError, InvalidInputError, NotFoundError
from shipyard.core.settings import MonitorSettings
from shipyard.services._alerts import AlertRule, evaluate, parse_rule, send_webhook, window_values
from shipyard.services._common import check_name, json_ready, to_moment
from shipyard.services._context import get_default_store
from shipyard.services._model_files import read_reference_profiles
from shipyard.services._monitor_figures import PREDICTION, PROBA_PREFIX, column_quality, performance
from shipyard.services._windows import parse_every, windows
from shipyard.stores import NewAlert, Store
from shipyard.stores._prediction_log_scan import LogScan

if TYPE_CHECKING:
    from shipyard.core.drift import ColumnDrift
    from shipyard.core.profiles import Profile

__all__ = [
    "MonitorResult",
    "alert_dict",
    "list_alerts",
    "monitor",
    "monitor_figures",
    "monitor_report",
    "monitor_series",
    "monitor_windows",
    "window_dict",
    "write_report",
]

INPUT_PREFIX = "input."
_MAX_WINDOW_TOP_K = 20_000
#: Called after each window with (windows done, windows in all).
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class MonitorResult:
    """What one call of :func:`monitor` did.

    ``windows`` are the windows computed and stored, ``alerts`` the alerts that fired
    for the first time, ``empty`` the windows with no logged prediction (skipped) and
    ``warnings`` what deserves a look (an empty log, inputs missing from the log, a
    version gone from the registry), which the CLI prints.
    """

    endpoint: str
    windows: list[MonitorWindow]
    alerts: list[Alert]
    empty: list[tuple[datetime, datetime]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Reference:
    """A version's reference profiles and recorded metrics, loaded once per run."""

    model_name: str
    version: int
    inputs: Profile | None
    outputs: Profile | None
    metrics: dict[str, float]


class _References:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.loaded: dict[tuple[str, int], _Reference] = {}

    def get(self, model_name: str, version: int) -> _Reference:
        key = (model_name, version)
        if key not in self.loaded:
            from shipyard.core.profiles import Profile

            found = self.store.registry.get_version(model_name, version)
            raw = read_reference_profiles(self.store, found.artifact_prefix, found.manifest_sha256)
            self.loaded[key] = _Reference(
                model_name,
                version,
                Profile.from_dict(raw["inputs"]) if "inputs" in raw else None,
                Profile.from_dict(raw["outputs"]) if "outputs" in raw else None,
                dict(found.metrics),
            )
        return self.loaded[key]


def _output_column(name: str) -> str:
    """The log's column for a reference output profile column."""
    if name.startswith("proba_"):
        return PROBA_PREFIX + name[len("proba_") :]
    return f"output.{name}"


def _span(
    scan: LogScan,
    store: Store,
    endpoint: str,
    since: datetime | None,
    until: datetime | None,
) -> tuple[datetime, datetime] | None:
    """The window of time to monitor: by default, from the last stored window to the end."""
    if since is not None and until is not None:
        return since, until
    logged = scan.time_range()
    if logged is None:
        return None
    if since is None:
        last = store.monitor.last_window(endpoint)
        since = last.start if last is not None else logged[0]
    if until is None:
        until = logged[1] + timedelta(microseconds=1)
    return since, until


def monitor(
    endpoint: str,
    since: datetime | date | str | None = None,
    until: datetime | date | str | None = None,
    *,
    every: str | None = None,
    store: Store | None = None,
    progress: Progress | None = None,
) -> MonitorResult:
    """Compute, store and alert on every window of an endpoint's prediction log.

    Args:
        endpoint: the endpoint's name.
        since: the first moment to monitor (aligned down to its window); None: from the
            start of the last stored window (which is recomputed), or of the log.
        until: where to stop, rounded up to the end of its window (windows are whole);
            None: just after the last logged prediction.
        every: the window length (``1h``, ``6h``, ``1d``, ``7d``, ``1w``, ``1mo``);
            None: ``[monitor] every`` of shipyard.toml (``1d``).
        store: where the endpoint and its log are (default: the default store).
        progress: called after each window with (done, total).

    Returns:
        The windows stored, the alerts that fired for the first time, the empty windows
        skipped and warnings.

    Raises:
        NotFoundError: no endpoint has that name.
        InvalidInputError: a bad time, window length or alert rule, or a log whose
            columns share nothing with the model's reference profile.
        StoreError: the log or the metadata store cannot be read or written.
    """
    check_name("endpoint", endpoint)
    store = store if store is not None else get_default_store()
    settings = store.settings.monitor
    length = parse_every(every if every is not None else settings.every)
    rules = [parse_rule(text) for text in settings.alerts]
    start, end = to_moment("since", since), to_moment("until", until)
    if start is not None and end is not None and start >= end:
        raise InvalidInputError(
            f"since ({start.isoformat()}) must be before until ({end.isoformat()})"
        )
    served = store.endpoints.get_endpoint(endpoint)
    run = _Run(store, served, settings, rules)
    with LogScan(store.artifacts, endpoint) as scan:
        span = _span(scan, store, endpoint, start, end)
        if span is None:
            message = f"endpoint {endpoint!r} has no logged predictions yet; nothing to monitor"
            return MonitorResult(endpoint, [], [], warnings=[message])
        planned = list(windows(span[0], span[1], length))
        if not planned:
            message = (
                f"nothing to monitor for {endpoint!r} between {span[0].isoformat()} and "
                f"{span[1].isoformat()}"
            )
            return MonitorResult(endpoint, [], [], warnings=[message])
        scan.prepare_labels(planned[0][0])
        for done, (w_start, w_end) in enumerate(planned, 1):
            run.window(scan, w_start, w_end)
            if progress is not None:
                progress(done, len(planned))
    return MonitorResult(endpoint, run.stored, run.fired, run.empty, run.warnings)


class _Run:
    """One monitoring run: the windows it computes, the alerts it raises."""

    def __init__(
        self,
        store: Store,
        endpoint: Endpoint,
        settings: MonitorSettings,
        rules: Sequence[AlertRule],
    ) -> None:
        self.store = store
        self.endpoint = endpoint
        self.settings = settings
        self.rules = rules
        self.references = _References(store)
        self.stored: list[MonitorWindow] = []
        self.fired: list[Alert] = []
        self.empty: list[tuple[datetime, datetime]] = []
        self.warnings: list[str] = []
        self.webhook_down = False

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def window(self, scan: LogScan, start: datetime, end: datetime) -> None:
        files = scan.files(start, end)
        operations = scan.operations(files, start, end)
        total = next((row for row in operations if row["role"] is None), None)
        if total is None:
            self.empty.append((start, end))
            return
        reference = self._reference(operations)
        columns = scan.columns(files)
        inputs, outputs = self._compared_columns(reference, columns)
        from shipyard.core.profiles import profile

        current = profile(
            scan.batches(files, start, end, [*inputs, *outputs]), top_k=_window_top_k(reference)
        )
        results: dict[str, Any] = {
            "drift": self._drift(reference, current, inputs, outputs),
            "quality": self._quality(reference, current, inputs, total["rejected"]),
            "performance": None,
            "operations": _operations(operations),
        }
        labelled = 0
        wanted = ["version", *(c for c in columns if c == PREDICTION or c.startswith(PROBA_PREFIX))]
        table = scan.labelled(files, start, end, wanted)
        if table.num_rows:
            labelled = table.num_rows
            metrics = reference.metrics if reference is not None else {}
            results["performance"] = performance(table, current.num_rows, metrics)
        versions = sorted({r["version"] for r in operations if r["role"] in ("primary", "canary")})
        results["versions"] = versions
        results["reference"] = (
            None
            if reference is None
            else {"model": reference.model_name, "version": reference.version}
        )
        window = MonitorWindow(
            endpoint=self.endpoint.name,
            start=start,
            end=end,
            rows=int(total["requests"]),
            labelled=labelled,
            model_name=None if reference is None else reference.model_name,
            version=None if reference is None else reference.version,
            results=json_ready(results),
            computed_at=datetime.now(UTC),  # the store records its own time
        )
        flat = window_dict(window)
        saved = self.store.monitor.save_window(window, window_values(flat))
        self.stored.append(saved)
        self._alert(saved, flat)

    def _reference(self, operations: list[dict[str, Any]]) -> _Reference | None:
        """The reference of the version that served most of the window."""
        served = [r for r in operations if r["role"] in ("primary", "canary")]
        if not served:
            return None
        top = max(served, key=lambda r: (r["role"] == "primary", r["requests"]))
        try:
            return self.references.get(self.endpoint.model_name, int(top["version"]))
        except ArtifactNotFoundError as exc:
            self.warn(
                f"the reference profile of version {top['version']} of "
                f"{self.endpoint.model_name!r} cannot be read ({exc}); its windows are "
                "monitored without a reference"
            )
            return None
        except NotFoundError:
            self.warn(
                f"version {top['version']} of {self.endpoint.model_name!r} is no longer in the "
                "registry; its windows are monitored without a reference"
            )
            return None

    def _compared_columns(
        self, reference: _Reference | None, columns: Sequence[str]
    ) -> tuple[list[str], list[str]]:
        """The log's input and output columns to profile, checked against the reference."""
        logged = set(columns)
        if reference is None or reference.inputs is None:
            inputs = [c for c in columns if c.startswith(INPUT_PREFIX)]
        else:
            expected = [INPUT_PREFIX + name for name in reference.inputs.columns]
            inputs = [c for c in expected if c in logged]
            if expected and not inputs:
                found = sorted(c for c in columns if c.startswith(INPUT_PREFIX))
                raise InvalidInputError(
                    f"the prediction log of {self.endpoint.name!r} no longer matches version "
                    f"{reference.version} of {reference.model_name!r}: it expects inputs "
                    f"{_names(expected)} but the log has {_names(found) or 'none'}. "
                    "Monitor a window logged by this model (--since/--until)"
                )
            missing = [c[len(INPUT_PREFIX) :] for c in expected if c not in logged]
            if missing:
                self.warn(
                    f"the log of {self.endpoint.name!r} lacks inputs {', '.join(missing)} of "
                    f"version {reference.version}'s signature; they are reported as missing"
                )
        outputs = [c for c in columns if c == PREDICTION or c.startswith(PROBA_PREFIX)]
        return inputs, outputs

    def _drift(
        self,
        reference: _Reference | None,
        current: Profile,
        inputs: Sequence[str],
        outputs: Sequence[str],
    ) -> dict[str, Any] | None:
        from shipyard.core.drift import dataset_drift

        if reference is None or reference.inputs is None:
            return None
        columns: dict[str, ColumnDrift] = {}
        for logged in inputs:
            name = logged[len(INPUT_PREFIX) :]
            found = self._column_drift(name, reference.inputs.columns[name], current, logged)
            if found is not None:
                columns[name] = found
        share: float | None
        drifted: bool | None
        share, drifted = dataset_drift(columns.values(), self.settings.drift_share)
        if not columns:  # nothing comparable: unknown, not "no drift"
            share, drifted = None, None
        skipped = sorted(
            logged[len(INPUT_PREFIX) :]
            for logged in inputs
            if logged[len(INPUT_PREFIX) :] not in columns
        )
        prediction: dict[str, ColumnDrift] = {}
        if reference.outputs is not None:
            for name, ref_column in reference.outputs.columns.items():
                logged = _output_column(name)
                if logged in outputs:
                    found = self._column_drift(logged, ref_column, current, logged)
                    if found is not None:
                        prediction[logged] = found
        return {
            "share": share,
            "threshold": self.settings.drift_share,
            "drifted": drifted,
            "compared": len(columns),
            "skipped": skipped,
            "columns": {name: result.to_dict() for name, result in columns.items()},
            "prediction": {name: result.to_dict() for name, result in prediction.items()},
        }

    def _column_drift(
        self, name: str, reference: Any, current: Profile, logged: str
    ) -> ColumnDrift | None:
        from shipyard.core.drift import column_drift

        rule = self.settings.columns.get(name)
        try:
            return column_drift(
                name,
                reference,
                current.columns[logged],
                method=None if rule is None else rule.method,
                threshold=None if rule is None else rule.threshold,
            )
        except InvalidInputError as exc:
            self.warn(f"drift of column {name!r} of {self.endpoint.name!r} not computed: {exc}")
            return None

    def _quality(
        self,
        reference: _Reference | None,
        current: Profile,
        inputs: Sequence[str],
        rejected: int,
    ) -> dict[str, Any]:
        ref_columns = (
            {} if reference is None or reference.inputs is None else reference.inputs.columns
        )
        columns = {}
        for logged in inputs:
            name = logged[len(INPUT_PREFIX) :]
            columns[name] = column_quality(ref_columns.get(name), current.columns[logged])
        logged_names = {c[len(INPUT_PREFIX) :] for c in inputs}
        return {
            "columns": columns,
            "missing_columns": sorted(set(ref_columns) - logged_names),
            "schema_violations": int(rejected),
        }

    def _alert(self, window: MonitorWindow, flat: Mapping[str, Any]) -> None:
        for fired in evaluate(self.rules, flat):
            alert = self.store.monitor.add_alert(
                NewAlert(
                    endpoint=window.endpoint,
                    window_start=window.start,
                    window_end=window.end,
                    rule=fired.rule.text,
                    metric=fired.metric,
                    value=fired.value,
                    threshold=fired.threshold,
                    message=fired.message,
                    reference=fired.reference,
                )
            )
            if alert is None:
                continue  # fired on an earlier run already
            if self.settings.webhook:
                delivered = not self.webhook_down and send_webhook(
                    self.settings.webhook,
                    {"alert": alert_dict(alert), "window": dict(flat)},
                    timeout=self.settings.webhook_timeout_s,
                    retries=self.settings.webhook_retries,
                )
                self.store.monitor.set_delivered(alert.alert_id, delivered)
                alert = replace(alert, delivered=delivered)
                if not delivered and not self.webhook_down:
                    # One dead webhook must not stall a long backfill: try it once a run.
                    self.webhook_down = True
                    self.warn(
                        "the webhook did not take an alert; the rest of this run's alerts "
                        "are stored as not delivered (shipyard alerts list)"
                    )
            self.fired.append(alert)


def _window_top_k(reference: _Reference | None) -> int:
    """How many categories a window keeps exact counts of: enough for every reference one.

    A window listing fewer would move reference categories it left out into its
    "(other)" bucket, and a column with many categories would look drifted when it is
    not. Twice the largest reference list leaves room for new values too.
    """
    from shipyard.core.profiles import DEFAULT_TOP_K, CategoricalProfile

    if reference is None or reference.inputs is None:
        return DEFAULT_TOP_K
    listed = [
        len(column.top)
        for column in reference.inputs.columns.values()
        if isinstance(column, CategoricalProfile)
    ]
    return min(_MAX_WINDOW_TOP_K, max([DEFAULT_TOP_K, *(2 * n for n in listed)]))


def _names(columns: Sequence[str], limit: int = 8) -> str:
    shown = [c[len(INPUT_PREFIX) :] if c.startswith(INPUT_PREFIX) else c for c in columns]
    more = f" and {len(shown) - limit} more" if len(shown) > limit else ""
    return ", ".join(shown[:limit]) + more


def _operations(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Operations of a window: the served traffic in all, then each version by role."""
    total = next(r for r in rows if r["role"] is None)
    per: dict[str, Any] = {}
    repeated = {r["version"] for r in rows if r["role"] is not None}
    counts = {v: sum(1 for r in rows if r["version"] == v) for v in repeated}
    for row in rows:
        if row["role"] is None:
            continue
        key = (
            str(row["version"])
            if counts[row["version"]] == 1
            else f"{row['version']}:{row['role']}"
        )
        per[key] = {k: v for k, v in row.items() if k != "version"}
    return {k: v for k, v in total.items() if k not in ("version", "role")} | {"versions": per}


# -- reading results back --------------------------------------------------------------------


def window_dict(window: MonitorWindow, alerts: Sequence[Alert] = ()) -> dict[str, Any]:
    """A stored window as the report's JSON shape (see docs/monitoring.md)."""
    results = window.results
    return {
        "start": window.start.isoformat(),
        "end": window.end.isoformat(),
        "rows": window.rows,
        "labelled": window.labelled,
        "versions": results.get("versions", []),
        "reference": results.get("reference"),
        "drift": results.get("drift"),
        "quality": results.get("quality"),
        "performance": results.get("performance"),
        "operations": results.get("operations"),
        "alerts": [alert_dict(a) for a in alerts],
    }


def alert_dict(alert: Alert) -> dict[str, Any]:
    """An alert as JSON-ready data."""
    data: dict[str, Any] = json_ready(
        {
            "id": alert.alert_id,
            "endpoint": alert.endpoint,
            "window_start": alert.window_start.isoformat(),
            "window_end": alert.window_end.isoformat(),
            "rule": alert.rule,
            "metric": alert.metric,
            "value": alert.value,
            "threshold": alert.threshold,
            "reference": alert.reference,
            "message": alert.message,
            "created_at": alert.created_at.isoformat(),
            "delivered": alert.delivered,
        }
    )
    return data


def _window_args(
    endpoint: str, since: Any, until: Any, store: Store | None
) -> tuple[Store, datetime | None, datetime | None]:
    check_name("endpoint", endpoint)
    store = store if store is not None else get_default_store()
    return store, to_moment("since", since), to_moment("until", until)


def monitor_windows(
    endpoint: str,
    since: datetime | date | str | None = None,
    until: datetime | date | str | None = None,
    *,
    store: Store | None = None,
) -> list[MonitorWindow]:
    """The stored monitoring windows of an endpoint that start in ``[since, until)``."""
    store, start, end = _window_args(endpoint, since, until, store)
    found = store.monitor.list_windows(endpoint, start, end)
    if not found:
        store.endpoints.get_endpoint(endpoint)  # an unknown name is an error, not empty
    return found


def monitor_series(
    endpoint: str, name: str, *, store: Store | None = None
) -> list[tuple[datetime, datetime, float]]:
    """One monitored figure over time: ``(window start, window end, value)``, oldest first.

    Names are those alert rules use: ``drift_share``, ``drift.<column>``, ``auc``,
    ``p99_ms``, ``error_rate``... (``shipyard monitor figures ENDPOINT`` lists them).
    """
    store, _, _ = _window_args(endpoint, None, None, store)
    points = store.monitor.series(endpoint, name)
    if not points:
        store.endpoints.get_endpoint(endpoint)  # an unknown name is an error, not empty
    return points


def monitor_figures(endpoint: str, *, store: Store | None = None) -> list[str]:
    """The names of every figure stored for an endpoint's windows, sorted."""
    store, _, _ = _window_args(endpoint, None, None, store)
    names = store.monitor.figure_names(endpoint)
    if not names:
        store.endpoints.get_endpoint(endpoint)  # an unknown name is an error, not empty
    return names


def list_alerts(
    endpoint: str | None = None,
    since: datetime | date | str | None = None,
    *,
    limit: int = 100,
    store: Store | None = None,
) -> list[Alert]:
    """Alerts, the newest window first; of one endpoint or of all."""
    if endpoint is not None:
        check_name("endpoint", endpoint)
    store = store if store is not None else get_default_store()
    return store.monitor.list_alerts(endpoint, to_moment("since", since), limit)


def monitor_report(
    endpoint: str,
    since: datetime | date | str | None = None,
    until: datetime | date | str | None = None,
    *,
    store: Store | None = None,
) -> dict[str, Any]:
    """The stored windows and alerts of an endpoint as one JSON-ready report.

    Raises:
        NotFoundError: no endpoint has that name and nothing was monitored for it.
    """
    store, start, end = _window_args(endpoint, since, until, store)
    stored = store.monitor.list_windows(endpoint, start, end)
    if not stored:
        store.endpoints.get_endpoint(endpoint)  # an unknown name is an error, not empty
    alerts = store.monitor.list_alerts(endpoint, start, limit=10_000)
    if end is not None:
        alerts = [a for a in alerts if a.window_start < end]
    by_window: dict[tuple[datetime, datetime], list[Alert]] = {}
    for alert in alerts:
        by_window.setdefault((alert.window_start, alert.window_end), []).append(alert)
    return {
        "endpoint": endpoint,
        "generated_at": datetime.now(UTC).isoformat(),
        "windows": [window_dict(w, by_window.get((w.start, w.end), ())) for w in stored],
        "alerts": [alert_dict(a) for a in alerts],
    }


def write_report(
    endpoint: str,
    path: str | Path,
    since: datetime | date | str | None = None,
    until: datetime | date | str | None = None,
    *,
    as_json: bool = False,
    store: Store | None = None,
) -> Path:
    """Write the monitoring report of an endpoint: one self-contained HTML page, or JSON.

    The page has every asset inline and opens offline: per-feature reference-vs-current
    distributions, drift over time, performance and latency over time, and alerts.

    Returns:
        The path written.
    """
    import json

    from shipyard.services._report_html import render_report

    data = monitor_report(endpoint, since, until, store=store)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=2) if as_json else render_report(data)
    target.write_text(text, encoding="utf-8")
    return target
