"""Alert rules over monitoring report windows, and webhook delivery of the alerts that fire.

A rule is one line of text, as written in ``shipyard.toml``
(``[monitor] alerts = ["drift_share > 0.3", "auc drop > 0.05 vs reference"]``)::

    rule   := METRIC [CHANGE] OP NUMBER ["vs reference"]
    METRIC := identifier, dots allowed       drift_share, p99_ms, drift.temp
    CHANGE := "drop" | "rise"                compare with the reference value, not the value
    OP     := ">" | ">=" | "<" | "<="
    NUMBER := 0.3, 50, -1, 1e-3              (no percent signs: write 0.05, not 5%)

``drop`` is ``reference - value`` and ``rise`` is ``value - reference``; both imply
``vs reference``, which may be written for readability and is refused without a CHANGE.
The reference of a metric is the registered version's metric of the same name
(``performance.reference`` in the report window). ``roc_auc`` is another name for ``auc``.
Keywords are case-insensitive; metric names are not (they may name columns).

Metric names are not checked when a rule is parsed, because the columns differ between
models: a rule whose metric a window lacks (or holds as null) does not fire.
:func:`known_metrics` lists the names every window can have; ``drift.<column>`` adds the
drift score of any input column or prediction output (``drift.output.prediction``).

Example:
    >>> rule = parse_rule("drift_share > 0.3")
    >>> window = {"drift": {"share": 0.4, "columns": {}}}
    >>> [fired.message for fired in evaluate([rule], window)]
    ['drift_share 0.40 > 0.3 (rule: drift_share > 0.3)']
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import urlsplit

from shipyard._version import __version__
from shipyard.core.errors import InvalidInputError
from shipyard.services._common import json_ready

__all__ = [
    "AlertRule",
    "Fired",
    "evaluate",
    "known_metrics",
    "parse_rule",
    "reference_values",
    "send_webhook",
    "window_values",
]

log = logging.getLogger("shipyard.monitor")

Op = Literal[">", ">=", "<", "<="]
Change = Literal["drop", "rise"]

GRAMMAR = (
    "METRIC [drop|rise] OP NUMBER [vs reference], where OP is one of > >= < <=, e.g. "
    "'drift_share > 0.3', 'p99_ms >= 50', 'auc drop > 0.05 vs reference'"
)

#: Other names a metric may be written with in rules or version metrics.
ALIASES = {"roc_auc": "auc"}

_OP_NAMES: dict[str, Op] = {">": ">", ">=": ">=", "<": "<", "<=": "<="}
_OPS: dict[str, Any] = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}

_DRIFT_METRICS = {
    "drift_share": "share of compared input columns that drifted (0-1)",
    "drifted_columns": "number of input columns that drifted",
    "prediction_drift": "drift score of output.prediction (p-value for ks/chi2, else distance)",
}
_QUALITY_METRICS = {
    "missing_rate_change": "largest rise in a column's missing rate over its reference",
    "out_of_range_rate": "largest share of a numeric column outside its reference range",
    "new_categories": "number of categories absent from the reference, over all columns",
    "schema_violations": "rows whose inputs broke the model signature",
}
_OPERATIONS_METRICS = {
    "rows": "predictions logged in the window",
    "labelled": "predictions with feedback labels",
    "requests": "requests served",
    "errors": "requests that failed",
    "error_rate": "errors / requests",
    "p50_ms": "median latency in milliseconds",
    "p95_ms": "95th percentile latency in milliseconds",
    "p99_ms": "99th percentile latency in milliseconds",
}
_PERFORMANCE_METRICS = {
    "label_coverage": "share of predictions with a label",
    "accuracy": "classification accuracy",
    "precision": "classification precision",
    "recall": "classification recall",
    "f1": "classification F1 score",
    "auc": "ROC AUC (also 'roc_auc')",
    "log_loss": "classification log loss",
    "calibration_error": "expected calibration error",
    "mae": "regression mean absolute error",
    "rmse": "regression root mean squared error",
    "mape": "regression mean absolute percentage error",
    "r2": "regression coefficient of determination",
}

_TOKEN = re.compile(
    r"\s*(?:"
    r"(?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)"
    r"|(?P<op>>=|<=|=>|=<|==|!=|>|<|=)"
    r"|(?P<other>\S)"
    r")"
)


@dataclass(frozen=True, slots=True)
class AlertRule:
    """One parsed alert rule.

    Attributes:
        text: The rule as written, without surrounding whitespace.
        metric: The metric it watches, aliases resolved (``roc_auc`` becomes ``auc``).
        op: The comparison: ``>``, ``>=``, ``<`` or ``<=``.
        threshold: The number compared with.
        change: None to compare the value itself; ``"drop"`` (reference - value) or
            ``"rise"`` (value - reference) to compare its change from the reference.
    """

    text: str
    metric: str
    op: Op
    threshold: float
    change: Change | None = None

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class Fired:
    """A rule that fired on a window.

    Attributes:
        rule: The rule.
        metric: The metric it watched.
        value: What was compared with the threshold: the metric's value, or for ``drop`` and
            ``rise`` rules its change from the reference.
        threshold: The rule's threshold.
        reference: The reference value for ``drop`` and ``rise`` rules, else None.
        message: One line for people: what was seen, against what.
    """

    rule: AlertRule
    metric: str
    value: float
    threshold: float
    reference: float | None
    message: str

    @property
    def current(self) -> float:
        """The metric's value in the window (differs from ``value`` for drop/rise rules)."""
        if self.reference is None or self.rule.change is None:
            return self.value
        if self.rule.change == "drop":
            return self.reference - self.value
        return self.reference + self.value

    def to_dict(self) -> dict[str, object]:
        """JSON-safe fields for an alert record or a webhook payload."""
        return {
            "rule": self.rule.text,
            "metric": self.metric,
            "value": self.value,
            "threshold": self.threshold,
            "reference": self.reference,
            "message": self.message,
        }


