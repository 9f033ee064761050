"""Schemathesis against the server's own OpenAPI spec: no generated request gets a 5xx."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from served import LiveServer

pytestmark = pytest.mark.slow


def test_no_request_the_spec_allows_gets_a_5xx(
    live: Callable[..., LiveServer], tmp_path: Path
) -> None:
    server = live()
    # Requests name the endpoints that exist, so they reach the protocols and the models.
    (tmp_path / "schemathesis.toml").write_text(
        '[parameters]\n"path.name" = "delays"\n', encoding="utf-8"
    )
    cli = Path(sys.executable).with_name("schemathesis")
    command = [
        str(cli),
        "run",
        f"{server.url}/openapi.json",
        "--checks",
        "not_a_server_error",
        "--max-examples",
        "30",
        "--seed",
        "1",
        "--generation-deterministic",
        "--request-timeout",
        "20",
        "--no-color",
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "", "NO_COLOR": "1"}
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "Fuzzing" in done.stdout
