"""Fixtures for the server tests: real stores, real models, real servers on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from served import LiveServer, Served, make_served


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """A fresh store with models and endpoints (SQLite)."""
    found = make_served(tmp_path)
    yield found
    found.store.close()


@pytest.fixture
def live(served: Served) -> Iterator[Callable[..., LiveServer]]:
    """Start servers on loopback for this test; each is stopped gracefully at the end."""
    started: list[LiveServer] = []

    def start(**kwargs: Any) -> LiveServer:
        server = LiveServer(served.app(**kwargs)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def client(live: Callable[..., LiveServer]) -> Iterator[httpx.Client]:
    """An HTTP client on a live server of the ``served`` store."""
    server = live()
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http
