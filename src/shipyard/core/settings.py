"""One typed settings object, read once from ``shipyard.toml`` and ``SHIPYARD_*`` variables.

Precedence, lowest first: defaults, ``shipyard.toml`` in the project directory,
environment variables, keyword overrides. Relative paths are resolved against
the project directory, so a store found once is found again from any subdirectory
script that passes the same project directory.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shipyard.core.errors import ConfigError
from shipyard.core.policy import LoopPolicy, TrainingSpec

__all__ = ["ENV_PREFIX", "SETTINGS_FILE", "ColumnDriftRule", "MonitorSettings", "Settings"]

ENV_PREFIX = "SHIPYARD_"
SETTINGS_FILE = "shipyard.toml"

DriftMethodName = Literal["ks", "wasserstein", "psi", "chi2", "jensenshannon"]


class ColumnDriftRule(BaseModel):
    """How one column's drift is judged, overriding the rule by type and sample size."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: DriftMethodName | None = None
    threshold: float | None = Field(default=None, gt=0)


class MonitorSettings(BaseModel):
    """The ``[monitor]`` table of shipyard.toml: windows, drift thresholds, alert rules.

    Example ``shipyard.toml``::

        [monitor]
        every = "1d"
        drift_share = 0.5
        alerts = ["drift_share > 0.3", "auc drop > 0.05 vs reference", "p99_ms > 50"]
        webhook = "https://hooks.example.com/shipyard"

        [monitor.columns.dep_delay]
        method = "psi"
        threshold = 0.2
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    every: str = Field(default="1d", description="Window length: 1h, 6h, 1d, 7d, 1w or 1mo.")
    drift_share: float = Field(
        default=0.5, gt=0, le=1, description="Dataset drift: share of drifted columns at least."
    )
    columns: dict[str, ColumnDriftRule] = Field(default_factory=dict)
    alerts: list[str] = Field(default_factory=list, description="Alert rules, e.g. 'p99_ms > 50'.")
    webhook: str | None = Field(default=None, description="URL that gets each new alert as JSON.")
    webhook_timeout_s: float = Field(default=5.0, gt=0)
    webhook_retries: int = Field(default=3, ge=0)


#: Settings that are tables of shipyard.toml rather than single values.
_TABLES = frozenset({"monitor", "loop", "models"})


class Settings(BaseModel):
    """Where the store lives and how the tracking client behaves.

    Example:
        >>> s = Settings(home="/tmp/demo")
        >>> s.resolved_metadata_url()
        'sqlite:////tmp/demo/shipyard.db'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    project_dir: Path = Field(default_factory=Path.cwd)
    home: Path = Path(".shipyard")
    metadata_url: str | None = None
    artifact_url: str | None = None
    auto_create: bool = Field(
        default=True,
        description="Create the schema in an empty database on first use (never upgrades).",
    )
    metric_flush_points: int = Field(default=10_000, ge=1)
    metric_flush_seconds: float = Field(default=2.0, ge=0)
    max_param_length: int = Field(default=6_000, ge=1)
    max_tag_length: int = Field(default=8_000, ge=1)
    sqlite_busy_timeout_s: float = Field(default=60.0, gt=0)
    extra_columns: Literal["ignore", "refuse"] = Field(
        default="refuse",
        description="Input columns a model's signature does not name: an error, or dropped.",
    )
    # Serving.
    admin_token: str | None = Field(
        default=None,
        description="When set, the management API under /api/ needs `Authorization: Bearer ...`.",
    )
    predict_token: str | None = Field(
        default=None,
        description="When set, prediction and feedback routes need `Authorization: Bearer ...`.",
    )
    default_endpoint: str | None = Field(
        default=None, description="The endpoint `POST /invocations` at the root serves."
    )
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    max_batch_size: int = Field(
        default=64, ge=1, description="Default for new endpoints: rows per model call."
    )
    max_latency_ms: float = Field(
        default=5.0,
        ge=0,
        description="Default for new endpoints: how long a request may wait for others.",
    )
    serve_poll_seconds: float = Field(
        default=0.5, gt=0, description="How often the server looks for endpoint changes."
    )
    log_flush_rows: int = Field(default=10_000, ge=1)
    log_flush_seconds: float = Field(default=5.0, gt=0)
    log_queue_rows: int = Field(default=200_000, ge=1)
    log_when_full: Literal["drop", "block"] = Field(
        default="drop",
        description="Prediction log queue full: drop rows (counted) or make requests wait.",
    )
    # Monitoring: the [monitor] table.
    monitor: MonitorSettings = Field(default_factory=MonitorSettings)
    # The closed loop: [models.NAME] tables say how each model trains, [loop.ENDPOINT]
    # tables hold each endpoint's policy.
    models: dict[str, TrainingSpec] = Field(default_factory=dict)
    loop: dict[str, LoopPolicy] = Field(default_factory=dict)

    @classmethod
    def load(
        cls,
        project_dir: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Settings:
        """Read ``shipyard.toml`` and ``SHIPYARD_*`` variables into one object.

        Args:
            project_dir: where ``shipyard.toml`` is looked for (default: the
                current directory).
            env: the environment to read (default: ``os.environ``).
            **overrides: field values that win over every other source.

        Raises:
            ConfigError: the file does not parse or a value has the wrong type.
        """
        # Absolute now, so the home does not move if the process changes directory later.
        root = Path(project_dir).resolve() if project_dir is not None else Path.cwd()
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        toml_path = root / SETTINGS_FILE
        if toml_path.is_file():
            try:
                data = tomllib.loads(toml_path.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{toml_path} is not valid TOML: {exc}") from exc
            values.update(cls._own_keys(data, toml_path))
        for name in cls.model_fields:
            if name in _TABLES:
                continue  # tables come from shipyard.toml only
            raw = env.get(ENV_PREFIX + name.upper())
            if raw is not None and raw != "":
                values[name] = raw
        values.update(overrides)
        values["project_dir"] = root
        return cls.from_values(values, source=f"{toml_path} or {ENV_PREFIX}* variables")

    @classmethod
    def _own_keys(cls, data: Mapping[str, Any], path: Path) -> dict[str, Any]:
        """Top-level values of shipyard.toml; tables belong to other parts of shipyard.

        A top-level value that is not a setting is most likely a typo, so it is refused.
        """
        unknown = sorted(
            k for k, v in data.items() if k not in cls.model_fields and not isinstance(v, dict)
        )
        if unknown:
            known = ", ".join(n for n in cls.model_fields if n != "project_dir")
            raise ConfigError(
                f"{path}: unknown setting(s) {', '.join(unknown)}; known settings: {known}"
            )
        return {k: v for k, v in data.items() if k in cls.model_fields}

    @classmethod
    def from_values(cls, values: Mapping[str, Any], source: str = "settings") -> Settings:
        """Validate a mapping into settings, turning pydantic's error into a ConfigError."""
        try:
            return cls.model_validate(dict(values))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']} (got {err.get('input')!r})"
                for err in exc.errors()
            )
            raise ConfigError(f"invalid shipyard settings from {source}: {problems}") from exc

    @property
    def home_dir(self) -> Path:
        """The home directory as an absolute path."""
        home = self.home.expanduser()
        return home if home.is_absolute() else (self.project_dir / home).resolve()

    def resolved_metadata_url(self) -> str:
        """The metadata database URL (default: SQLite file under the home)."""
        if self.metadata_url:
            return self.metadata_url
        return f"sqlite:///{(self.home_dir / 'shipyard.db').as_posix()}"

    def resolved_artifact_url(self) -> str:
        """The artifact store URL (default: a folder under the home)."""
        if self.artifact_url:
            return self.artifact_url
        return (self.home_dir / "artifacts").as_posix()
