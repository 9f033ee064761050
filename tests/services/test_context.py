"""The default store that module-level functions use when none is passed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import shipyard


@pytest.fixture
def no_default_store() -> Iterator[None]:
    """Forget the process's default store for the test, and put it back afterwards."""
    previous = shipyard.set_default_store(None)
    try:
        yield
    finally:
        made = shipyard.set_default_store(previous)
        if made is not None and made is not previous:
            made.close()


@pytest.mark.usefixtures("no_default_store")
def test_default_store_comes_from_settings_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHIPYARD_HOME", "from-env")
    monkeypatch.delenv("SHIPYARD_METADATA_URL", raising=False)
    monkeypatch.delenv("SHIPYARD_ARTIFACT_URL", raising=False)

    store = shipyard.get_default_store()
    assert shipyard.get_default_store() is store
    assert store.settings.home_dir == (tmp_path / "from-env").resolve()
    with shipyard.start_run("defaults", capture_env=False) as run:
        run.log_metric("m", 1.0)
    assert shipyard.get_run(run.run_id).metrics == {"m": 1.0}
    assert (tmp_path / "from-env" / "shipyard.db").is_file()


@pytest.mark.usefixtures("no_default_store")
def test_set_default_store_returns_the_previous_one(store: shipyard.Store) -> None:
    assert shipyard.set_default_store(store) is None
    assert shipyard.get_default_store() is store
    assert shipyard.set_default_store(None) is store
