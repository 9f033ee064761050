"""The prediction log: the writer's queue, thread and files, and reading them back with DuckDB.

Real Parquet files in a temporary folder, and on a real S3-compatible server (moto, the
same fixture the artifact store tests use).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from aiobotocore.session import AioSession

# The artifact store tests own the moto S3 server fixture; this module reuses it.
from test_artifacts import BUCKET, aws_env, s3_endpoint, s3_options, s3_session  # noqa: F401

from shipyard.core.errors import ConflictError, InvalidInputError, StoreError
from shipyard.stores import ArtifactStore
from shipyard.stores._prediction_log import LogBatch, PredictionLogWriter, write_feedback
from shipyard.stores._prediction_log_read import (
    PREDICTION_COLUMNS,
    log_files,
    read_feedback,
    read_predictions,
)

DAY1 = datetime(2024, 3, 1, 10, 0, tzinfo=UTC).timestamp()
DAY2 = datetime(2024, 3, 2, 10, 0, tzinfo=UTC).timestamp()
DAY3 = datetime(2024, 3, 3, 10, 0, tzinfo=UTC).timestamp()
_counter = iter(range(10**9))


def batch(
    rows: int = 2,
    *,
    endpoint: str = "flights",
    version: int = 1,
    role: str = "primary",
    at: float | np.ndarray[Any, Any] = DAY1,
    inputs: pd.DataFrame | np.ndarray[Any, Any] | None = None,
    predictions: np.ndarray[Any, Any] | str | None = "default",
    probabilities: np.ndarray[Any, Any] | None = None,
    classes: list[Any] | None = None,
    status: int = 200,
    error: str | None = None,
    ids: list[str] | None = None,
) -> LogBatch:
    """A batch of ``rows`` rows with fresh ids; defaults make a small regression call."""
    if inputs is None:
        inputs = pd.DataFrame({"distance": np.arange(rows) * 100, "carrier": ["AA"] * rows})
    return LogBatch(
        endpoint=endpoint,
        model="delays",
        version=version,
        role=role,
        prediction_ids=ids if ids is not None else [f"p{next(_counter)}" for _ in range(rows)],
        received_at=np.broadcast_to(np.asarray(at, dtype=np.float64), (rows,)).copy(),
        latency_ms=np.full(rows, 1.5),
        status=status,
        error=error,
        inputs=inputs,
        predictions=np.arange(rows, dtype=np.float64)
        if isinstance(predictions, str)
        else predictions,
        probabilities=probabilities,
        classes=classes,
    )


def parquet_files(root: Path) -> list[str]:
    """Every finished log file under a local store, relative and sorted."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.parquet"))


def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "artifacts"


@pytest.fixture
def artifacts(root: Path) -> ArtifactStore:
    return ArtifactStore(str(root))


@pytest.fixture
def make_writer(artifacts: ArtifactStore) -> Iterator[Callable[..., PredictionLogWriter]]:
    """Writers on the local store (not started), closed when the test ends."""
    made: list[PredictionLogWriter] = []

    def make(**options: Any) -> PredictionLogWriter:
        writer = PredictionLogWriter(options.pop("store", artifacts), **options)
        made.append(writer)
        return writer

    yield make
    for writer in made:
        writer.close(timeout=1.0)


# -- round trips ------------------------------------------------------------------------


