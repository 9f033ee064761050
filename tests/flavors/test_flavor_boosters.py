"""LightGBM and XGBoost: every kind of model answers after loading exactly as before saving."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flavor_cases
import numpy as np
import pandas as pd
import pytest
from flavor_fresh import assert_same, require

from shipyard.core.errors import InvalidInputError
from shipyard.flavors import detect_flavor, get_flavor

Original = tuple[object, Any, Callable[[Any], Any], Callable[[Any], Any] | None]


def _data() -> tuple[pd.DataFrame, np.ndarray]:
    frame, score = flavor_cases.flights()
    return flavor_cases.with_categories(frame), score


def lgbm_regressor() -> Original:
    lgb = require("lightgbm")
    data, score = _data()
    model = lgb.LGBMRegressor(n_estimators=20, num_leaves=8, verbose=-1).fit(data, score)
    return model, data, model.predict, None


def lgbm_multiclass_int_labels() -> Original:
    lgb = require("lightgbm")
    data, score = _data()
    labels = np.digitize(score, np.quantile(score, [0.25, 0.5, 0.75]))
    model = lgb.LGBMClassifier(n_estimators=15, num_leaves=8, verbose=-1).fit(data, labels)
    return model, data, model.predict, model.predict_proba


def lgbm_early_stopped() -> Original:
    lgb = require("lightgbm")
    data, score = _data()
    labels = score > np.median(score)
    model = lgb.LGBMClassifier(n_estimators=200, learning_rate=0.3, verbose=-1)
    model.fit(
        data[:200],
        labels[:200],
        eval_X=data[200:],
        eval_y=labels[200:],
        callbacks=[lgb.early_stopping(3, verbose=False)],
    )
    assert 0 < model.best_iteration_ < 200
    return model, data, model.predict, model.predict_proba


def lightgbm_booster() -> Original:
    lgb = require("lightgbm")
    data, score = _data()
    train = lgb.Dataset(data, label=(score > np.median(score)).astype(int))
    params = {"objective": "binary", "num_leaves": 8, "verbose": -1}
    booster = lgb.train(params, train, num_boost_round=15)
    return booster, data, booster.predict, None


def xgb_regressor() -> Original:
    xgb = require("xgboost")
    data, score = _data()
    model = xgb.XGBRegressor(n_estimators=15, max_depth=3, enable_categorical=True)
    model.fit(data, score)
    return model, data, model.predict, None


def xgb_binary_early_stopped() -> Original:
    xgb = require("xgboost")
    data, score = _data()
    labels = (score > np.median(score)).astype(int)
    model = xgb.XGBClassifier(
        n_estimators=200, learning_rate=0.5, early_stopping_rounds=3, enable_categorical=True
    )
    model.fit(data[:200], labels[:200], eval_set=[(data[200:], labels[200:])], verbose=False)
    assert 0 < model.best_iteration < 199
    return model, data, model.predict, model.predict_proba


def xgb_softmax() -> Original:
    xgb = require("xgboost")
    data, score = _data()
    labels = np.digitize(score, np.quantile(score, [1 / 3, 2 / 3]))
    model = xgb.XGBClassifier(n_estimators=10, objective="multi:softmax", enable_categorical=True)
    model.fit(data, labels)
    return model, data, model.predict, model.predict_proba


def xgb_gblinear() -> Original:
    xgb = require("xgboost")
    frame, score = flavor_cases.flights()
    features = flavor_cases.numeric_matrix(frame)
    labels = (score > np.median(score)).astype(int)
    model = xgb.XGBClassifier(booster="gblinear", n_estimators=10).fit(features, labels)
    return model, features, model.predict, model.predict_proba


def xgboost_booster() -> Original:
    xgb = require("xgboost")
    data, score = _data()
    train = xgb.DMatrix(data, label=score, enable_categorical=True)
    booster = xgb.train({"max_depth": 3}, train, num_boost_round=10)
    return booster, data, booster.inplace_predict, None


@pytest.mark.parametrize(
    ("library", "build"),
    [
        pytest.param("lightgbm", lgbm_regressor, id="lightgbm-regressor"),
        pytest.param("lightgbm", lgbm_multiclass_int_labels, id="lightgbm-multiclass"),
        pytest.param("lightgbm", lgbm_early_stopped, id="lightgbm-early-stopped"),
        pytest.param("lightgbm", lightgbm_booster, id="lightgbm-booster"),
        pytest.param("xgboost", xgb_regressor, id="xgboost-regressor"),
        pytest.param("xgboost", xgb_binary_early_stopped, id="xgboost-binary-early-stopped"),
        pytest.param("xgboost", xgb_softmax, id="xgboost-softmax"),
        pytest.param("xgboost", xgb_gblinear, id="xgboost-gblinear"),
        pytest.param("xgboost", xgboost_booster, id="xgboost-booster"),
    ],
)
def test_loaded_model_predicts_bit_for_bit(
    library: str, build: Callable[[], Original], tmp_path: Path
) -> None:
    require(library)
    with flavor_cases.single_threaded():  # the library is loaded: its threads are limited
        model, data, predict, predict_proba = build()
    flavor = detect_flavor(model)
    config = flavor.save(model, tmp_path)
    loaded = flavor.load(tmp_path, json.loads(json.dumps(config)))
    assert_same(loaded.predict(data), predict(data))
    assert hasattr(loaded, "predict_proba") == (predict_proba is not None)
    if predict_proba is not None:
        assert_same(loaded.predict_proba(data), predict_proba(data))
        assert loaded.classes == np.asarray(model.classes_).tolist()  # type: ignore[attr-defined]
    else:
        assert loaded.classes is None


def test_lightgbm_config_describes_the_model(tmp_path: Path) -> None:
    model = flavor_cases.lightgbm_classifier(tmp_path).model
    config = get_flavor("lightgbm").save(model, tmp_path)
    assert config["kind"] == "classifier"
    assert config["objective"].startswith("binary")
    assert config["classes"] == ["late", "on_time"]
    assert config["feature_names"] == ["distance", "hour", "carrier", "origin"]
    assert config["pandas_categorical"] is True
    assert (tmp_path / "model.txt").read_text().startswith("tree")


def test_xgboost_config_describes_the_model(tmp_path: Path) -> None:
    model = flavor_cases.xgboost_classifier(tmp_path).model
    config = get_flavor("xgboost").save(model, tmp_path)
    assert config["kind"] == "classifier"
    assert config["objective"] == "multi:softprob"
    assert config["n_classes"] == 3
    assert config["feature_types"] == ["float", "int", "c", "c"]
    assert (tmp_path / "model.ubj").is_file()


@pytest.mark.parametrize(
    ("library", "estimator"),
    [
        pytest.param("lightgbm", "LGBMClassifier", id="lightgbm"),
        pytest.param("xgboost", "XGBClassifier", id="xgboost"),
    ],
)
def test_an_unfitted_model_is_refused(library: str, estimator: str, tmp_path: Path) -> None:
    model = getattr(require(library), estimator)()
    with pytest.raises(InvalidInputError, match=f"unfitted {estimator}; call fit"):
        get_flavor(library).save(model, tmp_path)
