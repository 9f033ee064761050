"""Alert rules: parsing, evaluation over report windows, and webhook delivery to real servers."""

from __future__ import annotations

import json
import logging
import math
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from shipyard.core.errors import InvalidInputError
from shipyard.services._alerts import (
    AlertRule,
    Fired,
    evaluate,
    known_metrics,
    parse_rule,
    reference_values,
    send_webhook,
    window_values,
)

# -- parsing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "drift_share > 0.3",
            AlertRule("drift_share > 0.3", "drift_share", ">", 0.3),
            id="plain",
        ),
        pytest.param("p99_ms>=50", AlertRule("p99_ms>=50", "p99_ms", ">=", 50.0), id="no-spaces"),
        pytest.param(
            "  error_rate  <=  1e-3 ",
            AlertRule("error_rate  <=  1e-3", "error_rate", "<=", 0.001),
            id="exponent-and-padding",
        ),
        pytest.param("r2 < -0.5", AlertRule("r2 < -0.5", "r2", "<", -0.5), id="negative"),
        pytest.param("mae > .5", AlertRule("mae > .5", "mae", ">", 0.5), id="leading-dot"),
        pytest.param(
            "drift.temp < 0.05",
            AlertRule("drift.temp < 0.05", "drift.temp", "<", 0.05),
            id="dotted-metric",
        ),
        pytest.param(
            "auc drop > 0.05 vs reference",
            AlertRule("auc drop > 0.05 vs reference", "auc", ">", 0.05, "drop"),
            id="drop-vs-reference",
        ),
        pytest.param(
            "auc drop > 0.05",
            AlertRule("auc drop > 0.05", "auc", ">", 0.05, "drop"),
            id="drop-implies-reference",
        ),
        pytest.param(
            "rmse RISE >= 2 VS Reference",
            AlertRule("rmse RISE >= 2 VS Reference", "rmse", ">=", 2.0, "rise"),
            id="keywords-any-case",
        ),
        pytest.param(
            "roc_auc < 0.7", AlertRule("roc_auc < 0.7", "auc", "<", 0.7), id="roc_auc-alias"
        ),
        pytest.param(
            "my_custom.metric_2 > 1",
            AlertRule("my_custom.metric_2 > 1", "my_custom.metric_2", ">", 1.0),
            id="unknown-metric-is-fine",
        ),
        pytest.param("drop > 3", AlertRule("drop > 3", "drop", ">", 3.0), id="metric-named-drop"),
    ],
)
def test_parse_rule(text: str, expected: AlertRule) -> None:
    assert parse_rule(text) == expected


@pytest.mark.parametrize(
    ("text", "match"),
    [
        pytest.param("", "the rule is empty", id="empty"),
        pytest.param("   ", "the rule is empty", id="blank"),
        pytest.param("> 0.3", "expected a metric name first, got '>'", id="no-metric"),
        pytest.param("auc", "expected an operator after 'auc'", id="no-operator"),
        pytest.param("auc = 0.5", r"expected one of > >= < <= after 'auc', got '='", id="equals"),
        pytest.param("auc == 0.5", "got '=='", id="double-equals"),
        pytest.param("auc => 0.5", "got '=>'", id="reversed-operator"),
        pytest.param(
            "auc decrease > 0.05", "only 'drop' or 'rise' may come between them", id="bad-change"
        ),
        pytest.param("auc >", "expected a number after '>'", id="no-number"),
        pytest.param("auc > high", "expected a number after '>', got 'high'", id="word-number"),
        pytest.param("auc > inf", "expected a number", id="inf-word"),
        pytest.param("auc > 1e999", "not a finite number", id="overflow"),
        pytest.param("error_rate > 5%", r"percentages are not supported: write 0\.05", id="pct"),
        pytest.param("p99_ms > 50ms", "unexpected 'ms' after the number 50", id="unit"),
        pytest.param(
            "auc < 0.7 vs reference", "'vs reference' needs 'drop' or 'rise'", id="vs-no-change"
        ),
        pytest.param(
            "auc drop > 0.05 vs baseline", "unexpected 'vs baseline'", id="vs-something-else"
        ),
        pytest.param("auc > 0.5 and p99_ms > 3", "unexpected 'and p99_ms > 3'", id="compound"),
        pytest.param("1auc > 0.5", "expected a metric name first, got '1'", id="digit-first"),
    ],
)
def test_parse_rule_errors_name_the_problem_and_the_grammar(text: str, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match) as info:
        parse_rule(text)
    assert "METRIC [drop|rise] OP NUMBER [vs reference]" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_parse_rule_refuses_what_is_not_text() -> None:
    with pytest.raises(InvalidInputError, match="must be a string"):
        parse_rule(0.3)  # type: ignore[arg-type]