def test_typed_inputs_round_trip(
    make_writer: Callable[..., PredictionLogWriter], artifacts: ArtifactStore, root: Path
) -> None:
    inputs = pd.DataFrame(
        {
            "carrier": ["AA", None, "UA"],
            "distance": [100, 2500, 733],
            "temp": [50.5, None, -3.25],
            "delayed": [True, None, False],
            "departed": pd.to_datetime(
                ["2024-03-01 06:30:00", None, "2024-03-01 23:59:59.5"], format="ISO8601"
            ),
            "scheduled": pd.to_datetime(["2024-03-01 06:00"] * 3).tz_localize("America/New_York"),
            "hub": pd.Categorical(["JFK", "LGA", "JFK"]),
        }
    )
    writer = make_writer()
    sent = batch(3, inputs=inputs, predictions=np.array(["late", "on_time", "late"]))
    assert writer.submit(sent)
    writer.flush()

    (name,) = parquet_files(root)
    schema = pq.read_schema(root / name)
    assert {f.name: str(f.type) for f in schema} == {
        "prediction_id": "string",
        "endpoint": "string",
        "model": "string",
        "version": "int32",
        "role": "string",
        "ts": "timestamp[us, tz=UTC]",
        "latency_ms": "double",
        "status": "int16",
        "error": "string",
        "input.carrier": "string",
        "input.distance": "int64",
        "input.temp": "double",
        "input.delayed": "bool",
        "input.departed": "timestamp[us]",
        "input.scheduled": "timestamp[us, tz=America/New_York]",
        "input.hub": "dictionary<values=string, indices=int8, ordered=0>",
        "output.prediction": "string",
    }

    got = read_predictions(artifacts, "flights")
    assert list(got.columns) == [
        *PREDICTION_COLUMNS,
        *(f"input.{c}" for c in inputs),
        "output.prediction",
    ]
    assert got["prediction_id"].tolist() == list(sent.prediction_ids)
    assert got["input.carrier"].tolist()[::2] == ["AA", "UA"]
    assert pd.isna(got["input.carrier"][1])
    assert got["input.distance"].tolist() == [100, 2500, 733]
    assert got["input.temp"][0] == 50.5
    assert pd.isna(got["input.temp"][1])
    assert got["input.delayed"][0]
    assert pd.isna(got["input.delayed"][1])
    assert got["input.departed"][2] == pd.Timestamp("2024-03-01 23:59:59.5")
    assert pd.isna(got["input.departed"][1])
    assert got["input.scheduled"][0] == pd.Timestamp("2024-03-01 11:00", tz="UTC")
    assert got["input.hub"].tolist() == ["JFK", "LGA", "JFK"]
    assert got["output.prediction"].tolist() == ["late", "on_time", "late"]
    assert got["ts"][0] == pd.Timestamp(DAY1, unit="s", tz="UTC")
    assert set(got["version"]) == {1}
    assert set(got["status"]) == {200}
    assert got["error"].isna().all()


def test_tensor_inputs_and_outputs_round_trip(
    make_writer: Callable[..., PredictionLogWriter], artifacts: ArtifactStore
) -> None:
    images = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
    embeddings = np.array([[0.5, 1.5], [2.5, 3.5]])
    writer = make_writer()
    writer.submit(batch(2, inputs=images, predictions=embeddings))
    writer.flush()

    got = read_predictions(artifacts, "flights")
    assert [np.asarray(list(row)).tolist() for row in got["input.tensor"][0]] == [
        [0.0, 1.0, 2.0],
        [3.0, 4.0, 5.0],
    ]
    assert np.stack([np.stack(list(r)) for r in got["input.tensor"]]).tolist() == images.tolist()
    assert np.stack(list(got["output.prediction"])).tolist() == embeddings.tolist()


def test_classifier_probabilities_one_column_per_class(
    make_writer: Callable[..., PredictionLogWriter], artifacts: ArtifactStore
) -> None:
    proba = np.array([[0.9, 0.1], [0.3, 0.7]])
    writer = make_writer()
    writer.submit(
        batch(
            2,
            predictions=np.array(["on_time", "late"]),
            probabilities=proba,
            classes=["on_time", "late"],
        )
    )
    writer.flush()

    got = read_predictions(artifacts, "flights")
    assert got.columns[-3:].tolist() == [
        "output.prediction",
        "output.proba.on_time",
        "output.proba.late",
    ]
    assert got["output.proba.on_time"].tolist() == [0.9, 0.3]
    assert got["output.proba.late"].tolist() == [0.1, 0.7]


def test_a_model_error_is_logged_with_null_outputs(
    make_writer: Callable[..., PredictionLogWriter], artifacts: ArtifactStore
) -> None:
    writer = make_writer()
    writer.submit(batch(2, probabilities=np.full((2, 2), 0.5), classes=[0, 1]))
    writer.submit(batch(1, predictions=None, status=500, error="ValueError: boom", at=DAY1 + 1))
    writer.flush()

    got = read_predictions(artifacts, "flights")
    assert got["status"].tolist() == [200, 200, 500]
    assert got["error"].isna().tolist() == [True, True, False]
    assert got["error"][2] == "ValueError: boom"
    assert got["output.prediction"].isna().tolist() == [False, False, True]
    assert got["output.proba.1"].isna().tolist() == [False, False, True]