def known_metrics() -> dict[str, str]:
    """The metric names rules can use in every window, each with a one-line description.

    ``drift.<column>`` (a column's drift score) is not listed because columns differ by model.

    Returns:
        Metric name to description, grouped drift, quality, operations, performance.
    """
    return {**_DRIFT_METRICS, **_QUALITY_METRICS, **_OPERATIONS_METRICS, **_PERFORMANCE_METRICS}


def _rule_error(text: str, problem: str) -> InvalidInputError:
    return InvalidInputError(f"alert rule {text!r}: {problem}; rules read {GRAMMAR}")


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens = []
    pos = 0
    stripped = text.rstrip()
    while pos < len(stripped):
        match = _TOKEN.match(stripped, pos)
        if match is None:  # pragma: no cover - the 'other' branch matches any non-space
            break
        kind = match.lastgroup or "other"
        tokens.append((kind, match[kind]))
        pos = match.end()
    return tokens


def parse_rule(text: str) -> AlertRule:
    """Parse one alert rule, as written in ``[monitor] alerts``.

    Args:
        text: ``METRIC [drop|rise] OP NUMBER [vs reference]``, e.g. ``"p99_ms > 50"`` or
            ``"auc drop > 0.05 vs reference"``. ``drop``/``rise`` imply ``vs reference``.

    Returns:
        The rule, with ``roc_auc`` read as ``auc``.

    Raises:
        InvalidInputError: The text does not follow the grammar; the message says where.
    """
    if not isinstance(text, str):
        raise InvalidInputError(f"an alert rule must be a string such as {GRAMMAR}; got {text!r}")
    clean = text.strip()
    if not clean:
        raise _rule_error(text, "the rule is empty")
    tokens = _tokens(clean)
    kind, metric = tokens[0]
    if kind != "name":
        raise _rule_error(clean, f"expected a metric name first, got {metric!r}")
    rest = tokens[1:]

    change: Change | None = None
    if rest and rest[0][0] == "name" and rest[0][1].lower() in ("drop", "rise"):
        change = "drop" if rest[0][1].lower() == "drop" else "rise"
        rest = rest[1:]
    if not rest:
        raise _rule_error(clean, f"expected an operator after {metric!r}")
    kind, op = rest[0]
    if kind != "op" or op not in _OP_NAMES:
        hint = " (only 'drop' or 'rise' may come between them)" if kind == "name" else ""
        raise _rule_error(clean, f"expected one of > >= < <= after {metric!r}, got {op!r}{hint}")
    rest = rest[1:]
    if not rest:
        raise _rule_error(clean, f"expected a number after {op!r}")
    kind, number = rest[0]
    if kind != "number":
        raise _rule_error(clean, f"expected a number after {op!r}, got {number!r}")
    threshold = float(number)
    if not math.isfinite(threshold):
        raise _rule_error(clean, f"the threshold {number} is not a finite number")
    rest = rest[1:]
    if rest and rest[0] == ("other", "%"):
        raise _rule_error(
            clean, f"percentages are not supported: write {threshold / 100:g} for {number}%"
        )

    words = [value.lower() for _, value in rest]
    if words == ["vs", "reference"]:
        if change is None:
            raise _rule_error(
                clean,
                "'vs reference' needs 'drop' or 'rise' before the operator, e.g. "
                f"'{metric} drop {op} {number} vs reference'",
            )
    elif words:
        raise _rule_error(
            clean, f"unexpected {' '.join(v for _, v in rest)!r} after the number {number}"
        )
    return AlertRule(
        text=clean,
        metric=ALIASES.get(metric, metric),
        op=_OP_NAMES[op],
        threshold=threshold,
        change=change,
    )


