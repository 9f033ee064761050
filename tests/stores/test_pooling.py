"""Pooled connections and forked workers: a child opens its own, the parent keeps working."""

from __future__ import annotations

import os
import sys

import pytest

import shipyard

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="os.fork is POSIX-only")


def _child(store: shipyard.Store, value: float) -> int:
    """Runs in a forked child; returns its exit code."""
    # The parent's pooled connection must not be reused here: a shared PostgreSQL socket
    # garbles the protocol, and a shared SQLite handle is undefined behaviour.
    if store.metadata.db.engine.pool.checkedin() != 0:
        return 2
    try:
        with shipyard.start_run("fork", store=store, capture_env=False) as run:
            for step in range(200):
                run.log_metric("x", value, step=step)
    except BaseException:
        return 1
    return 0


def test_forked_children_log_through_their_own_connections(store: shipyard.Store) -> None:
    with shipyard.start_run("fork", store=store, capture_env=False) as parent_run:
        parent_run.log_metric("before", 1.0)
        parent_run.flush()  # the parent's pool now holds an open connection
        children = []
        for child in range(3):
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the child
                os._exit(_child(store, float(child)))
            children.append(pid)
        statuses = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
        parent_run.log_metric("after", 2.0)
    assert statuses == [0, 0, 0]
    runs = shipyard.search_runs("fork", store=store, max_results=10)
    assert len(runs) == 4
    counts = sorted(len(shipyard.get_metric_history(r.run_id, "x", store=store)) for r in runs)
    assert counts == [0, 200, 200, 200]
    assert shipyard.get_run(parent_run.run_id, store=store).metrics == {"before": 1.0, "after": 2.0}