def test_values_arrow_cannot_type_are_written_as_text(
    make_writer: Callable[..., PredictionLogWriter], artifacts: ArtifactStore
) -> None:
    inputs = pd.DataFrame({"code": ["A1", 7, None]}, dtype=object)
    writer = make_writer()
    writer.submit(batch(3, inputs=inputs, predictions=np.array([1, "two", 3.5], dtype=object)))
    writer.flush()

    got = read_predictions(artifacts, "flights")
    assert got["input.code"].tolist()[:2] == ["A1", "7"]
    assert pd.isna(got["input.code"][2])
    assert got["output.prediction"].tolist() == ["1", "two", "3.5"]
    assert writer.dropped_rows == 0
    assert writer.flush_errors == 0


# -- layout -----------------------------------------------------------------------------


def test_files_are_partitioned_by_endpoint_and_utc_date(
    make_writer: Callable[..., PredictionLogWriter], artifacts: ArtifactStore, root: Path
) -> None:
    midnight = datetime(2024, 3, 2, tzinfo=UTC).timestamp()
    writer = make_writer()
    # One call whose rows straddle midnight UTC lands in two date partitions.
    writer.submit(batch(2, at=np.array([midnight - 1, midnight + 1])))
    writer.submit(batch(1, endpoint="taxis", at=DAY3))
    writer.submit_feedback("flights", ["p-x"], [1])
    writer.flush()

    files = parquet_files(root)
    folders = sorted({name.rsplit("/", 1)[0] for name in files})
    today = datetime.now(UTC).date().isoformat()
    assert folders == [
        f"feedback/endpoint=flights/date={today}",
        "prediction-log/endpoint=flights/date=2024-03-01",
        "prediction-log/endpoint=flights/date=2024-03-02",
        "prediction-log/endpoint=taxis/date=2024-03-03",
    ]
    assert all(
        name.rsplit("/", 1)[1].startswith("part-") and name.endswith(".parquet") for name in files
    )
    assert len(read_predictions(artifacts, "flights")) == 2
    assert len(read_predictions(artifacts, "taxis")) == 1


def test_versions_and_roles_go_to_separate_files(
    make_writer: Callable[..., PredictionLogWriter], artifacts: ArtifactStore, root: Path
) -> None:
    writer = make_writer()
    for version, role in [(1, "primary"), (2, "canary"), (1, "primary"), (3, "shadow")]:
        writer.submit(batch(2, version=version, role=role))
    writer.flush()

    files = parquet_files(root)
    assert len(files) == 3
    contents = sorted(
        (frame["version"].unique().tolist(), frame["role"].unique().tolist(), len(frame))
        for frame in (pq.read_table(root / name).to_pandas() for name in files)
    )
    assert contents == [([1], ["primary"], 4), ([2], ["canary"], 2), ([3], ["shadow"], 2)]
    got = read_predictions(artifacts, "flights", roles=["canary", "shadow"])
    assert sorted(got["version"]) == [2, 2, 3, 3]


def test_versions_with_different_schemas_read_as_one_table(
    make_writer: Callable[..., PredictionLogWriter], artifacts: ArtifactStore
) -> None:
    writer = make_writer()
    v1 = pd.DataFrame({"distance": [100, 200], "carrier": ["AA", "UA"]})
    v2 = pd.DataFrame({"distance": [1.5], "wind": [True]})
    writer.submit(batch(2, version=1, inputs=v1, predictions=np.array([0, 1])))
    writer.submit(batch(1, version=2, inputs=v2, at=DAY1 + 1, predictions=np.array(["late"])))
    writer.flush()

    got = read_predictions(artifacts, "flights")
    assert got["version"].tolist() == [1, 1, 2]
    assert got["input.distance"].tolist() == [100.0, 200.0, 1.5]  # int64 and double: double
    assert got["input.carrier"].tolist()[:2] == ["AA", "UA"]
    assert pd.isna(got["input.carrier"][2])
    assert got["input.wind"].isna().tolist() == [True, True, False]
    assert got["output.prediction"].tolist() == ["0", "1", "late"]  # int and text: text


