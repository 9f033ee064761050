"""Every flavor through the registry: register, load by URI in a fresh process, same answers.

Where ``test_flavor_contract`` checks the flavors alone, this goes the way users do:
``register_model`` (signature, example rows and profiles inferred from the training
data), then ``shipyard.load_model("models:/NAME/1")`` in a new interpreter that finds
the store through ``SHIPYARD_HOME``, with the inputs checked against the signature
before they reach the model. Predictions must still match the original bit for bit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import flavor_cases
import numpy as np
import pandas as pd
import pytest
from flavor_cases import Case
from flavor_fresh import assert_same

import shipyard
from shipyard.core.signature import Signature

BUILDERS: dict[str, Callable[[Path], Case]] = {
    "sklearn": flavor_cases.sklearn_pipeline,
    "lightgbm": flavor_cases.lightgbm_classifier,
    "xgboost": flavor_cases.xgboost_classifier,
    "pytorch": flavor_cases.torch_mlp,
    "onnx": flavor_cases.onnx_logistic,
    "pyfunc": flavor_cases.pyfunc_code_paths,
}

_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path

    import numpy as np
    import pandas as pd
    import shipyard

    folder = Path(sys.argv[1])
    report = {}
    for name in json.loads(sys.argv[2]):
        if (folder / f"{name}.npy").exists():
            data = np.load(folder / f"{name}.npy")
        else:
            data = pd.read_parquet(folder / f"{name}.parquet")
        model = shipyard.load_model(f"models:/{name}/1")
        np.save(folder / f"{name}-predict.npy", model.predict(data), allow_pickle=True)
        if hasattr(model, "predict_proba"):
            np.save(folder / f"{name}-proba.npy", model.predict_proba(data), allow_pickle=True)
        report[name] = {"version": model.version, "flavor": model.flavor}
    print(json.dumps(report))
    """
)


@dataclass
class Registered:
    cases: dict[str, Case]
    versions: dict[str, shipyard.ModelVersion]
    report: dict[str, dict[str, object]]
    folder: Path


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> Registered:
    """All flavors registered in one store, then loaded together in one fresh interpreter."""
    home = tmp_path_factory.mktemp("registry-home")
    folder = tmp_path_factory.mktemp("registry-io")
    store = shipyard.Store.from_settings(shipyard.Settings(home=home, project_dir=home))
    cases, versions = {}, {}
    try:
        for flavor, build in BUILDERS.items():
            case = build(tmp_path_factory.mktemp(flavor))
            cases[flavor] = case
            versions[flavor] = shipyard.register_model(
                case.model,
                flavor,
                training_data=case.data,
                flavor_options=case.options,
                store=store,
            )
            if isinstance(case.data, np.ndarray):
                np.save(folder / f"{flavor}.npy", case.data, allow_pickle=False)
            else:
                case.data.to_parquet(folder / f"{flavor}.parquet")
    finally:
        store.close()
        flavor_cases.forget_user_modules()
    env = {**os.environ, "SHIPYARD_HOME": str(home)}
    env.pop("SHIPYARD_METADATA_URL", None)
    env.pop("SHIPYARD_ARTIFACT_URL", None)
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", _SCRIPT, str(folder), json.dumps(list(cases))],
        capture_output=True,
        text=True,
        env=env,
        cwd=folder,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return Registered(cases, versions, json.loads(done.stdout.splitlines()[-1]), folder)


@pytest.mark.parametrize("flavor", list(BUILDERS))
def test_registered_model_predicts_the_same_in_a_fresh_process(
    flavor: str, registered: Registered
) -> None:
    case = registered.cases[flavor]
    assert registered.report[flavor] == {"version": 1, "flavor": flavor}
    got = np.load(registered.folder / f"{flavor}-predict.npy", allow_pickle=True)
    assert_same(got, case.predict)
    proba_file = registered.folder / f"{flavor}-proba.npy"
    if case.proba is None:
        assert not proba_file.exists()
    else:
        assert_same(np.load(proba_file, allow_pickle=True), case.proba)


@pytest.mark.parametrize("flavor", list(BUILDERS))
def test_registered_version_has_a_signature_and_requirements(
    flavor: str, registered: Registered
) -> None:
    version = registered.versions[flavor]
    assert version.flavor == flavor
    assert version.signature is not None
    signature = Signature.from_dict(version.signature)
    data = registered.cases[flavor].data
    if isinstance(data, pd.DataFrame):
        assert signature.inputs.names == tuple(data.columns)
    else:
        assert signature.inputs.is_tensor
    assert signature.outputs is not None
    assert version.requirements
    assert all("==" in r for r in version.requirements)
