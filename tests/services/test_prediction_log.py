"""shipyard.prediction_log and shipyard.log_feedback: reading the log back, joined with labels.

The rows are written by the real writer into real Parquet files; reads go through DuckDB.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import shipyard
from shipyard import InvalidInputError
from shipyard.stores import ArtifactStore
from shipyard.stores._prediction_log import LogBatch, PredictionLogWriter

MARCH_1 = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[shipyard.Store]:
    """A store whose artifacts are a temporary folder (the log needs no metadata tables)."""
    made = shipyard.Store.from_urls(
        f"sqlite:///{tmp_path / 'shipyard.db'}", str(tmp_path / "artifacts")
    )
    yield made
    made.close()


def log_rows(
    artifacts: ArtifactStore,
    rows: list[tuple[str, datetime, int, str]],
    *,
    endpoint: str = "flights",
) -> None:
    """Log one-row calls: (prediction id, arrival time, version, role) each."""
    writer = PredictionLogWriter(artifacts)
    for prediction_id, at, version, role in rows:
        writer.submit(
            LogBatch(
                endpoint=endpoint,
                model="delays",
                version=version,
                role=role,
                prediction_ids=[prediction_id],
                received_at=np.array([at.timestamp()]),
                latency_ms=np.array([2.0]),
                status=200,
                error=None,
                inputs=pd.DataFrame({"distance": [version * 100]}),
                predictions=np.array(["late"]),
                probabilities=np.array([[0.25, 0.75]]),
                classes=["on_time", "late"],
            )
        )
    assert writer.close()


@pytest.fixture
def logged(store: shipyard.Store) -> shipyard.Store:
    """Four predictions over three days, by two versions in three roles."""
    log_rows(
        store.artifacts,
        [
            ("a", MARCH_1, 1, "primary"),
            ("b", MARCH_1 + timedelta(hours=1), 2, "canary"),
            ("c", MARCH_1 + timedelta(days=1), 1, "primary"),
            ("d", MARCH_1 + timedelta(days=2), 3, "shadow"),
        ],
    )
    return store


def test_the_log_is_joined_with_the_latest_label(logged: shipyard.Store) -> None:
    assert (
        shipyard.log_feedback("flights", [{"prediction_id": "a", "label": "on_time"}], store=logged)
        == 1
    )
    items = [{"prediction_id": "a", "label": "late"}, {"prediction_id": "c", "label": "late"}]
    assert shipyard.log_feedback("flights", items, store=logged) == 2

    got = shipyard.prediction_log("flights", store=logged)
    assert got["prediction_id"].tolist() == ["a", "b", "c", "d"]
    assert got.columns.tolist() == [
        "prediction_id", "endpoint", "model", "version", "role", "ts", "latency_ms", "status",
        "error", "input.distance", "output.prediction", "output.proba.on_time",
        "output.proba.late", "label", "label_ts",
    ]  # fmt: skip
    labels = dict(zip(got["prediction_id"], got["label"], strict=True))
    assert labels["a"] == "late"
    assert labels["c"] == "late"
    assert pd.isna(labels["b"])
    assert pd.isna(labels["d"])
    assert got["label_ts"].notna().tolist() == [True, False, True, False]
    assert got["ts"].dt.tz is not None
    assert str(got["ts"].dt.tz) == "UTC"


@pytest.mark.parametrize(
    ("since", "until", "expected"),
    [
        pytest.param(None, None, ["a", "b", "c", "d"], id="everything"),
        pytest.param("2024-03-02", None, ["c", "d"], id="iso-date"),
        pytest.param(None, "2024-03-01T10:30:00Z", ["a"], id="iso-time-with-zone"),
        pytest.param(datetime(2024, 3, 1, 11), datetime(2024, 3, 3), ["b", "c"], id="naive-is-utc"),
        pytest.param(
            datetime(2024, 3, 1, 12, tzinfo=timezone(timedelta(hours=1))),
            None,
            ["b", "c", "d"],
            id="aware-other-zone",
        ),
        pytest.param(date(2024, 3, 3), None, ["d"], id="date"),
        pytest.param(MARCH_1, MARCH_1, [], id="empty-window"),
    ],
)
def test_since_and_until(
    logged: shipyard.Store, since: Any, until: Any, expected: list[str]
) -> None:
    got = shipyard.prediction_log("flights", since, until, store=logged)
    assert got["prediction_id"].tolist() == expected


def test_roles_filter(logged: shipyard.Store) -> None:
    canary = shipyard.prediction_log("flights", roles="canary", store=logged)
    assert canary["prediction_id"].tolist() == ["b"]
    others = shipyard.prediction_log("flights", roles=["primary", "shadow"], store=logged)
    assert others["prediction_id"].tolist() == ["a", "c", "d"]


def test_an_endpoint_with_no_log_gives_an_empty_frame(store: shipyard.Store) -> None:
    got = shipyard.prediction_log("nothing-yet", store=store)
    assert len(got) == 0
    assert got.columns.tolist()[-2:] == ["label", "label_ts"]
    assert "prediction_id" in got.columns


def test_the_default_store_is_used(logged: shipyard.Store) -> None:
    previous = shipyard.set_default_store(logged)
    try:
        shipyard.log_feedback("flights", [{"prediction_id": "d", "label": 1}])
        got = shipyard.prediction_log("flights", since="2024-03-03")
    finally:
        shipyard.set_default_store(previous)
    assert got["label"].tolist() == [1]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param(
            {"since": "2024-03-02", "until": "2024-03-01"},
            r"since \(2024-03-02T00:00:00\+00:00\) is after until \(2024-03-01T00:00:00\+00:00\)",
            id="since-after-until",
        ),
        pytest.param(
            {"since": "yesterday"}, r"since must be an ISO 8601 .* got 'yesterday'", id="bad-iso"
        ),
        pytest.param({"until": 1709287200}, "until must be a datetime, .* got int", id="number"),
        pytest.param(
            {"roles": ["primary", "main"]},
            "roles must be among primary, canary, shadow; got 'main'",
            id="role",
        ),
        pytest.param({"endpoint": "../etc"}, "endpoint name must start", id="endpoint"),
    ],
)
def test_prediction_log_refuses_bad_arguments(
    store: shipyard.Store, kwargs: dict[str, Any], message: str
) -> None:
    endpoint = kwargs.pop("endpoint", "flights")
    with pytest.raises(InvalidInputError, match=message):
        shipyard.prediction_log(endpoint, store=store, **kwargs)


def test_log_feedback_accepts_numbers_booleans_and_numpy_scalars(store: shipyard.Store) -> None:
    items = [
        {"prediction_id": "a", "label": np.int64(3)},
        {"prediction_id": "b", "label": 2.5},
    ]
    assert shipyard.log_feedback("flights", items, store=store) == 2
    assert (
        shipyard.log_feedback("flights", [{"prediction_id": "c", "label": True}], store=store) == 1
    )
    assert shipyard.log_feedback("flights", [], store=store) == 0


@pytest.mark.parametrize(
    ("items", "message"),
    [
        pytest.param(
            {"prediction_id": "a", "label": 1}, "must be a list of .* got dict", id="dict"
        ),
        pytest.param("a", "must be a list of .* got str", id="string"),
        pytest.param([("a", 1)], "feedback item 0 must be a dict .* got tuple", id="tuple-item"),
        pytest.param([{"prediction_id": "a"}], "feedback item 0 .*; missing label", id="missing"),
        pytest.param(
            [{"prediction_id": "a", "label": 1}, {"prediction_id": "b", "label": 1, "x": 2}],
            "feedback item 1 must have exactly 'prediction_id' and 'label'; unexpected x",
            id="extra",
        ),
        pytest.param(
            [{"prediction_id": "", "label": 1}],
            "feedback item 0: prediction_id must be a non-empty string .* got ''",
            id="empty-id",
        ),
        pytest.param(
            [{"prediction_id": 7, "label": 1}],
            "prediction_id must be a non-empty string",
            id="int-id",
        ),
        pytest.param(
            [{"prediction_id": "a", "label": None}], "feedback item 0: label is null", id="null"
        ),
        pytest.param(
            [{"prediction_id": "a", "label": float("nan")}],
            "label must be finite, got nan",
            id="nan",
        ),
        pytest.param(
            [{"prediction_id": "a", "label": [1, 2]}],
            "label must be a string, number or boolean; got list",
            id="list-label",
        ),
    ],
)
def test_log_feedback_refuses_bad_items(store: shipyard.Store, items: Any, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        shipyard.log_feedback("flights", items, store=store)
    assert not (Path(store.artifacts.url) / "feedback").exists()  # nothing half-written