def test_since_until_read_only_the_needed_date_partitions(
    make_writer: Callable[..., PredictionLogWriter], artifacts: ArtifactStore, root: Path
) -> None:
    writer = make_writer()
    for at in (DAY1, DAY2, DAY3):
        writer.submit(batch(1, at=at))
    writer.flush()
    # A broken file in the first and last partitions: only reading them could fail.
    for day in ("2024-03-01", "2024-03-03"):
        (root / f"prediction-log/endpoint=flights/date={day}/part-0-broken.parquet").write_bytes(
            b"not parquet"
        )

    since, until = datetime(2024, 3, 2, tzinfo=UTC), datetime(2024, 3, 2, 23, 0)
    listed = log_files(artifacts, "prediction-log", "flights", since, until)
    assert [Path(p).parent.name for p in listed] == ["date=2024-03-02"]
    got = read_predictions(artifacts, "flights", since=since, until=until)
    assert got["ts"].tolist() == [pd.Timestamp(DAY2, unit="s", tz="UTC")]
    # The window is half-open: since is in, until is out.
    at2 = datetime.fromtimestamp(DAY2, UTC)
    assert len(read_predictions(artifacts, "flights", since=at2, until=at2)) == 0
    with pytest.raises(StoreError, match="reading the prediction log"):
        read_predictions(artifacts, "flights")


def test_an_empty_log_reads_as_empty_frames_with_the_fixed_columns(
    artifacts: ArtifactStore,
) -> None:
    predictions = read_predictions(artifacts, "flights")
    assert list(predictions.columns) == list(PREDICTION_COLUMNS)
    assert len(predictions) == 0
    assert str(predictions["ts"].dtype) == "datetime64[us, UTC]"
    joined = read_predictions(artifacts, "flights", with_feedback=True)
    assert list(joined.columns) == [*PREDICTION_COLUMNS, "label", "label_ts"]
    feedback = read_feedback(artifacts, "flights")
    assert list(feedback.columns) == ["prediction_id", "label", "ts"]
    assert len(feedback) == 0


def test_bad_endpoint_names_are_refused_before_touching_files(artifacts: ArtifactStore) -> None:
    with pytest.raises(InvalidInputError, match=r"endpoint name must start .* got '\.\./x'"):
        read_predictions(artifacts, "../x")
    with pytest.raises(InvalidInputError, match="endpoint name"):
        write_feedback(artifacts, "a/b", ["p1"], [1])


# -- flushing ---------------------------------------------------------------------------


def test_flush_by_rows(make_writer: Callable[..., PredictionLogWriter], root: Path) -> None:
    writer = make_writer(flush_rows=10, flush_seconds=3600).start()
    writer.submit(batch(6))
    time.sleep(0.2)
    assert writer.written_rows == 0  # below flush_rows and not yet flush_seconds old
    writer.submit(batch(4))
    wait_for(lambda: writer.written_rows == 10)
    assert len(parquet_files(root)) == 1
    assert writer.queued_rows == 0


def test_flush_by_time(make_writer: Callable[..., PredictionLogWriter], root: Path) -> None:
    flushed: list[tuple[int, float]] = []
    writer = make_writer(
        flush_rows=1000, flush_seconds=0.2, on_flush=lambda r, s: flushed.append((r, s))
    ).start()
    started = time.monotonic()
    writer.submit(batch(3))
    wait_for(lambda: writer.written_rows == 3)
    assert time.monotonic() - started >= 0.19
    assert len(parquet_files(root)) == 1
    assert flushed[0][0] == 3
    assert flushed[0][1] >= 0


def test_close_writes_everything_submitted_from_many_threads(
    make_writer: Callable[..., PredictionLogWriter], artifacts: ArtifactStore
) -> None:
    writer = make_writer(flush_rows=50, flush_seconds=3600).start()

    def produce(thread: int) -> None:
        for i in range(200):
            writer.submit(batch(3, ids=[f"t{thread}-{i}-{j}" for j in range(3)]))

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert writer.close() is True
    assert writer.close() is True  # idempotent
    assert writer.written_rows == 2400
    assert writer.queued_rows == 0
    assert writer.dropped_rows == 0
    got = read_predictions(artifacts, "flights")
    assert len(got) == 2400
    assert got["prediction_id"].is_unique

    assert writer.submit(batch(2)) is False  # after close: refused and counted
    assert writer.dropped_rows == 2
    with pytest.raises(ConflictError, match="closed"):
        writer.start()


