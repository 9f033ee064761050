"""Helpers for the flavor tests: load saved models in a fresh interpreter, compare bit for bit."""

from __future__ import annotations

import importlib
import json
import os
import pickle
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

#: Set to 1 (CI does) to fail, not skip, the tests whose model library is missing.
REQUIRE_VAR = "SHIPYARD_REQUIRE_FLAVORS"
EXTRAS = {"torch": "torch", "lightgbm": "lightgbm", "xgboost": "xgboost", "onnx": "onnx"}

# Runs in the fresh interpreter: load each model, predict, save the answers as .npy files.
_SCRIPT = r"""
import importlib.util, json, pickle, sys, traceback
from pathlib import Path
import numpy as np
from shipyard.flavors import get_flavor

job = json.loads(Path(sys.argv[1]).read_text())
out = Path(job["out"])
report = {"importable": {m: importlib.util.find_spec(m) is not None for m in job["absent"]}}
for name, load in job["loads"].items():
    try:
        predictor = get_flavor(load["flavor"]).load(Path(load["path"]), load["config"])
        data = pickle.loads(Path(load["data"]).read_bytes())
        np.save(out / f"{name}.predict.npy", predictor.predict(data), allow_pickle=True)
        has_proba = hasattr(predictor, "predict_proba")
        if has_proba:
            np.save(out / f"{name}.proba.npy", predictor.predict_proba(data), allow_pickle=True)
        report[name] = {"classes": predictor.classes, "proba": has_proba, "error": None}
    except Exception:
        report[name] = {"error": traceback.format_exc()}
(out / "report.json").write_text(json.dumps(report))
"""


def require(module: str) -> ModuleType:
    """Import a model library, or skip the test (fail it when SHIPYARD_REQUIRE_FLAVORS=1)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = EXTRAS.get(module.partition(".")[0], "flavors-test")
        message = f"{module} is not installed ({exc}); pip install 'shipyard[{extra}]'"
        if os.environ.get(REQUIRE_VAR) == "1":
            pytest.fail(f"{REQUIRE_VAR}=1 but {message}", pytrace=False)
        pytest.skip(message)


@dataclass
class FreshLoad:
    """One saved model for the fresh interpreter to load and predict with."""

    flavor: str
    path: Path
    config: dict[str, Any]
    data: Any


@dataclass
class FreshResult:
    """What the fresh interpreter predicted for each load, or the traceback it raised."""

    report: dict[str, Any]
    folder: Path

    @property
    def importable(self) -> dict[str, bool]:
        """For each module named in ``absent``: whether the fresh process could import it."""
        return dict(self.report["importable"])

    def outputs(self, name: str) -> tuple[np.ndarray, np.ndarray | None, Any]:
        """``predict``, ``predict_proba`` (or None) and ``classes`` of one load."""
        entry = self.report[name]
        assert entry["error"] is None, (
            f"loading {name} in a fresh process failed:\n{entry['error']}"
        )
        predict = np.load(self.folder / f"{name}.predict.npy", allow_pickle=True)
        proba_file = self.folder / f"{name}.proba.npy"
        proba = np.load(proba_file, allow_pickle=True) if entry["proba"] else None
        return predict, proba, entry["classes"]


def load_in_fresh_process(
    workdir: Path,
    loads: dict[str, FreshLoad],
    *,
    python_path: Sequence[Path] = (),
    absent: Sequence[str] = (),
) -> FreshResult:
    """Load and predict with every model in ``loads`` in one new interpreter (-W error).

    The interpreter runs in an empty folder with PYTHONPATH set to ``python_path`` only,
    so modules the test process imported from elsewhere cannot be imported there; it
    also reports whether each module in ``absent`` could be imported.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    jobs = {}
    for name, load in loads.items():
        data_file = workdir / f"{name}.data.pkl"
        data_file.write_bytes(pickle.dumps(load.data, protocol=5))
        config = json.loads(json.dumps(load.config))  # travels as JSON, as a registry keeps it
        jobs[name] = {
            "flavor": load.flavor,
            "path": str(load.path),
            "config": config,
            "data": str(data_file),
        }
    job_file = workdir / "job.json"
    job_file.write_text(json.dumps({"out": str(workdir), "loads": jobs, "absent": list(absent)}))
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    if python_path:
        env["PYTHONPATH"] = os.pathsep.join(str(path) for path in python_path)
    empty = workdir / "cwd"
    empty.mkdir(exist_ok=True)
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", _SCRIPT, str(job_file)],
        cwd=empty,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, f"fresh process failed:\n{result.stderr[-4000:]}"
    return FreshResult(json.loads((workdir / "report.json").read_text()), workdir)


def assert_same(got: Any, expected: Any) -> None:
    """Equal bit for bit: same dtype, same shape, same bytes (same values for objects)."""
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.dtype == expected.dtype, f"dtype {got.dtype} != {expected.dtype}"
    assert got.shape == expected.shape, f"shape {got.shape} != {expected.shape}"
    if expected.dtype == object:
        assert [type(v) for v in got.ravel()] == [type(v) for v in expected.ravel()]
        assert got.tolist() == expected.tolist()
    else:
        assert got.tobytes() == expected.tobytes(), "values differ"