def test_known_metrics_cover_every_flat_name_of_a_full_window() -> None:
    known = known_metrics()
    assert all(isinstance(text, str) and text for text in known.values())
    flat = {name for name in window_values(full_window()) if not name.startswith("drift.")}
    assert flat <= set(known)
    assert {"drift_share", "p99_ms", "auc", "rmse", "label_coverage"} <= set(known)


# -- report windows ----------------------------------------------------------------------


def drift_entry(score: float | None, drifted: bool, method: str = "wasserstein") -> dict[str, Any]:
    """The parts of ``ColumnDrift.to_dict()`` the rules read."""
    return {"method": method, "score": score, "threshold": 0.1, "drifted": drifted}


def full_window() -> dict[str, Any]:
    """A classification window as the report's JSON shape has it."""
    return {
        "start": "2013-03-01T00:00:00+00:00",
        "end": "2013-04-01T00:00:00+00:00",
        "rows": 26000,
        "labelled": 25000,
        "versions": [3],
        "reference": {"model": "flight-delays", "version": 3},
        "drift": {
            "share": 0.4,
            "threshold": 0.5,
            "drifted": False,
            "columns": {
                "temp": drift_entry(0.31, True),
                "dep_hour": drift_entry(0.02, False),
                "carrier": drift_entry(0.25, True, "jensenshannon"),
                "distance": drift_entry(0.01, False),
                "origin": drift_entry(None, False, "chi2"),
            },
            "prediction": {
                "output.prediction": drift_entry(0.003, False, "ks"),
                "output.proba.1": drift_entry(0.12, True),
            },
        },
        "quality": {
            "columns": {
                "temp": {
                    "missing_rate": 0.01,
                    "reference_missing_rate": 0.0,
                    "missing_rate_change": 0.01,
                    "out_of_range_rate": 0.002,
                    "new_categories": [],
                    "constant": False,
                },
                "dep_hour": {
                    "missing_rate": 0.05,
                    "reference_missing_rate": 0.02,
                    "missing_rate_change": 0.03,
                    "out_of_range_rate": None,
                    "new_categories": [],
                    "constant": False,
                },
                "carrier": {
                    "missing_rate": 0.0,
                    "reference_missing_rate": 0.0,
                    "missing_rate_change": -0.01,
                    "out_of_range_rate": None,
                    "new_categories": ["ZZ", "QQ"],
                    "constant": False,
                },
                "origin": {"missing_rate_change": float("nan"), "new_categories": ["XYZ"]},
            },
            "schema_violations": 3,
        },
        "performance": {
            "task": "classification",
            "label_coverage": 0.96,
            "labelled": 25000,
            "metrics": {
                "accuracy": 0.80,
                "precision": 0.71,
                "recall": 0.55,
                "f1": 0.62,
                "auc": 0.710,
                "log_loss": 0.52,
                "calibration_error": None,
            },
            "reference": {"auc": 0.781, "accuracy": 0.82, "log_loss": 0.45},
        },
        "operations": {
            "requests": 26000,
            "errors": 3,
            "error_rate": 3 / 26000,
            "p50_ms": 3.1,
            "p95_ms": 8,
            "p99_ms": 73.25,
            "versions": {"3": {"role": "primary", "requests": 26000, "errors": 3}},
        },
        "alerts": [],
    }


