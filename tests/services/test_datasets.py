"""Datasets and lineage on every backend: content-addressed snapshots, links, queries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.linear_model import LogisticRegression

import shipyard
from shipyard import CorruptedArtifactError, InvalidInputError, NotFoundError


def _frame(n: int = 50, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "carrier": rng.choice(["AA", "UA"], n),
            "distance": rng.integers(100, 2000, n),
            "temp": rng.normal(50, 10, n),
        }
    )


def test_same_content_same_digest_whatever_the_container() -> None:
    frame = _frame()
    as_object = frame.astype({"carrier": object})
    table = pa.Table.from_pandas(frame, preserve_index=False)
    chunked = pa.concat_tables([table.slice(0, 20), table.slice(20)])
    digests = {
        shipyard.dataset_digest(frame),
        shipyard.dataset_digest(as_object),
        shipyard.dataset_digest(table),
        shipyard.dataset_digest(chunked),
        shipyard.dataset_digest(frame.set_index("carrier", drop=False)),
    }
    assert len(digests) == 1
    assert len(next(iter(digests))) == 64


@pytest.mark.parametrize(
    "change",
    [
        lambda f: f.iloc[::-1],
        lambda f: f.rename(columns={"temp": "temperature"}),
        lambda f: f.astype({"distance": "float64"}),
        lambda f: f.iloc[:-1],
        lambda f: f.assign(temp=f["temp"] + 1e-9),
    ],
    ids=["row order", "column name", "column type", "one row fewer", "one value"],
)
def test_any_change_of_content_changes_the_digest(change: object) -> None:
    frame = _frame()
    assert shipyard.dataset_digest(change(frame)) != shipyard.dataset_digest(frame)  # type: ignore[operator]


def test_log_dataset_stores_snapshot_schema_and_profile(store: shipyard.Store) -> None:
    frame = _frame()
    item = shipyard.log_dataset(frame, "flights", description="jan", store=store)
    assert (item.num_rows, item.num_columns) == (50, 3)
    assert item.digest == shipyard.dataset_digest(frame)
    assert [c["name"] for c in item.schema["columns"]] == ["carrier", "distance", "temp"]
    back = shipyard.load_dataset("flights", store=store)
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)
    assert back["distance"].tolist() == frame["distance"].tolist()
    profile = shipyard.load_dataset_profile(item, store=store)
    assert profile.num_rows == 50
    assert profile.columns["distance"].max == frame["distance"].max()


def test_logging_the_same_content_twice_stores_it_once(store: shipyard.Store) -> None:
    first = shipyard.log_dataset(_frame(), "flights", store=store)
    again = shipyard.log_dataset(_frame(), "flights", store=store)
    other_name = shipyard.log_dataset(_frame(), "backup", store=store)
    assert again == first
    assert other_name.digest == first.digest
    assert other_name.snapshot_sha256 == first.snapshot_sha256
    assert {d.name for d in shipyard.list_datasets(store=store)} == {"flights", "backup"}
    stored = list((store.settings.home_dir / "artifacts" / "datasets").iterdir())
    assert [p.name for p in stored] == [first.digest]


def test_get_dataset_by_name_newest_or_by_digest_prefix(store: shipyard.Store) -> None:
    old = shipyard.log_dataset(_frame(seed=1), "flights", store=store)
    new = shipyard.log_dataset(_frame(seed=2), "flights", store=store)
    assert shipyard.get_dataset("flights", store=store).digest == new.digest
    assert shipyard.get_dataset("flights", old.digest[:10], store=store).digest == old.digest
    with pytest.raises(NotFoundError, match="dataset 'flights' with digest 'ffff"):
        shipyard.get_dataset("flights", "ffff" + "0" * 20, store=store)
    with pytest.raises(NotFoundError, match="dataset 'nope' not found"):
        shipyard.get_dataset("nope", store=store)


def test_a_tampered_snapshot_is_refused(store: shipyard.Store) -> None:
    item = shipyard.log_dataset(_frame(), "flights", store=store)
    path = store.settings.home_dir / "artifacts" / item.snapshot_key
    path.write_bytes(path.read_bytes()[:-3] + b"xyz")
    with pytest.raises(CorruptedArtifactError, match=r"data\.parquet"):
        shipyard.load_dataset(item, store=store)


@pytest.mark.parametrize("data", [[1, 2], "table", None], ids=["list", "str", "None"])
def test_only_tables_are_datasets(store: shipyard.Store, data: object) -> None:
    with pytest.raises(InvalidInputError, match="a pandas DataFrame or a pyarrow Table"):
        shipyard.log_dataset(data, "flights", store=store)


# -- lineage -------------------------------------------------------------------------------


def _train(frame: pd.DataFrame) -> LogisticRegression:
    return LogisticRegression().fit(frame[["distance", "temp"]], frame["carrier"])


def test_which_versions_were_trained_on_a_dataset(store: shipyard.Store) -> None:
    january, february = _frame(seed=1), _frame(seed=2)
    jan = shipyard.log_dataset(january, "january", store=store)
    feb = shipyard.log_dataset(february, "february", store=store)
    for data, item in ((january, jan), (january, jan), (february, feb)):
        with shipyard.start_run("flights", store=store, capture_env=False) as run:
            run.log_input(item)
            run.log_model(_train(data), "carrier", log_training_data=False)
    on_jan = shipyard.versions_trained_on(jan, store=store)
    assert [v.version for v in on_jan] == [1, 2]
    assert [v.version for v in shipyard.versions_trained_on(feb.digest[:12], store=store)] == [3]
    assert [v.version for v in shipyard.versions_trained_on("february", store=store)] == [3]
    assert shipyard.versions_trained_on(jan, context="evaluation", store=store) == []


def test_training_data_given_to_log_model_is_snapshotted_and_linked(store: shipyard.Store) -> None:
    frame = _frame()
    features = frame[["distance", "temp"]]
    with shipyard.start_run("flights", store=store, capture_env=False) as run:
        run.set_tag("shipyard.git.commit", "abc123")
        version = run.log_model(
            _train(frame), "carrier", training_data=features, target=frame["carrier"]
        )
    lineage = shipyard.model_lineage("carrier", version.version, store=store)
    assert lineage.run is not None
    assert lineage.run.run_id == run.run_id
    assert lineage.code_revision == "abc123"
    [snapshot] = lineage.datasets
    assert snapshot.name == "carrier-training"
    stored = shipyard.load_dataset(snapshot, store=store)
    assert list(stored.columns) == ["distance", "temp", "carrier"]
    assert [v.version for v in shipyard.versions_trained_on(snapshot, store=store)] == [1]


def test_lineage_lists_run_inputs_and_version_inputs_once(store: shipyard.Store) -> None:
    frame = _frame()
    features = frame[["distance", "temp"]]
    evaluation = shipyard.log_dataset(_frame(seed=9), "holdout", store=store)
    with shipyard.start_run("flights", store=store, capture_env=False) as run:
        run.log_input(evaluation, context="evaluation")
        version = run.log_model(_train(frame), "carrier", training_data=features)
    lineage = shipyard.model_lineage("carrier", version.version, store=store)
    assert sorted((i.name, i.context, i.via) for i in lineage.inputs) == [
        ("carrier-training", "training", "version"),
        ("holdout", "evaluation", "run"),
    ]


def test_lineage_outside_a_run_has_the_version_inputs(store: shipyard.Store) -> None:
    frame = _frame()
    features = frame[["distance", "temp"]]
    version = shipyard.register_model(_train(frame), "carrier", training_data=features, store=store)
    lineage = shipyard.model_lineage("carrier", version.version, store=store)
    assert lineage.run is None
    assert [i.via for i in lineage.inputs] == ["version"]
    with pytest.raises(NotFoundError, match="has no version 5"):
        shipyard.model_lineage("carrier", 5, store=store)


def test_a_hex_looking_name_is_a_name_before_a_digest_prefix(store: shipyard.Store) -> None:
    train = shipyard.log_dataset(_frame(seed=1), "train", store=store)
    named = shipyard.log_dataset(_frame(seed=2), train.digest[:6], store=store)
    with shipyard.start_run("flights", store=store, capture_env=False) as run:
        run.log_input(named)
        run.log_model(_train(_frame(seed=2)), "carrier", log_training_data=False)
    found = shipyard.versions_trained_on(train.digest[:6], store=store)
    assert [v.version for v in found] == [1]
    assert shipyard.versions_trained_on(train.digest[:8], store=store) == []
    with pytest.raises(NotFoundError, match="no dataset is named 'abc'"):
        shipyard.versions_trained_on("abc", store=store)
