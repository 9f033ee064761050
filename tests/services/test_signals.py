"""How runs end when their process stops: a signal, sys.exit, a program's own handler."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import shipyard
from shipyard.cli._output import process_gone

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
]


def _start(home: Path, body: str) -> subprocess.Popen[str]:
    script = textwrap.dedent(
        """
        import signal, sys, time
        import shipyard
        store = shipyard.Store.from_settings(shipyard.Settings(home=sys.argv[1]))
        """
    ) + textwrap.dedent(body)
    return subprocess.Popen(
        [sys.executable, "-c", script, str(home)], stdout=subprocess.PIPE, text=True
    )


def _only_run(home: Path) -> shipyard.Run:
    store = shipyard.Store.from_settings(shipyard.Settings(home=home))
    try:
        (run,) = shipyard.search_runs(store=store)
        return run
    finally:
        store.close()


def _wait_ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"


def test_sigterm_stops_the_process_and_leaves_the_run_flagged(tmp_path: Path) -> None:
    # No handler of shipyard's: the default action kills the process at once, even in
    # the middle of a busy logging loop, and the run is left RUNNING for the CLI to flag.
    proc = _start(
        tmp_path,
        """
        with shipyard.start_run("jobs", store=store) as run:
            run.log_metric("x", 1.0)
            run.flush()
            print("ready", flush=True)
            step = 0
            while True:
                run.log_metric("k", 0.5, step=step)
                step += 1
        """,
    )
    _wait_ready(proc)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGTERM
    run = _only_run(tmp_path)
    assert run.status is shipyard.RunStatus.RUNNING
    assert run.metrics["x"] == 1.0
    assert process_gone(run)


def test_a_programs_own_sigterm_handler_is_left_alone(tmp_path: Path) -> None:
    body = """
    def graceful(signum, frame):
        print("graceful", flush=True)
        sys.exit(0)
    signal.signal(signal.SIGTERM, graceful)
    with shipyard.start_run("jobs", store=store) as run:
        print("ready", flush=True)
        time.sleep(60)
    """
    proc = _start(tmp_path, body)
    _wait_ready(proc)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert "graceful" in out
    assert proc.returncode == 0
    # sys.exit(0) inside the block is a normal ending.
    assert _only_run(tmp_path).status is shipyard.RunStatus.FINISHED


@pytest.mark.parametrize(
    ("code", "status"),
    [(0, shipyard.RunStatus.FINISHED), (3, shipyard.RunStatus.FAILED)],
    ids=["exit-0", "exit-3"],
)
def test_sys_exit_inside_a_run(tmp_path: Path, code: int, status: shipyard.RunStatus) -> None:
    proc = _start(
        tmp_path,
        f"""
        with shipyard.start_run("jobs", store=store):
            sys.exit({code})
        """,
    )
    proc.communicate(timeout=30)
    assert proc.returncode == code
    assert _only_run(tmp_path).status is status


def test_starting_a_run_installs_no_signal_handler(tmp_path: Path) -> None:
    proc = _start(
        tmp_path,
        """
        shipyard.start_run("jobs", store=store).end()
        print(signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, flush=True)
        """,
    )
    out, _ = proc.communicate(timeout=30)
    assert out.strip() == "True"
    assert proc.returncode == 0
