"""The domain objects services return: plain frozen dataclasses, never ORM rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "DECISION_KINDS",
    "LOOP_PHASES",
    "Alert",
    "AliasEvent",
    "ArtifactInfo",
    "Dataset",
    "Decision",
    "Endpoint",
    "EndpointEvent",
    "Experiment",
    "LoopState",
    "Metric",
    "ModelVersion",
    "MonitorWindow",
    "RegisteredModel",
    "Run",
    "RunInput",
    "RunStatus",
]


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


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A named model in the registry: its versions are numbered from 1."""

    name: str
    created_at: datetime
    updated_at: datetime
    description: str = ""
    latest_version: int | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One registered version: the artifact, its signature, metrics and lineage.

    ``signature`` is the JSON form of :class:`shipyard.core.signature.Signature`;
    ``inputs`` are the datasets it was trained or evaluated on, by content digest.
    """

    name: str
    version: int
    flavor: str
    created_at: datetime
    artifact_prefix: str
    manifest_sha256: str
    run_id: str | None = None
    signature: dict[str, Any] | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    requirements: tuple[str, ...] = ()
    code_revision: str | None = None
    description: str = ""
    created_by: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    inputs: tuple[RunInput, ...] = ()

    @property
    def uri(self) -> str:
        """``models:/NAME/VERSION``, which :func:`shipyard.load_model` accepts."""
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True, slots=True)
class AliasEvent:
    """An alias being set, moved or deleted: who did it, when, from which version to which.

    ``version`` is None when the alias was deleted; ``previous_version`` is None when it
    was new.
    """

    name: str
    alias: str
    version: int | None
    previous_version: int | None
    at: datetime
    by: str = ""


@dataclass(frozen=True, slots=True)
class Dataset:
    """A named, content-addressed table snapshot: the same content has the same digest.

    ``schema`` is the JSON form of :class:`shipyard.core.signature.Schema`.
    """

    name: str
    digest: str
    num_rows: int
    num_columns: int
    size_bytes: int
    schema: dict[str, Any]
    created_at: datetime
    snapshot_sha256: str
    profile_sha256: str
    created_by: str = ""
    description: str = ""

    @property
    def snapshot_key(self) -> str:
        """Where the Parquet snapshot lives in the artifact store."""
        return f"datasets/{self.digest}/data.parquet"

    @property
    def profile_key(self) -> str:
        """Where the profile's JSON lives in the artifact store."""
        return f"datasets/{self.digest}/profile.json"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A named serving target and its traffic policy.

    The primary is either the version an alias of ``model_name`` points at (``alias``
    set; the endpoint follows the alias when it moves) or a fixed ``version``. A canary
    version takes ``canary_percent`` of the traffic; shadow versions get a copy of every
    request off the request path. ``generation`` grows on every change, so a server can
    tell cheaply that it must reload.
    """

    name: str
    model_name: str
    alias: str | None
    version: int | None
    created_at: datetime
    updated_at: datetime
    canary_version: int | None = None
    canary_percent: float = 0.0
    shadow_versions: tuple[int, ...] = ()
    max_batch_size: int = 64
    max_latency_ms: float = 5.0
    generation: int = 1
    description: str = ""

    @property
    def target(self) -> str:
        """What the primary follows: ``MODEL@ALIAS`` or ``MODEL/VERSION``."""
        if self.alias is not None:
            return f"{self.model_name}@{self.alias}"
        return f"{self.model_name}/{self.version}"


@dataclass(frozen=True, slots=True)
class EndpointEvent:
    """One change to an endpoint's traffic: what it was, what it became, who, when.

    ``action`` is one of ``create``, ``update``, ``canary``, ``shadow``, ``promote``,
    ``rollback`` or ``delete``; ``before``/``after`` hold the endpoint's fields
    (``model_name``, ``alias``, ``version``, ``primary_version``, ``canary_version``,
    ``canary_percent``, ``shadow_versions``, ``max_batch_size``, ``max_latency_ms``);
    ``before`` is None for ``create`` and ``after`` is None for ``delete``.
    """

    endpoint: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    at: datetime
    by: str = ""
    event_id: int = 0


@dataclass(frozen=True, slots=True)
class MonitorWindow:
    """The monitoring results of one window of an endpoint's prediction log.

    ``results`` holds every figure of the window (drift per column, data quality,
    performance from feedback, operations) as JSON-ready data; ``docs/monitoring.md``
    lists its keys. ``version`` is the model version whose reference profile the window
    was compared with (None when none had one).
    """

    endpoint: str
    start: datetime
    end: datetime
    rows: int
    labelled: int
    model_name: str | None
    version: int | None
    results: dict[str, Any]
    computed_at: datetime
    window_id: int | None = None


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert rule that fired on a window; ``delivered`` is None without a webhook."""

    alert_id: int
    endpoint: str
    window_start: datetime
    window_end: datetime
    rule: str
    metric: str
    value: float
    threshold: float
    message: str
    created_at: datetime
    reference: float | None = None
    delivered: bool | None = None


#: What a loop decision is about, in the order a cycle usually meets them.
DECISION_KINDS = (
    "trigger",
    "retrain",
    "gate",
    "approval",
    "canary",
    "verdict",
    "promotion",
    "rollback",
    "veto",
    "error",
)

#: Where an endpoint's loop can be; ``idle`` between cycles.
LOOP_PHASES = ("idle", "retraining", "awaiting_approval", "canary", "awaiting_promotion")


@dataclass(frozen=True, slots=True)
class Decision:
    """One audited step of the loop: what it decided, why, with the numbers.

    ``cycle`` is the id of the cycle's trigger decision (a trigger's own cycle is its
    id), None outside a cycle; ``kind`` is one of `DECISION_KINDS`; ``outcome`` a short
    word (``fired``, ``passed``, ``refused``, ``promote``, ...); ``details`` the numbers,
    as JSON data. ``at`` is the loop's clock, ``created_at`` the wall clock; ``actor`` is
    ``loop`` or the user who approved, vetoed or triggered. ``version`` is the challenger
    version the decision is about.
    """

    id: int
    endpoint: str
    model: str
    cycle: int | None
    kind: str
    outcome: str
    summary: str
    details: dict[str, Any]
    at: datetime
    created_at: datetime
    actor: str
    run_id: str | None = None
    version: int | None = None


@dataclass(frozen=True, slots=True)
class LoopState:
    """Where one endpoint's loop is; the controller's only memory, so it survives restarts.

    ``phase`` is one of `LOOP_PHASES`; ``challenger`` the version in flight. The
    ``phase_since``, ``cooldown_until`` and ``checked_until`` times are on the loop's
    clock (``checked_until``: the end of the last monitoring window judged); ``owner``
    holds the lease until ``lease_until`` (wall clock). ``generation`` grows by one on
    every transition, so two controllers cannot both move the same state.
    """

    endpoint: str
    phase: str
    model: str | None = None
    cycle: int | None = None
    challenger: int | None = None
    phase_since: datetime | None = None
    cooldown_until: datetime | None = None
    checked_until: datetime | None = None
    owner: str | None = None
    lease_until: datetime | None = None
    generation: int = 0
    updated_at: datetime | None = None