def regression_window() -> dict[str, Any]:
    window = full_window()
    window["performance"] = {
        "task": "regression",
        "label_coverage": 0.5,
        "labelled": 13000,
        "metrics": {"mae": 4.2, "rmse": 6.5, "mape": 0.12, "r2": 0.61},
        "reference": {"mae": 3.9, "rmse": 5.0, "r2": 0.70},
    }
    return window


def test_window_values_flattens_every_section() -> None:
    values = window_values(full_window())
    assert values == {
        "rows": 26000.0,
        "labelled": 25000.0,
        "drift_share": 0.4,
        "drifted_columns": 2.0,
        "drift.temp": 0.31,
        "drift.dep_hour": 0.02,
        "drift.carrier": 0.25,
        "drift.distance": 0.01,
        "drift.output.prediction": 0.003,
        "drift.output.proba.1": 0.12,
        "prediction_drift": 0.003,
        "schema_violations": 3.0,
        "missing_rate_change": 0.03,
        "out_of_range_rate": 0.002,
        "new_categories": 3.0,
        "requests": 26000.0,
        "errors": 3.0,
        "error_rate": 3 / 26000,
        "p50_ms": 3.1,
        "p95_ms": 8.0,
        "p99_ms": 73.25,
        "label_coverage": 0.96,
        "accuracy": 0.80,
        "precision": 0.71,
        "recall": 0.55,
        "f1": 0.62,
        "auc": 0.710,
        "log_loss": 0.52,
    }
    assert all(type(value) is float for value in values.values())


def test_reference_values_come_from_the_version_metrics() -> None:
    assert reference_values(full_window()) == {"auc": 0.781, "accuracy": 0.82, "log_loss": 0.45}


def test_roc_auc_in_the_report_also_answers_to_auc() -> None:
    window = full_window()
    window["performance"]["metrics"] = {"roc_auc": 0.7}
    window["performance"]["reference"] = {"roc_auc": 0.8}
    assert window_values(window)["auc"] == 0.7
    assert reference_values(window) == {"roc_auc": 0.8, "auc": 0.8}
    [fired] = evaluate(["roc_auc drop > 0.05"], window)
    assert fired.metric == "auc"
    assert fired.value == pytest.approx(0.1)


@pytest.mark.parametrize(
    "window",
    [
        pytest.param({}, id="empty"),
        pytest.param(
            {"drift": None, "quality": None, "performance": None, "operations": None}, id="nulls"
        ),
        pytest.param(
            {"drift": [], "quality": "x", "performance": 3, "operations": {"p99_ms": "slow"}},
            id="wrong-types",
        ),
        pytest.param(
            {"drift": {"share": float("nan")}, "operations": {"p99_ms": math.inf}},
            id="non-finite",
        ),
        pytest.param(
            {"drift": {"columns": {"temp": None}}, "quality": {"columns": {"temp": None}}},
            id="null-columns",
        ),
    ],
)
def test_incomplete_windows_flatten_to_what_is_there_and_fire_nothing(
    window: dict[str, Any],
) -> None:
    values = window_values(window)
    assert set(values) <= {"drifted_columns"}
    rules = ["drift_share > 0", "p99_ms > 0", "auc drop > 0", "new_categories >= 0", "rows >= 0"]
    assert evaluate(rules, window) == []


