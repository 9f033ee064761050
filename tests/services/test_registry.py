"""The model registry on every backend: versions, aliases and their history, loading, integrity."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline

import shipyard
from flight_table import delay_pipeline, flights
from shipyard import ConflictError, CorruptedArtifactError, InvalidInputError, NotFoundError
from shipyard.core.signature import SchemaValidationError, Signature

MakeStore = Callable[..., shipyard.Store]


@pytest.fixture
def trained() -> tuple[Pipeline, pd.DataFrame, pd.Series]:
    X, y = flights()
    return delay_pipeline().fit(X, y), X, y


def _register(
    store: shipyard.Store, name: str = "delays", **kwargs: object
) -> shipyard.ModelVersion:
    X, y = flights()
    model = delay_pipeline().fit(X, y)
    return shipyard.register_model(
        model,
        name,
        training_data=X,
        target=y,
        store=store,
        **kwargs,  # type: ignore[arg-type]
    )


# -- registering ---------------------------------------------------------------------------


def test_versions_are_numbered_from_one(store: shipyard.Store) -> None:
    first = _register(store)
    second = _register(store)
    assert (first.version, second.version) == (1, 2)
    assert first.uri == "models:/delays/1"
    model = shipyard.get_model("delays", store=store)
    assert model.latest_version == 2
    assert [v.version for v in shipyard.list_model_versions("delays", store=store)] == [1, 2]


def test_version_records_signature_flavor_and_requirements(store: shipyard.Store) -> None:
    version = _register(store)
    assert version.flavor == "sklearn"
    assert version.signature is not None
    signature = Signature.from_dict(version.signature)
    assert signature.inputs.names == ("carrier", "distance", "temp")
    assert [c.type_label for c in signature.inputs] == ["string", "long", "double"]
    assert signature.outputs is not None
    assert signature.outputs.names == ("prediction", "proba_late", "proba_on_time")
    assert any(r.startswith("scikit-learn==") for r in version.requirements)


def test_log_model_in_a_run_records_lineage(store: shipyard.Store) -> None:
    X, y = flights()
    with shipyard.start_run("flights", store=store, capture_env=False) as run:
        run.log_metric("auc", 0.91)
        version = run.log_model(delay_pipeline().fit(X, y), "delays", training_data=X, target=y)
    assert version.run_id == run.run_id
    assert version.metrics == {"auc": 0.91}
    assert [(i.name, i.context) for i in version.inputs] == [("delays-training", "training")]
    run_inputs = store.metadata.list_inputs(run.run_id)
    assert [i.digest for i in run_inputs] == [version.inputs[0].digest]
    paths = {a.path for a in shipyard.list_artifacts(run.run_id, store=store)}
    assert "model/shipyard-model.json" in paths
    assert "model/model.pkl" in paths or any(p.startswith("model/") for p in paths)


def test_two_models_at_one_artifact_path_of_a_run_are_refused(store: shipyard.Store) -> None:
    X, y = flights()
    with shipyard.start_run("flights", store=store, capture_env=False) as run:
        run.log_model(delay_pipeline().fit(X, y), "delays", training_data=X)
        for same in ("model", "./model", "model/"):
            with pytest.raises(ConflictError, match="already has artifacts under 'model'"):
                run.log_model(delay_pipeline().fit(X, y), "delays", artifact_path=same)
        second = run.log_model(delay_pipeline().fit(X, y), "delays", artifact_path="model-2")
    assert second.version == 2
    first = shipyard.load_model("models:/delays/1", store=store)
    assert first.predict(X.head(2)).shape == (2,)


@pytest.mark.parametrize(
    "name", ["", "has space", "a/b", "-leading", "x" * 257, "models:/x"], ids=repr
)
def test_bad_model_names_are_refused(store: shipyard.Store, name: str) -> None:
    with pytest.raises(InvalidInputError, match="model name must start with a letter or digit"):
        _register(store, name)


def test_concurrent_registrations_get_distinct_numbers(store: shipyard.Store) -> None:
    X, y = flights()
    model = delay_pipeline().fit(X, y)
    got: list[int] = []
    errors: list[BaseException] = []

    def register() -> None:
        try:
            got.append(shipyard.register_model(model, "race", store=store).version)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=register) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(got) == [1, 2, 3, 4]


def test_tags_and_descriptions(store: shipyard.Store) -> None:
    _register(store, tags={"team": "ops"}, description="first")
    shipyard.set_model_tags("delays", {"owner": "ml"}, store=store)
    shipyard.set_model_version_tags("delays", 1, {"reviewed": True}, store=store)  # type: ignore[dict-item]
    shipyard.update_model("delays", description="predicts late arrivals", store=store)
    version = shipyard.update_model_version("delays", 1, description="baseline", store=store)
    assert version.tags == {"team": "ops", "reviewed": "True"}
    assert version.description == "baseline"
    model = shipyard.get_model("delays", store=store)
    assert model.tags == {"owner": "ml"}
    assert model.description == "predicts late arrivals"


# -- aliases -------------------------------------------------------------------------------


def test_alias_points_at_one_version_and_moves(store: shipyard.Store) -> None:
    _register(store)
    _register(store)
    shipyard.set_alias("delays", "champion", 1, store=store)
    shipyard.set_alias("delays", "challenger", 2, store=store)
    assert shipyard.get_model_version("delays", "champion", store=store).version == 1
    moved = shipyard.set_alias("delays", "champion", 2, store=store)
    assert (moved.previous_version, moved.version) == (1, 2)
    assert shipyard.get_model("delays", store=store).aliases == {"challenger": 2, "champion": 2}
    assert shipyard.get_model_version("delays", 2, store=store).aliases == (
        "challenger",
        "champion",
    )
    assert shipyard.get_model_version("delays", 1, store=store).aliases == ()


def test_moving_an_alias_updates_the_model(store: shipyard.Store) -> None:
    _register(store)
    before = shipyard.get_model("delays", store=store).updated_at
    event = shipyard.set_alias("delays", "champion", 1, store=store)
    after = shipyard.get_model("delays", store=store).updated_at
    assert before <= after == event.at


def test_alias_history_records_who_and_when(store: shipyard.Store) -> None:
    _register(store)
    _register(store)
    shipyard.set_alias("delays", "champion", 1, store=store)
    shipyard.set_alias("delays", "champion", 2, store=store)
    shipyard.delete_alias("delays", "champion", store=store)
    history = shipyard.alias_history("delays", "champion", store=store)
    assert [(e.previous_version, e.version) for e in history] == [(None, 1), (1, 2), (2, None)]
    assert all(e.at.tzinfo is not None for e in history)
    assert history[0].at <= history[1].at <= history[2].at
    assert len({e.by for e in history}) == 1
    with pytest.raises(NotFoundError, match=r"has no alias 'champion' \(its aliases: none\)"):
        shipyard.get_model_version("delays", "champion", store=store)


@pytest.mark.parametrize("alias", ["1", "2x", "latest", "has space", "a" * 65], ids=repr)
def test_bad_aliases_are_refused(store: shipyard.Store, alias: str) -> None:
    _register(store)
    with pytest.raises(InvalidInputError, match="alias"):
        shipyard.set_alias("delays", alias, 1, store=store)


def test_alias_to_a_missing_version_is_refused(store: shipyard.Store) -> None:
    _register(store)
    with pytest.raises(NotFoundError, match="model 'delays' has no version 7"):
        shipyard.set_alias("delays", "champion", 7, store=store)
    with pytest.raises(NotFoundError, match="model 'nope' not found"):
        shipyard.set_alias("nope", "champion", 1, store=store)
    with pytest.raises(NotFoundError, match="has no alias 'ghost'"):
        shipyard.delete_alias("delays", "ghost", store=store)


# -- loading -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri", ["models:/delays/1", "models:/delays@champion", "models:/delays/latest"]
)
def test_load_model_by_uri_predicts_like_the_original(store: shipyard.Store, uri: str) -> None:
    X, y = flights()
    original = delay_pipeline().fit(X, y)
    shipyard.register_model(original, "delays", training_data=X, store=store)
    shipyard.set_alias("delays", "champion", 1, store=store)
    model = shipyard.load_model(uri, store=store)
    assert (model.name, model.version, model.flavor) == ("delays", 1, "sklearn")
    assert np.array_equal(model.predict(X), original.predict(X))
    assert np.array_equal(model.predict_proba(X), original.predict_proba(X))
    assert model.classes == ["late", "on_time"]
    assert model.signature is not None


def test_load_from_a_run_uri(store: shipyard.Store) -> None:
    X, y = flights()
    with shipyard.start_run("flights", store=store, capture_env=False) as run:
        version = run.log_model(delay_pipeline().fit(X, y), "delays", training_data=X)
    model = shipyard.load_model(f"runs:/{run.run_id}/model", store=store)
    assert model.version == version.version
    assert model.predict(X.head(3)).shape == (3,)
    with pytest.raises(NotFoundError, match="has no model at 'elsewhere'"):
        shipyard.load_model(f"runs:/{run.run_id}/elsewhere", store=store)


def test_predict_validates_against_the_signature(store: shipyard.Store) -> None:
    _register(store)
    model = shipyard.load_model("models:/delays/1", store=store)
    records = [{"carrier": "AA", "distance": 500, "temp": 40.5}]
    assert model.predict(records).tolist() in (["late"], ["on_time"])
    with pytest.raises(SchemaValidationError) as caught:
        model.predict([{"carrier": 7, "distance": "far"}])
    text = str(caught.value)
    assert "carrier" in text
    assert "distance" in text
    assert "temp" in text


def test_models_without_probabilities_have_no_predict_proba(store: shipyard.Store) -> None:
    X, _ = flights()
    numeric = X[["distance", "temp"]]
    regressor = LinearRegression().fit(numeric, numeric["temp"] * 2)
    shipyard.register_model(regressor, "temps", training_data=numeric, store=store)
    model = shipyard.load_model("models:/temps/1", store=store)
    assert not hasattr(model, "predict_proba")
    assert np.array_equal(model.predict(numeric), regressor.predict(numeric))


def test_input_example_and_reference_profiles_are_stored(store: shipyard.Store) -> None:
    X, _ = flights()
    _register(store)
    model = shipyard.load_model("models:/delays/1", store=store)
    example = model.input_example()
    assert isinstance(example, pd.DataFrame)
    assert example.equals(X.head(5).reset_index(drop=True))
    profiles = model.reference_profiles()
    assert profiles["inputs"].num_rows == len(X)
    assert set(profiles["inputs"].columns) == {"carrier", "distance", "temp"}
    assert set(profiles["outputs"].columns) == {"prediction", "proba_late", "proba_on_time"}


@pytest.mark.parametrize(
    ("uri", "error", "match"),
    [
        ("models:/delays/9", NotFoundError, "has no version 9"),
        ("models:/delays@ghost", NotFoundError, "has no alias 'ghost'"),
        ("models:/delays@latest", InvalidInputError, "models:/NAME/latest means it"),
        ("models:/delays", InvalidInputError, "names no version"),
        ("models:/delays/champion", InvalidInputError, r"models:/delays@champion"),
        ("models:/nope/1", NotFoundError, "model 'nope' not found"),
        ("s3://bucket/model", InvalidInputError, "cannot read model URI"),
        ("", InvalidInputError, "non-empty string"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_bad_uris_say_what_to_write(
    store: shipyard.Store, uri: str, error: type[Exception], match: str
) -> None:
    _register(store)
    with pytest.raises(error, match=match):
        shipyard.load_model(uri, store=store)


def _stored_file(store: shipyard.Store, version: shipyard.ModelVersion, name: str) -> Path:
    root = store.settings.resolved_artifact_url()
    return Path(root) / version.artifact_prefix / name


def test_a_tampered_model_file_is_refused(store: shipyard.Store) -> None:
    version = _register(store)
    manifest = json.loads(_stored_file(store, version, "shipyard-model.json").read_text())
    model_file = next(n for n in manifest["files"] if n.startswith("model"))
    path = _stored_file(store, version, model_file)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptedArtifactError, match=rf"{model_file}.*is corrupted"):
        shipyard.load_model("models:/delays/1", store=store)


def test_a_tampered_manifest_is_refused(store: shipyard.Store) -> None:
    version = _register(store)
    path = _stored_file(store, version, "shipyard-model.json")
    manifest = json.loads(path.read_text())
    manifest["flavor"] = "pyfunc"
    path.write_text(json.dumps(manifest))
    with pytest.raises(CorruptedArtifactError, match=r"shipyard-model\.json.*is corrupted"):
        shipyard.load_model("models:/delays/1", store=store)


def test_a_model_folder_loads_by_path_and_is_verified(store: shipyard.Store) -> None:
    version = _register(store)
    folder = _stored_file(store, version, "")
    model = shipyard.load_model(str(folder))
    assert model.version is None
    assert model.name == "delays"
    (folder / "input_example.parquet").write_bytes(b"not parquet")
    with pytest.raises(CorruptedArtifactError, match=r"input_example\.parquet"):
        shipyard.load_model(str(folder))
    with pytest.raises(InvalidInputError, match="is not a shipyard model folder"):
        shipyard.load_model(str(folder.parent))


def test_extra_columns_are_refused_or_dropped_as_set(make_store: MakeStore) -> None:
    store = make_store()
    _register(store)
    record = {"carrier": "AA", "distance": 500, "temp": 40.5, "gate": "B12"}
    strict = shipyard.load_model("models:/delays/1", store=store)
    with pytest.raises(SchemaValidationError, match="gate"):
        strict.predict([record])
    lenient = shipyard.load_model("models:/delays/1", store=make_store(extra_columns="ignore"))
    assert lenient.predict([record]).shape == (1,)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"metrics": {"auc": "high"}}, "metric 'auc' must be a real number"),
        ({"metrics": {"auc": True}}, "metric 'auc' must be a real number"),
        ({"tags": {"k" * 300: "v"}}, "tag key"),
    ],
    ids=["metric text", "metric bool", "long tag key"],
)
def test_bad_metadata_is_refused_before_anything_is_stored(
    store: shipyard.Store, kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(InvalidInputError, match=match):
        _register(store, **kwargs)
    assert shipyard.list_models(store=store) == []
    assert shipyard.list_datasets(store=store) == []
    assert not (store.settings.home_dir / "artifacts" / "models").exists()


def test_numpy_metrics_are_stored_as_floats(store: shipyard.Store) -> None:
    version = _register(store, metrics={"auc": np.float32(0.5), "n": np.int64(3)})
    assert version.metrics == {"auc": 0.5, "n": 3.0}


@pytest.mark.parametrize("version", ["\u00b2", "0", "-1", str(2**31), 10**20, True, 1.0], ids=repr)
def test_version_numbers_are_checked(store: shipyard.Store, version: object) -> None:
    _register(store)
    with pytest.raises(InvalidInputError, match="a version number is a whole number from 1"):
        shipyard.set_alias("delays", "champion", version, store=store)  # type: ignore[arg-type]
    if isinstance(version, str) and version.isascii() and version.isdigit():
        with pytest.raises(InvalidInputError, match="a version number is a whole number"):
            shipyard.load_model(f"models:/delays/{version}", store=store)


def test_a_version_number_as_text_works_like_a_number(store: shipyard.Store) -> None:
    _register(store)
    shipyard.set_model_version_tags("delays", "1", {"ok": "yes"}, store=store)  # type: ignore[arg-type]
    assert shipyard.get_model_version("delays", "1", store=store).tags == {"ok": "yes"}


def test_a_manifest_naming_files_outside_the_folder_is_refused(store: shipyard.Store) -> None:
    version = _register(store)
    path = _stored_file(store, version, "shipyard-model.json")
    manifest = json.loads(path.read_text())
    manifest["files"]["../../outside.txt"] = {"sha256": "0" * 64, "size": 1}
    folder = path.parent
    path.write_text(json.dumps(manifest))
    with pytest.raises(CorruptedArtifactError, match="outside the model folder"):
        shipyard.load_model(str(folder))


def test_concurrent_new_aliases_do_not_collide(store: shipyard.Store) -> None:
    _register(store)
    _register(store)
    errors: list[BaseException] = []

    def point(version: int) -> None:
        try:
            shipyard.set_alias("delays", "champion", version, store=store)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=point, args=(1 + i % 2,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    history = shipyard.alias_history("delays", "champion", store=store)
    assert len(history) == 6
    assert history[0].previous_version is None
    assert all(e.previous_version is not None for e in history[1:])
