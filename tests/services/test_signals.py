"""How runs end when their process is stopped: SIGTERM, sys.exit, a program's own handler."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import shipyard

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


@pytest.mark.parametrize("with_block", [True, False], ids=["with-block", "no-with-block"])
def test_sigterm_ends_the_run_killed_and_keeps_exit_status(
    tmp_path: Path, with_block: bool
) -> None:
    body = (
        """
        with shipyard.start_run("jobs", store=store) as run:
            run.log_metric("x", 1.0)
            print("ready", flush=True)
            time.sleep(60)
        """
        if with_block
        else """
        run = shipyard.start_run("jobs", store=store)
        run.log_metric("x", 1.0)
        print("ready", flush=True)
        time.sleep(60)
        """
    )
    proc = _start(tmp_path, body)
    _wait_ready(proc)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM
    run = _only_run(tmp_path)
    assert run.status is shipyard.RunStatus.KILLED
    assert run.message == "terminated by SIGTERM"
    assert run.metrics == {"x": 1.0}  # the buffered point was flushed on the way out


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


def test_no_handler_is_installed_outside_the_main_thread(tmp_path: Path) -> None:
    proc = _start(
        tmp_path,
        """
        import threading
        def work():
            shipyard.start_run("jobs", store=store).end()
        t = threading.Thread(target=work); t.start(); t.join()
        print(signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, flush=True)
        """,
    )
    out, _ = proc.communicate(timeout=30)
    assert out.strip() == "True"
    assert proc.returncode == 0