def test_close_without_a_thread_writes_inline(
    make_writer: Callable[..., PredictionLogWriter], artifacts: ArtifactStore
) -> None:
    writer = make_writer()
    writer.submit(batch(5))
    writer.submit_feedback("flights", ["p1"], ["late"])
    assert writer.close() is True
    assert writer.written_rows == 6
    assert len(read_predictions(artifacts, "flights")) == 5


# -- a full queue -----------------------------------------------------------------------


def test_drop_policy_counts_dropped_rows_and_never_waits(
    make_writer: Callable[..., PredictionLogWriter],
) -> None:
    # Not started: nothing drains the queue, so a submit that waited would never return.
    writer = make_writer(queue_rows=100)
    assert writer.submit(batch(100))
    full = batch(1)
    for _ in range(10_000):
        assert writer.submit(full) is False
    assert writer.dropped_rows == 10_000
    assert writer.queued_rows == 100


def test_many_small_submits_to_a_running_writer_are_all_written(
    make_writer: Callable[..., PredictionLogWriter],
) -> None:
    writer = make_writer(flush_rows=1000, flush_seconds=0.05).start()
    row = pd.DataFrame({"distance": [100], "carrier": ["AA"]})
    ready = [batch(1, inputs=row) for _ in range(5000)]
    accepted = sum(writer.submit(item) for item in ready)
    assert accepted == 5000
    writer.flush()
    assert writer.written_rows == 5000


def test_block_policy_waits_for_room(make_writer: Callable[..., PredictionLogWriter]) -> None:
    writer = make_writer(queue_rows=4, when_full="block")  # not started: the test drains it
    assert writer.submit(batch(4))
    assert writer.submit(batch(1), block=False) is False  # per-call override
    done = threading.Event()

    def blocked() -> None:
        writer.submit(batch(2))
        done.set()

    thread = threading.Thread(target=blocked)
    thread.start()
    assert not done.wait(0.3)  # waiting for room
    writer.flush()  # writes the 4 queued rows and makes room
    assert done.wait(5.0)
    thread.join()
    assert writer.queued_rows == 2
    assert writer.dropped_rows == 1


def test_a_blocked_submit_gives_up_when_the_writer_closes(
    make_writer: Callable[..., PredictionLogWriter],
) -> None:
    writer = make_writer(queue_rows=2, when_full="block")
    writer.submit(batch(2))
    results: list[bool] = []
    thread = threading.Thread(target=lambda: results.append(writer.submit(batch(1))))
    thread.start()
    time.sleep(0.1)
    writer.close()
    thread.join(5.0)
    assert results == [False]
    assert writer.dropped_rows == 1
    assert writer.written_rows == 2


# -- failures ---------------------------------------------------------------------------


def test_a_failed_write_keeps_the_rows_and_retries(tmp_path: Path) -> None:
    # A file where the store's folder should be: writes fail, even for root.
    blocker = tmp_path / "down"
    blocker.write_bytes(b"")
    artifacts = ArtifactStore(str(blocker / "artifacts"))
    writer = PredictionLogWriter(artifacts, flush_seconds=0.05, queue_rows=10).start()
    try:
        assert writer.submit(batch(4))
        writer.submit_feedback("flights", ["p1"], [1])
        with pytest.raises(StoreError, match=r"could not be written to .*down/artifacts"):
            writer.flush()
        assert writer.flush_errors >= 1
        assert writer.written_rows == 0
        assert writer.queued_rows == 5
        assert "StoreError" in (writer.last_error or "")
        # Kept rows still count against the queue.
        assert writer.submit(batch(6)) is False
        assert writer.dropped_rows == 6

        blocker.unlink()  # the store comes back
        wait_for(lambda: writer.written_rows == 5)  # retried on its own
        writer.flush()
        assert writer.queued_rows == 0
        assert len(read_predictions(artifacts, "flights")) == 4  # once each, no duplicates
        assert len(read_feedback(artifacts, "flights")) == 1
    finally:
        assert writer.close() is True


def test_close_with_the_store_down_counts_the_lost_rows(tmp_path: Path) -> None:
    blocker = tmp_path / "down"
    blocker.write_bytes(b"")
    writer = PredictionLogWriter(ArtifactStore(str(blocker / "artifacts"))).start()
    writer.submit(batch(3))
    started = time.monotonic()
    assert writer.close(timeout=0.5) is False
    assert time.monotonic() - started < 5
    assert writer.dropped_rows == 3
    assert writer.queued_rows == 0
    assert writer.flush_errors >= 1