# -- evaluation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "value", "message"),
    [
        pytest.param(
            "drift_share > 0.3", 0.4, "drift_share 0.40 > 0.3 (rule: drift_share > 0.3)", id="share"
        ),
        pytest.param(
            "drifted_columns >= 2",
            2.0,
            "drifted_columns 2 >= 2 (rule: drifted_columns >= 2)",
            id="drifted-count",
        ),
        pytest.param(
            "drift.temp > 0.3",
            0.31,
            "drift.temp 0.31 > 0.3 (rule: drift.temp > 0.3)",
            id="column-distance",
        ),
        pytest.param(
            "prediction_drift < 0.05",
            0.003,
            "prediction_drift 0.0030 < 0.05 (rule: prediction_drift < 0.05)",
            id="prediction-p-value",
        ),
        pytest.param(
            "drift.output.proba.1 >= 0.1",
            0.12,
            "drift.output.proba.1 0.12 >= 0.1 (rule: drift.output.proba.1 >= 0.1)",
            id="output-column",
        ),
        pytest.param(
            "missing_rate_change > 0.02",
            0.03,
            "missing_rate_change 0.030 > 0.02 (rule: missing_rate_change > 0.02)",
            id="missing-rate",
        ),
        pytest.param(
            "out_of_range_rate > 0.001",
            0.002,
            "out_of_range_rate 0.0020 > 0.001 (rule: out_of_range_rate > 0.001)",
            id="out-of-range",
        ),
        pytest.param(
            "new_categories > 0",
            3.0,
            "new_categories 3 > 0 (rule: new_categories > 0)",
            id="new-categories",
        ),
        pytest.param(
            "schema_violations >= 1",
            3.0,
            "schema_violations 3 >= 1 (rule: schema_violations >= 1)",
            id="schema-violations",
        ),
        pytest.param(
            "requests > 20000",
            26000.0,
            "requests 26000 > 20000 (rule: requests > 20000)",
            id="requests",
        ),
        pytest.param(
            "error_rate > 1e-4",
            3 / 26000,
            "error_rate 0.00012 > 0.0001 (rule: error_rate > 1e-4)",
            id="error-rate-exponent",
        ),
        pytest.param("p99_ms > 50", 73.25, "p99_ms 73.2 > 50 (rule: p99_ms > 50)", id="latency"),
        pytest.param(
            "label_coverage < 0.99",
            0.96,
            "label_coverage 0.960 < 0.99 (rule: label_coverage < 0.99)",
            id="label-coverage",
        ),
        pytest.param("auc < 0.75", 0.71, "auc 0.710 < 0.75 (rule: auc < 0.75)", id="auc-value"),
        pytest.param(
            "accuracy <= 0.8",
            0.8,
            "accuracy 0.80 <= 0.8 (rule: accuracy <= 0.8)",
            id="boundary-inclusive",
        ),
    ],
)
def test_each_metric_kind_fires_with_a_readable_message(
    rule: str, value: float, message: str
) -> None:
    parsed = parse_rule(rule)
    [fired] = evaluate([parsed], full_window())
    assert fired == Fired(parsed, parsed.metric, fired.value, parsed.threshold, None, message)
    assert fired.value == pytest.approx(value)
    assert fired.current == fired.value


@pytest.mark.parametrize(
    "rule",
    [
        pytest.param("drift_share > 0.4", id="boundary-exclusive"),
        pytest.param("drift_share < 0.4", id="boundary-below"),
        pytest.param("p99_ms < 50", id="below"),
        pytest.param("drift.origin < 1", id="null-score"),
        pytest.param("calibration_error > 0", id="null-metric"),
        pytest.param("rmse > 0", id="other-task"),
        pytest.param("drift.nope > 0", id="unknown-column"),
        pytest.param("precision drop > 0", id="no-reference-value"),
        pytest.param("auc drop > 0.1", id="drop-too-small"),
        pytest.param("auc rise > 0", id="did-not-rise"),
    ],
)
def test_rules_that_do_not_hold_or_lack_data_do_not_fire(rule: str) -> None:
    assert evaluate([rule], full_window()) == []