# -- flattening a report window --------------------------------------------------------


def _number(value: object) -> float | None:
    """A finite float, or None for null, NaN, booleans and anything not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        return None
    return number if math.isfinite(number) else None


def _section(data: object, key: str) -> Mapping[str, Any]:
    value = data.get(key) if isinstance(data, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def _put(values: dict[str, float], name: str, value: object) -> None:
    number = _number(value)
    if number is not None:
        values[name] = number


def _metrics(values: dict[str, float], metrics: Mapping[str, Any]) -> None:
    for name, value in metrics.items():
        if isinstance(name, str) and name not in values:
            _put(values, name, value)
    for alias, name in ALIASES.items():
        if name not in values and alias in values:
            values[name] = values[alias]


def window_values(window: Mapping[str, Any]) -> dict[str, float]:
    """Flatten one report window into the metric names alert rules use.

    Sections that are missing or null, and values that are null or NaN, are left out, so a
    rule on them does not fire.

    Args:
        window: One entry of a report's ``windows`` list.

    Returns:
        Metric name to value: those of :func:`known_metrics` the window has, every
        performance metric it reports, and ``drift.<column>`` for each drift score.
    """
    values: dict[str, float] = {}
    _put(values, "rows", window.get("rows"))
    _put(values, "labelled", window.get("labelled"))

    drift = _section(window, "drift")
    _put(values, "drift_share", drift.get("share"))
    columns = _section(drift, "columns")
    drifted = [col.get("drifted") for col in columns.values() if isinstance(col, Mapping)]
    if columns:
        values["drifted_columns"] = float(sum(flag is True for flag in drifted))
    for group in (columns, _section(drift, "prediction")):
        for name, col in group.items():
            if isinstance(col, Mapping):
                _put(values, f"drift.{name}", col.get("score"))
    prediction = _section(_section(drift, "prediction"), "output.prediction")
    _put(values, "prediction_drift", prediction.get("score"))

    quality = _section(window, "quality")
    _put(values, "schema_violations", quality.get("schema_violations"))
    stats = [col for col in _section(quality, "columns").values() if isinstance(col, Mapping)]
    for name in ("missing_rate_change", "out_of_range_rate"):
        numbers = [n for n in (_number(col.get(name)) for col in stats) if n is not None]
        if numbers:
            values[name] = max(numbers)
    new = [col.get("new_categories") for col in stats if "new_categories" in col]
    if new:
        values["new_categories"] = float(sum(len(v) for v in new if isinstance(v, list | tuple)))

    operations = _section(window, "operations")
    for name in ("requests", "errors", "error_rate", "p50_ms", "p95_ms", "p99_ms"):
        _put(values, name, operations.get(name))

    performance = _section(window, "performance")
    _put(values, "label_coverage", performance.get("label_coverage"))
    _metrics(values, _section(performance, "metrics"))
    return values


def reference_values(window: Mapping[str, Any]) -> dict[str, float]:
    """The reference values ``drop`` and ``rise`` rules compare with.

    Args:
        window: One entry of a report's ``windows`` list.

    Returns:
        ``performance.reference`` as metric name to value (nulls left out, ``roc_auc``
        also under ``auc``); empty when the window has no performance section.
    """
    values: dict[str, float] = {}
    _metrics(values, _section(_section(window, "performance"), "reference"))
    return values


# -- evaluation ---------------------------------------------------------------------------


def _decimals(threshold: float) -> int:
    """Decimal places to print values with: one more than the threshold was written with."""
    exponent = Decimal(repr(threshold)).normalize().as_tuple().exponent
    places = -exponent if isinstance(exponent, int) else 0
    return min(max(places, 0) + 1, 12)


def _whole(decimals: int, *values: float) -> bool:
    """Whether to print ``values`` as integers: all are, and so is the threshold."""
    return decimals == 1 and all(v.is_integer() and abs(v) < 1e15 for v in values)


def _show(value: float, decimals: int, *, whole: bool = False) -> str:
    if whole:
        return str(int(value))  # counts against whole thresholds: "3 > 0", not "3.0 > 0"
    if value and abs(value) < 1:
        # Keep two significant digits of small values: 0.00012 against a threshold of 5.
        decimals = max(decimals, 1 - math.floor(math.log10(abs(value))))
    return f"{value:.{min(decimals, 15)}f}"


def _threshold_text(threshold: float) -> str:
    return format(Decimal(repr(threshold)).normalize(), "f")


def _check(rule: AlertRule, values: Mapping[str, float], refs: Mapping[str, float]) -> Fired | None:
    current = values.get(rule.metric)
    if current is None:
        return None
    places = _decimals(rule.threshold)
    limit = _threshold_text(rule.threshold)
    if rule.change is None:
        if not _OPS[rule.op](current, rule.threshold):
            return None
        shown = _show(current, places, whole=_whole(places, current))
        message = f"{rule.metric} {shown} {rule.op} {limit} (rule: {rule.text})"
        return Fired(rule, rule.metric, current, rule.threshold, None, message)
    reference = refs.get(rule.metric)
    if reference is None:
        return None
    delta = reference - current if rule.change == "drop" else current - reference
    if not _OPS[rule.op](delta, rule.threshold):
        return None
    verb = "dropped" if rule.change == "drop" else "rose"
    whole = _whole(places, delta, reference, current)
    message = (
        f"{rule.metric} {verb} {_show(delta, places, whole=whole)} vs reference "
        f"{_show(reference, places, whole=whole)} ({_show(current, places, whole=whole)} now) "
        f"{rule.op} {limit}"
    )
    return Fired(rule, rule.metric, delta, rule.threshold, reference, message)


def evaluate(rules: Iterable[AlertRule | str], window: Mapping[str, Any]) -> list[Fired]:
    """The rules that fire on one report window, in the order given.

    A rule whose metric (or, for ``drop``/``rise``, reference value) the window lacks does not
    fire.

    Args:
        rules: Parsed rules, or rule texts to parse.
        window: One entry of a report's ``windows`` list.

    Returns:
        One :class:`Fired` per rule that fired.

    Raises:
        InvalidInputError: A rule text does not parse.
    """
    parsed = [rule if isinstance(rule, AlertRule) else parse_rule(rule) for rule in rules]
    values = window_values(window)
    refs = reference_values(window)
    return [fired for rule in parsed if (fired := _check(rule, values, refs)) is not None]


# -- delivery -----------------------------------------------------------------------------


def _where(url: str) -> str:
    """The scheme and host of a URL: webhook paths often hold secrets, so logs show only this."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}" if parts.netloc else "?"
    except ValueError:
        return "?"