# -- input checks -----------------------------------------------------------------------


def test_log_batch_checks_lengths_and_role() -> None:
    with pytest.raises(InvalidInputError, match=r"latency_ms has 1 rows, expected 2"):
        LogBatch(
            "e",
            "m",
            1,
            "primary",
            ["a", "b"],
            np.zeros(2),
            np.zeros(1),
            200,
            None,
            pd.DataFrame({"x": [1, 2]}),
            None,
        )
    with pytest.raises(InvalidInputError, match="role must be one of primary, canary, shadow"):
        batch(1, role="main")
    assert len(batch(3)) == 3


def test_writer_options_are_checked() -> None:
    store = ArtifactStore("/nowhere")
    with pytest.raises(InvalidInputError, match="when_full must be 'drop' or 'block'"):
        PredictionLogWriter(store, when_full="wait")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="flush_rows must be at least 1; got 0"):
        PredictionLogWriter(store, flush_rows=0)
    with pytest.raises(InvalidInputError, match="feedback needs one label per prediction id"):
        PredictionLogWriter(store).submit_feedback("e", ["a", "b"], [1])


# -- feedback ---------------------------------------------------------------------------


def test_feedback_round_trip_and_mixed_label_types(artifacts: ArtifactStore) -> None:
    assert write_feedback(artifacts, "flights", ["p1", "p2"], [1, 0], received_at=DAY1) == 2
    assert write_feedback(artifacts, "flights", ["p3", "p4"], ["late", 2], received_at=DAY2) == 2
    assert write_feedback(artifacts, "flights", [], []) == 0

    got = read_feedback(artifacts, "flights")
    assert got["prediction_id"].tolist() == ["p1", "p2", "p3", "p4"]
    assert got["label"].tolist() == ["1", "0", "late", "2"]  # ints and text: text
    day2 = read_feedback(artifacts, "flights", since=datetime(2024, 3, 2))
    assert day2["prediction_id"].tolist() == ["p3", "p4"]


def test_latest_feedback_is_joined(artifacts: ArtifactStore) -> None:
    writer = PredictionLogWriter(artifacts)
    writer.submit(batch(3, ids=["a", "b", "c"]))
    writer.submit_feedback("flights", ["a", "b"], [0, 0])
    writer.flush()
    writer.submit_feedback("flights", ["a", "a"], [1, 2])  # within one call: the last one
    writer.close()

    got = read_predictions(artifacts, "flights", with_feedback=True)
    assert got["prediction_id"].tolist() == ["a", "b", "c"]
    assert got["label"].tolist()[:2] == [2, 0]
    assert pd.isna(got["label"][2])
    assert got["label_ts"][0] > got["label_ts"][1]
    assert pd.isna(got["label_ts"][2])


# -- object storage ---------------------------------------------------------------------


def test_s3_round_trip(s3_endpoint: str, s3_session: AioSession) -> None:  # noqa: F811
    artifacts = ArtifactStore(
        f"s3://{BUCKET}/log-{time.time_ns()}", storage_options=s3_options(s3_endpoint, s3_session)
    )
    writer = PredictionLogWriter(artifacts, flush_seconds=0.1).start()
    writer.submit(
        batch(2, at=DAY1, ids=["a", "b"], probabilities=np.full((2, 2), 0.5), classes=["x", "y"])
    )
    writer.submit(batch(1, at=DAY3, ids=["c"], version=2, role="canary"))
    writer.submit_feedback("flights", ["b"], ["late"])
    assert writer.close() is True

    listed = log_files(artifacts, "prediction-log", "flights")
    assert all(p.startswith(f"s3://{BUCKET}/") for p in listed)
    assert len(listed) == 2
    got = read_predictions(artifacts, "flights", with_feedback=True)
    assert got["prediction_id"].tolist() == ["a", "b", "c"]
    assert got["label"].tolist()[1] == "late"
    assert got["output.proba.x"].tolist()[:2] == [0.5, 0.5]
    only_day3 = read_predictions(artifacts, "flights", since=datetime(2024, 3, 3))
    assert only_day3["prediction_id"].tolist() == ["c"]