@pytest.mark.parametrize(
    ("window", "rule", "value", "reference", "current", "message"),
    [
        pytest.param(
            full_window(),
            "auc drop > 0.05 vs reference",
            0.071,
            0.781,
            0.710,
            "auc dropped 0.071 vs reference 0.781 (0.710 now) > 0.05",
            id="auc-drop",
        ),
        pytest.param(
            full_window(),
            "log_loss rise >= 0.05",
            0.07,
            0.45,
            0.52,
            "log_loss rose 0.070 vs reference 0.450 (0.520 now) >= 0.05",
            id="log-loss-rise",
        ),
        pytest.param(
            regression_window(),
            "rmse rise > 1",
            1.5,
            5.0,
            6.5,
            "rmse rose 1.5 vs reference 5.0 (6.5 now) > 1",
            id="rmse-rise",
        ),
        pytest.param(
            regression_window(),
            "r2 drop > 0.05 vs reference",
            0.09,
            0.70,
            0.61,
            "r2 dropped 0.090 vs reference 0.700 (0.610 now) > 0.05",
            id="r2-drop",
        ),
        pytest.param(
            full_window(),
            "accuracy drop < 0.05",
            0.02,
            0.82,
            0.80,
            "accuracy dropped 0.020 vs reference 0.820 (0.800 now) < 0.05",
            id="small-drop-rule",
        ),
    ],
)
def test_change_rules_compare_with_the_reference(
    window: dict[str, Any],
    rule: str,
    value: float,
    reference: float,
    current: float,
    message: str,
) -> None:
    [fired] = evaluate([parse_rule(rule)], window)
    assert fired.value == pytest.approx(value)
    assert fired.reference == reference
    assert fired.current == pytest.approx(current)
    assert fired.message == message
    assert fired.to_dict() == {
        "rule": rule,
        "metric": fired.rule.metric,
        "value": fired.value,
        "threshold": fired.threshold,
        "reference": reference,
        "message": message,
    }


def test_evaluate_keeps_rule_order_and_parses_text() -> None:
    rules: list[AlertRule | str] = [
        "p99_ms > 50",
        parse_rule("auc drop > 0.05"),
        "drift_share > 0.9",
        "errors >= 3",
    ]
    fired = evaluate(rules, full_window())
    assert [f.rule.text for f in fired] == ["p99_ms > 50", "auc drop > 0.05", "errors >= 3"]
    assert json.loads(json.dumps([f.to_dict() for f in fired]))[0]["metric"] == "p99_ms"


def test_evaluate_reports_a_bad_rule_text() -> None:
    with pytest.raises(InvalidInputError, match="'p99 > fast'"):
        evaluate(["p99 > fast"], full_window())


# -- webhooks: real loopback servers ------------------------------------------------------


@dataclass
class Hook:
    """A loopback webhook: what it received and how it answers."""

    url: str
    statuses: list[int] = field(default_factory=list)  # answered in turn, then 200
    hang: bool = False  # hold each request until the test ends
    bodies: list[Any] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)


@pytest.fixture
def hook() -> Iterator[Hook]:
    """A ThreadingHTTPServer on a free loopback port, stopped (threads joined) at teardown."""
    release = threading.Event()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                state.times.append(time.monotonic())
                state.bodies.append(json.loads(body))
                state.headers.append(dict(self.headers))
                status = state.statuses.pop(0) if state.statuses else 200
            if state.hang:
                release.wait(5)
                return  # the client gave up long ago: answer nothing
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output quiet

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = False  # so server_close() joins the handler threads
    host, port = server.server_address[:2]
    state = Hook(url=f"http://{host!s}:{port}/hooks/secret-token")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    try:
        yield state
    finally:
        release.set()
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL nothing listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


PAYLOAD = {"endpoint": "flight-delays", "alerts": [{"metric": "p99_ms", "value": 73.2}]}


def send(url: str, payload: dict[str, Any] | None = None, **kwargs: Any) -> bool:
    options: dict[str, Any] = {"timeout": 2.0, "retries": 2, "backoff": 0.01} | kwargs
    return send_webhook(url, PAYLOAD if payload is None else payload, **options)


def test_webhook_posts_json_once(hook: Hook, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="shipyard.monitor"):
        assert send(hook.url) is True
    assert hook.bodies == [PAYLOAD]
    assert hook.headers[0]["Content-Type"] == "application/json"
    assert hook.headers[0]["User-Agent"].startswith("shipyard/")
    assert caplog.records == []


