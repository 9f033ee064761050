"""``shipyard models`` and ``shipyard datasets``, in-process against a real store and model."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from cli_runner import invoke

import shipyard
from shipyard.cli import _load_check

pytest.importorskip("sklearn", reason="the tests train a real scikit-learn model")


def _training_data() -> tuple[Any, Any]:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    x = pd.DataFrame(
        {"distance": rng.normal(size=40), "carrier": rng.choice(["AA", "UA", "DL"], 40)}
    )
    y = pd.Series((x["distance"] + (x["carrier"] == "UA") > 0.3).astype(int), name="late")
    return x, y


def _train(x: Any, y: Any) -> Any:
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    encode = make_column_transformer((OneHotEncoder(), ["carrier"]), remainder="passthrough")
    return make_pipeline(encode, LogisticRegression()).fit(x, y)


@pytest.fixture
def delays(project: Path) -> dict[str, Any]:
    """Model ``delays``: v1 logged from a run (with metrics and its training data), v2 not."""
    x, y = _training_data()
    model = _train(x, y)
    with shipyard.start_run("delays", name="lr") as run:
        run.log_metric("auc", 0.875)
        v1 = run.log_model(model, "delays", training_data=x, target=y)
    v2 = shipyard.register_model(model, "delays", training_data=x, description="no run")
    return {"run_id": run.run_id, "v1": v1, "v2": v2}


# -- list, show, versions -------------------------------------------------------------------


def test_models_list_empty_store(project: Path) -> None:
    code, out, _ = invoke("models", "list")
    assert code == 0
    assert "no registered models yet" in out
    assert json.loads(invoke("models", "list", "--json")[1]) == []


def test_models_list_shows_latest_version_and_aliases(delays: dict[str, Any]) -> None:
    shipyard.set_alias("delays", "champion", 1)
    code, out, _ = invoke("models", "list")
    assert code == 0, out
    (line,) = [row for row in out.splitlines() if "delays" in row]
    assert line.split()[:3] == ["delays", "2", "champion→1"]
    code, out, _ = invoke("models", "list", "--json")
    (data,) = json.loads(out)
    assert data["name"] == "delays"
    assert data["latest_version"] == 2
    assert data["aliases"] == {"champion": 1}


def test_models_show_lists_versions_with_runs_aliases_and_metrics(
    delays: dict[str, Any],
) -> None:
    shipyard.set_alias("delays", "champion", 1)
    code, out, _ = invoke("models", "show", "delays")
    assert code == 0, out
    assert "2 versions" in out
    v1_line = next(line for line in out.splitlines() if line.split()[:1] == ["1"])
    assert v1_line.split()[:3] == ["1", "sklearn", delays["run_id"][:8]]
    assert "champion" in v1_line
    assert "0.875" in v1_line
    code, out, _ = invoke("models", "show", "delays", "--json")
    data = json.loads(out)
    assert [v["version"] for v in data["versions"]] == [1, 2]
    assert data["versions"][0]["run_id"] == delays["run_id"]
    assert data["versions"][0]["metrics"] == {"auc": 0.875}
    assert data["versions"][1]["description"] == "no run"


def test_models_versions_newest_first_and_json(delays: dict[str, Any]) -> None:
    code, out, _ = invoke("models", "versions", "delays")
    assert code == 0, out
    numbers = [line.split()[0] for line in out.splitlines() if "sklearn" in line]
    assert numbers == ["2", "1"]
    data = json.loads(invoke("models", "versions", "delays", "--json")[1])
    assert [v["uri"] for v in data] == ["models:/delays/1", "models:/delays/2"]
    assert data[0]["inputs"][0]["context"] == "training"


@pytest.mark.parametrize("command", ["show", "versions", "aliases"])
def test_unknown_model_is_one_clear_line_and_exit_1(project: Path, command: str) -> None:
    code, out, err = invoke("models", command, "nope")
    assert code == 1
    assert "model 'nope' not found" in err
    assert "Traceback" not in out + err


# -- aliases --------------------------------------------------------------------------------


def test_alias_set_move_delete_and_history(delays: dict[str, Any]) -> None:
    code, out, _ = invoke("models", "alias", "delays", "champion", "1")
    assert code == 0, out
    assert "champion: (new) → 1" in out
    code, out, _ = invoke("models", "alias", "delays", "champion", "2")
    assert "champion: 1 → 2" in out
    code, out, _ = invoke("models", "alias", "delays", "challenger", "latest", "--json")
    assert json.loads(out)["version"] == 2
    assert shipyard.get_model("delays").aliases == {"champion": 2, "challenger": 2}
    code, out, _ = invoke("models", "alias", "delays", "champion", "--delete")
    assert code == 0, out
    assert "champion: 2 → (deleted)" in out

    code, out, _ = invoke("models", "aliases", "delays")
    assert code == 0, out
    assert "aliases now: challenger→2" in out
    rows = [line.split() for line in out.splitlines() if line.strip()[:2] == "20"]
    assert [row[2] for row in rows] == ["champion", "champion", "challenger", "champion"]
    changes = [" ".join(row[3:-1]) for row in rows]
    assert changes == ["(new) → 1", "1 → 2", "(new) → 2", "2 → (deleted)"]
    data = json.loads(invoke("models", "aliases", "delays", "--alias", "champion", "--json")[1])
    assert [(e["previous_version"], e["version"]) for e in data] == [(None, 1), (1, 2), (2, None)]
    assert all(e["at"] for e in data)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bad name", "1"], "an alias starts with a letter"),
        (["latest", "1"], "alias 'latest' is reserved"),
        (["champion", "7"], "model 'delays' has no version 7"),
        (["champion"], "give a VERSION to point the alias at, or --delete"),
        (["champion", "1", "--delete"], "give a VERSION to point the alias at, or --delete"),
        (["champion", "--delete"], "model 'delays' has no alias 'champion'"),
    ],
    ids=["bad-alias-name", "reserved-alias", "unknown-version", "no-version", "both", "no-alias"],
)
def test_alias_errors(delays: dict[str, Any], args: list[str], message: str) -> None:
    code, out, err = invoke("models", "alias", "delays", *args)
    assert code == 1
    assert message in err
    assert "Traceback" not in out + err


def test_aliases_without_history(delays: dict[str, Any]) -> None:
    code, out, _ = invoke("models", "aliases", "delays")
    assert code == 0
    assert "no alias changes yet" in out


# -- lineage --------------------------------------------------------------------------------


def test_lineage_names_run_and_training_dataset(delays: dict[str, Any]) -> None:
    shipyard.set_alias("delays", "champion", 1)
    digest = delays["v1"].inputs[0].digest
    code, out, _ = invoke("models", "lineage", "delays@champion")
    assert code == 0, out
    assert delays["run_id"] in out
    assert "FINISHED" in out
    (row,) = [line for line in out.splitlines() if digest[:12] in line]
    assert row.split() == ["delays-training", digest[:12], "40", "3", "training", "version"]
    assert "scikit-learn==" in out
    data = json.loads(invoke("models", "lineage", "delays/1", "--json")[1])
    assert data["run"] == {"run_id": delays["run_id"], "name": "lr", "status": "FINISHED"}
    (dataset,) = data["datasets"]
    assert dataset == {
        "name": "delays-training",
        "digest": digest,
        "context": "training",
        "via": "version",
        "stored": True,
        "rows": 40,
        "columns": 3,
    }
    assert any(r.startswith("scikit-learn==") for r in data["requirements"])


def test_lineage_of_a_version_without_run(delays: dict[str, Any]) -> None:
    code, out, _ = invoke("models", "lineage", "delays")  # NAME alone: the latest
    assert code == 0, out
    assert "delays v2" in out
    assert "registered without a run" in out
    assert "delays-training" in out


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("delays/abc", "'abc' in 'delays/abc' is not a version number; for an alias write"),
        ("delays/9", "model 'delays' has no version 9"),
        ("delays@gone", "model 'delays' has no alias 'gone'"),
        ("delays@", "names no alias after '@'"),
        ("/3", "cannot read model version '/3'"),
        ("nope/1", "model 'nope' not found"),
    ],
    ids=["not-a-number", "unknown-version", "unknown-alias", "empty-alias", "no-name", "no-model"],
)
def test_bad_version_specs_are_clear(delays: dict[str, Any], spec: str, message: str) -> None:
    code, out, err = invoke("models", "lineage", spec)
    assert code == 1
    assert message in err
    assert "Traceback" not in out + err


# -- datasets -------------------------------------------------------------------------------


def test_datasets_list_and_show_with_models_trained_on_it(delays: dict[str, Any]) -> None:
    digest = delays["v1"].inputs[0].digest
    code, out, _ = invoke("datasets", "list")
    assert code == 0, out
    assert "2 datasets" in out  # with and without the target column
    assert digest[:12] in out
    data = json.loads(invoke("datasets", "list", "delays-training", "--json")[1])
    assert {d["digest"] for d in data} == {digest, delays["v2"].inputs[0].digest}

    code, out, _ = invoke("datasets", "show", f"delays-training@{digest[:8]}")
    assert code == 0, out
    assert digest in out
    assert "40 rows, 3 columns" in out
    for column, kind in [("distance", "double"), ("carrier", "string"), ("late", "long")]:
        assert [column, kind] in [line.split() for line in out.splitlines()]
    assert "delays v1" in out
    assert "delays v2" not in out
    data = json.loads(invoke("datasets", "show", f"delays-training@{digest}", "--json")[1])
    assert data["rows"] == 40
    assert [c["name"] for c in data["schema"]["columns"]] == ["distance", "carrier", "late"]
    assert data["trained"] == [{"name": "delays", "version": 1, "aliases": []}]


def test_datasets_errors(project: Path) -> None:
    code, out, _ = invoke("datasets", "list")
    assert code == 0
    assert "no datasets yet" in out
    code, _, err = invoke("datasets", "list", "nope")
    assert code == 1
    assert "dataset 'nope' not found" in err
    code, _, err = invoke("datasets", "show", "nope@abc")
    assert code == 1
    assert "dataset 'nope' with digest 'abc' not found" in err
    code, _, err = invoke("datasets", "show", "nope@")
    assert code == 1
    assert "write NAME or NAME@DIGEST_PREFIX" in err


# -- load-check: a fresh process ------------------------------------------------------------


@pytest.mark.slow
def test_load_check_loads_and_predicts_in_a_fresh_process(delays: dict[str, Any]) -> None:
    shipyard.set_alias("delays", "champion", 2)
    code, out, err = invoke("models", "load-check", "delays@champion")
    assert code == 0, out + err
    assert "ok delays v2 loads and predicts in a new process" in out
    assert "models:/delays/2 (delays@champion)" in out
    assert "sklearn" in out
    assert "predictions on the stored example (5 rows)" in out

    code, out, err = invoke("models", "load-check", f"runs:/{delays['run_id']}/model", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["ok"] is True
    assert (report["name"], report["version"], report["flavor"]) == ("delays", 1, "sklearn")
    assert report["rows"] == 5
    x, y = _training_data()
    expected = _train(x, y).predict(x.head(5)).tolist()
    assert report["predictions"] == expected
    assert report["classes"] == [0, 1]
    assert len(report["probabilities"]) == 5
    assert report["load_s"] > 0
    assert report["predict_s"] > 0


@pytest.mark.slow
def test_load_check_reports_a_tampered_artifact_and_exits_1(delays: dict[str, Any]) -> None:
    store = shipyard.get_default_store()
    stored = Path(store.settings.resolved_artifact_url()) / delays["v2"].artifact_prefix
    manifest = json.loads((stored / "shipyard-model.json").read_text())
    model_file = next(stored / name for name in manifest["files"] if name.startswith("model."))
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model_file.write_bytes(bytes(data))

    code, out, err = invoke("models", "load-check", "delays/2")
    assert code == 1
    assert "error: models:/delays/2 failed to load:" in err
    assert "corrupt" in err.lower()
    assert model_file.name in err
    assert "Traceback" not in out + err
    code, out, _ = invoke("models", "load-check", "delays", "--json")
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False
    assert report["error_type"] == "CorruptedArtifactError"
    # The untouched version still loads.
    assert invoke("models", "load-check", "delays/1")[0] == 0


def test_load_check_of_an_unknown_model(project: Path) -> None:
    code, out, err = invoke("models", "load-check", "nope@champion")
    assert code == 1
    assert "model 'nope' not found" in err
    code, out, _ = invoke("models", "load-check", "models:/nope/1", "--json")
    assert code == 1
    assert json.loads(out)["error_type"] == "NotFoundError"


def test_a_model_without_example_loads_but_is_not_predicted(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    x, y = _training_data()
    shipyard.register_model(_train(x, y), "bare")  # no training data: no example rows
    report = _load_check.check("models:/bare/1")  # in this process: the fresh one is slow
    assert report["ok"] is True
    assert (report["predictions"], report["predict_s"]) == (None, None)
    _load_check.print_report({**report, "spec": "bare", "process_s": 1.0})
    assert "no input example was stored: loaded, not predicted" in capsys.readouterr().out
    assert _load_check.main([]) == 2


def test_the_check_process_gets_the_store_as_absolute_urls(tmp_path: Path) -> None:
    settings = shipyard.Settings.load(
        tmp_path, env={}, home="h", metadata_url="sqlite:///meta.db", artifact_url="arts"
    )
    env = _load_check.store_environment(shipyard.Store.from_settings(settings))
    assert env["SHIPYARD_HOME"] == str(tmp_path.resolve() / "h")
    assert env["SHIPYARD_METADATA_URL"] == f"sqlite:///{(tmp_path / 'meta.db').resolve()}"
    assert env["SHIPYARD_ARTIFACT_URL"] == (tmp_path / "arts").resolve().as_posix()
    assert str(Path(shipyard.__file__).parents[1]) in env["PYTHONPATH"].split(os.pathsep)
