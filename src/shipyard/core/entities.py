"""The domain objects services return: plain frozen dataclasses, never ORM rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

__all__ = ["ArtifactInfo", "Experiment", "Metric", "Run", "RunInput", "RunStatus"]


class RunStatus(StrEnum):
    """Where a run is in its life. Only RUNNING can change."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def is_terminal(self) -> bool:
        """True once the run has ended, whichever way."""
        return self is not RunStatus.RUNNING


@dataclass(frozen=True, slots=True)
class Experiment:
    """A named group of runs."""

    experiment_id: str
    name: str
    created_at: datetime
    description: str = ""


@dataclass(frozen=True, slots=True)
class Metric:
    """One point of a metric's history; ``timestamp`` is milliseconds since the epoch."""

    key: str
    value: float
    step: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class ArtifactInfo:
    """A stored artifact: its path inside the run, size in bytes and sha256."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class RunInput:
    """A dataset a run read, by content digest."""

    digest: str
    name: str
    context: str = "training"


@dataclass(frozen=True, slots=True)
class Run:
    """A tracked run with its params, latest metric values and tags."""

    run_id: str
    experiment_id: str
    name: str
    status: RunStatus
    start_time: datetime
    end_time: datetime | None
    message: str = ""
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    host: str = ""
    pid: int | None = None

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to end, or None while running."""
        if self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds()

    @property
    def code_revision(self) -> str | None:
        """The git commit the run's code came from, when it ran inside a repository."""
        return self.tags.get("shipyard.git.commit")