def test_webhook_sends_non_finite_numbers_as_null(hook: Hook) -> None:
    assert send(hook.url, {"value": float("nan"), "nested": [math.inf, 1.5]}) is True
    assert hook.bodies == [{"value": None, "nested": [None, 1.5]}]


@pytest.mark.parametrize(
    ("statuses", "retries", "delivered", "attempts"),
    [
        pytest.param([500], 2, True, 2, id="500-then-ok"),
        pytest.param([503, 502], 2, True, 3, id="two-5xx-then-ok"),
        pytest.param([429], 1, True, 2, id="429-is-retried"),
        pytest.param([500, 500, 500], 2, False, 3, id="5xx-until-out-of-retries"),
        pytest.param([500], 0, False, 1, id="no-retries"),
        pytest.param([500], -3, False, 1, id="negative-retries-as-none"),
        pytest.param([404], 3, False, 1, id="404-not-retried"),
        pytest.param([400], 3, False, 1, id="400-not-retried"),
        pytest.param([204], 3, True, 1, id="204-is-success"),
    ],
)
def test_webhook_retries_only_what_may_pass_later(
    hook: Hook,
    caplog: pytest.LogCaptureFixture,
    statuses: list[int],
    retries: int,
    delivered: bool,
    attempts: int,
) -> None:
    hook.statuses = list(statuses)
    with caplog.at_level(logging.WARNING, logger="shipyard.monitor"):
        assert send(hook.url, retries=retries) is delivered
    assert len(hook.bodies) == attempts
    assert all(body == PAYLOAD for body in hook.bodies)
    if delivered:
        assert caplog.records == []
    else:
        [record] = caplog.records
        assert record.levelno == logging.WARNING
        assert f"failed after {attempts} attempt(s): HTTP {statuses[-1]}" in record.getMessage()
        # Webhook paths often carry tokens: the log shows the host only.
        assert "secret-token" not in record.getMessage()


def test_webhook_backs_off_exponentially(hook: Hook) -> None:
    hook.statuses = [500, 500, 500]
    assert send(hook.url, retries=3, backoff=0.05) is True
    gaps = [later - earlier for earlier, later in zip(hook.times, hook.times[1:], strict=False)]
    assert len(gaps) == 3
    for gap, wait in zip(gaps, [0.05, 0.1, 0.2], strict=True):
        assert wait <= gap < wait + 0.5


def test_webhook_gives_up_on_a_server_slower_than_the_timeout(
    hook: Hook, caplog: pytest.LogCaptureFixture
) -> None:
    hook.hang = True
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="shipyard.monitor"):
        assert send(hook.url, timeout=0.2, retries=1) is False
    assert time.monotonic() - started < 2
    assert len(hook.bodies) == 2
    [record] = caplog.records
    assert "failed after 2 attempt(s): ReadTimeout" in record.getMessage()


def test_webhook_survives_a_refused_connection(
    closed_port_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="shipyard.monitor"):
        assert send(closed_port_url, retries=2) is False
    [record] = caplog.records
    assert "http://127.0.0.1:" in record.getMessage()
    assert "failed after 3 attempt(s): ConnectError" in record.getMessage()


@pytest.mark.parametrize(
    ("url", "payload", "problem"),
    [
        pytest.param("not a url", PAYLOAD, "UnsupportedProtocol", id="no-scheme"),
        pytest.param("ftp://127.0.0.1/hook", PAYLOAD, "UnsupportedProtocol", id="ftp"),
        pytest.param("http://[::1/hook", PAYLOAD, "InvalidURL", id="malformed"),
    ],
)
def test_webhook_never_raises(
    url: str, payload: dict[Any, Any], problem: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="shipyard.monitor"):
        assert send(url, payload, retries=0) is False
    [record] = caplog.records
    assert problem in record.getMessage()
