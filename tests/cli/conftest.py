"""Fixtures for the command-line tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import shipyard


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh project directory holding the default store, as a user's shell would have."""
    monkeypatch.chdir(tmp_path)
    for name in ("SHIPYARD_HOME", "SHIPYARD_METADATA_URL", "SHIPYARD_ARTIFACT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "160")
    shipyard.set_default_store(None)
    yield tmp_path
    previous = shipyard.set_default_store(None)
    if previous is not None:
        previous.close()
