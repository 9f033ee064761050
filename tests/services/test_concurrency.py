"""Several processes on one store: contention, first-time schema creation (on every
backend), and runs left open when a process exits."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

import shipyard
from shipyard import RunStatus
from shipyard.stores import HEAD_REVISION
from shipyard.stores._schema import metrics

pytestmark = pytest.mark.slow

#: Start-line shared by the scripts: wait until the test says go, so that the processes,
#: already started and imported, hit the store at the same moment.
_WAIT_FOR_GO = """
import sys, time
from pathlib import Path

home, index, url = Path(sys.argv[1]), sys.argv[2], sys.argv[3] or None
(home / f"ready-{index}").touch()
deadline = time.monotonic() + 60
while not (home / "go").exists():
    if time.monotonic() > deadline:
        sys.exit("never told to go")
    time.sleep(0.002)
"""

_LOGGER = (
    _WAIT_FOR_GO
    + """
import shipyard

points = int(sys.argv[4])
settings = shipyard.Settings(
    home=home,
    project_dir=home,
    metadata_url=url,
    metric_flush_points=50,
    metric_flush_seconds=3600,
)
store = shipyard.Store.from_settings(settings)
with shipyard.start_run(
    "contention", name=f"worker-{index}", params={"worker": index}, store=store,
    capture_env=False,
) as run:
    for i in range(points):
        run.log_metric("loss" if i % 2 else "acc", i / points)
        if i % 250 == 0:
            run.set_tag("progress", str(i))
            run.log_param(f"checkpoint_{i}", i)
print(run.run_id)
store.close()
"""
)

_OPENER = (
    _WAIT_FOR_GO
    + """
import shipyard

settings = shipyard.Settings(home=home, project_dir=home, metadata_url=url)
store = shipyard.Store.from_settings(settings)
print(store.metadata.get_or_create_experiment("shared").experiment_id)
store.close()
"""
)


def _start_together(
    script: str, home: Path, url: str, count: int, *args: str
) -> list[subprocess.Popen[str]]:
    """Start ``count`` interpreters running ``script`` and release them at the same moment."""
    home.mkdir(parents=True, exist_ok=True)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(home), str(index), url, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(count)
    ]
    deadline = time.monotonic() + 60
    while not all((home / f"ready-{index}").exists() for index in range(count)):
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            for proc in procs:
                proc.kill()
                proc.communicate()
            pytest.fail("the worker processes did not start")
        time.sleep(0.005)
    (home / "go").touch()
    return procs


def _finish(procs: list[subprocess.Popen[str]]) -> list[str]:
    """Wait for every process; fail with its stderr if one did not exit cleanly."""
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert "database is locked" not in err
        outputs.append(out.strip())
    return outputs


def _open(home: Path, url: str = "") -> shipyard.Store:
    settings = shipyard.Settings(home=home, project_dir=home, metadata_url=url or None)
    return shipyard.Store.from_settings(settings)


def test_four_processes_log_to_one_store(tmp_path: Path, make_empty_url: Callable[[], str]) -> None:
    workers, points = 4, 5_000
    home, url = tmp_path / "store", make_empty_url()
    store = _open(home, url)
    try:
        store.upgrade()
        run_ids = _finish(_start_together(_LOGGER, home, url, workers, str(points)))

        assert len(set(run_ids)) == workers
        with store.metadata.db.read() as conn:
            assert conn.execute(select(func.count()).select_from(metrics)).scalar() == (
                workers * points
            )
        for run_id in run_ids:
            run = store.metadata.get_run(run_id)
            assert run.status is RunStatus.FINISHED
            assert run.tags == {"progress": str(points - 250)}
            assert len(run.params) == 1 + points // 250
            for key in ("loss", "acc"):
                history = store.metadata.get_metric_history(run_id, key)
                assert [m.step for m in history] == list(range(points // 2))
            assert run.metrics == {"loss": (points - 1) / points, "acc": (points - 2) / points}
    finally:
        store.close()


@pytest.mark.parametrize("attempt", range(2))
def test_processes_opening_an_empty_store_together_all_succeed(
    tmp_path: Path, make_empty_url: Callable[[], str], attempt: int
) -> None:
    home, url = tmp_path / "store", make_empty_url()
    experiment_ids = _finish(_start_together(_OPENER, home, url, 2))

    store = _open(home, url)
    try:
        (experiment,) = store.metadata.list_experiments()
        assert experiment_ids == [experiment.experiment_id] * 2
        with store.metadata.db.read() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        assert [row[0] for row in versions] == [HEAD_REVISION]
    finally:
        store.close()


_LEFT_OPEN = """
import sys
from pathlib import Path
import shipyard

home = Path(sys.argv[1])
store = shipyard.Store.from_settings(shipyard.Settings(home=home, project_dir=home))
run = shipyard.start_run("left-open", store=store, capture_env=False)
run.log_metric("m", 1.0)  # still buffered when the process ends
print(run.run_id, flush=True)
"""


@pytest.mark.parametrize(
    ("ending", "status", "message"),
    [
        pytest.param("", RunStatus.FINISHED, "", id="normal-exit"),
        pytest.param('raise ValueError("boom")', RunStatus.FAILED, "ValueError: boom", id="error"),
        pytest.param("raise KeyboardInterrupt", RunStatus.KILLED, "KeyboardInterrupt", id="ctrl-c"),
    ],
)
def test_run_left_open_is_ended_at_exit(
    tmp_path: Path, ending: str, status: RunStatus, message: str
) -> None:
    home = tmp_path / "store"
    done = subprocess.run(
        [sys.executable, "-c", _LEFT_OPEN + ending, str(home)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode == 0) is (status is RunStatus.FINISHED), done.stderr
    if message:
        assert message in done.stderr  # the traceback is still printed
    assert "could not end run" not in done.stderr

    store = _open(home)
    try:
        run = store.metadata.get_run(done.stdout.strip())
        assert run.status is status
        assert run.message == message
        assert run.metrics == {"m": 1.0}
    finally:
        store.close()
