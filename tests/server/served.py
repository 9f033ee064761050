"""What the server tests share: a store with registered models and endpoints, and uvicorn
serving it on loopback in a thread."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import uvicorn
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline

import shipyard
from flight_table import delay_pipeline, flights
from shipyard.server import create_app

FEATURES = ["carrier", "distance", "temp"]


def classifier(seed: int = 0, *, flip: bool = False) -> tuple[Pipeline, pd.DataFrame]:
    """A fitted pipeline; ``flip`` learns the opposite labels (a visibly different version)."""
    X, y = flights(200, seed=seed)
    if flip:
        y = y.map({"late": "on_time", "on_time": "late"})
    return delay_pipeline().fit(X, y), X


class Exploding(shipyard.PythonModel):
    """A model that raises on every call after the warm-up example."""

    def predict(self, data: pd.DataFrame) -> Any:
        if (data["temp"] < -1000).all():
            return np.zeros(len(data))
        raise RuntimeError("the model broke")


@dataclass
class Served:
    """A store holding model ``delays`` (v1, v2 flipped, v3 raising) and a regressor."""

    store: shipyard.Store
    home: Path
    rows: list[dict[str, Any]]

    def app(self, **kwargs: Any) -> Any:
        return create_app(self.store, **kwargs)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def make_served(root: Path, **settings: Any) -> Served:
    home = root / "home"
    store = shipyard.Store.from_settings(
        shipyard.Settings(
            home=home,
            project_dir=root,
            serve_poll_seconds=0.1,
            log_flush_seconds=0.2,
            **settings,
        )
    )
    store.upgrade()
    model, X = classifier()
    shipyard.register_model(model, "delays", training_data=X, store=store)
    flipped, _ = classifier(flip=True)
    shipyard.register_model(flipped, "delays", training_data=X, store=store)
    example = X.head(5).assign(temp=-5000.0)
    shipyard.register_model(Exploding(), "delays", training_data=example, store=store)
    shipyard.set_alias("delays", "champion", 1, store=store)
    regressor = LinearRegression().fit(X[["distance", "temp"]], X["distance"] * 0.1)
    shipyard.register_model(
        regressor, "minutes", training_data=X[["distance", "temp"]], store=store
    )
    shipyard.create_endpoint("delays", "delays@champion", store=store)
    shipyard.create_endpoint("minutes", "minutes/1", store=store)
    rows = X.head(20).to_dict("records")
    return Served(store, home, rows)


class LiveServer:
    """uvicorn serving an app on a loopback port in a thread, stopped gracefully."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)