def send_webhook(
    url: str,
    payload: Mapping[str, Any],
    *,
    timeout: float,
    retries: int,
    backoff: float = 0.5,
) -> bool:
    """POST ``payload`` as JSON to ``url``, retrying transient failures; never raises.

    Connection errors, timeouts, 5xx and 429 answers are retried ``retries`` more times,
    waiting ``backoff``, then twice as long each time. A 2xx answer is success; any other
    answer (4xx, 3xx) fails at once. NaN and infinities in the payload are sent as null;
    values JSON cannot hold (datetimes) are sent as their ``str()``.

    Args:
        url: The webhook address (http or https).
        payload: The JSON body.
        timeout: Seconds each attempt may take (connect, send and read).
        retries: Attempts after the first; negative counts as 0.
        backoff: Seconds to wait before the first retry; doubles for each next one.

    Returns:
        True when the webhook answered 2xx; False otherwise, after logging a warning on the
        ``shipyard.monitor`` logger.
    """
    import httpx

    where = _where(url)
    try:
        body = json.dumps(json_ready(payload), allow_nan=False, default=str).encode()
        client = httpx.Client(
            timeout=timeout,
            headers={"Content-Type": "application/json", "User-Agent": f"shipyard/{__version__}"},
        )
    except Exception as exc:  # the caller's loop must go on: report, do not raise
        log.warning("webhook %s not sent: %s: %s", where, type(exc).__name__, exc)
        return False

    attempts = 0
    problem = "not attempted"
    with client:
        while attempts <= max(0, retries):
            if attempts:
                time.sleep(max(0.0, backoff) * 2 ** (attempts - 1))
            attempts += 1
            try:
                response = client.post(url, content=body)
            except httpx.TransportError as exc:  # connection refused/reset, timeouts
                problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                log.debug("webhook %s attempt %d failed: %s", where, attempts, problem)
                continue
            except Exception as exc:  # a malformed URL and the like: retrying cannot help
                problem = f"{type(exc).__name__}: {exc}"
                break
            if response.is_success:
                return True
            problem = f"HTTP {response.status_code}"
            if response.status_code != 429 and response.status_code < 500:
                break
            log.debug("webhook %s attempt %d failed: %s", where, attempts, problem)
    log.warning("webhook %s failed after %d attempt(s): %s", where, attempts, problem)
    return False
