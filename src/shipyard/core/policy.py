"""The loop's rules, read from shipyard.toml: how a model retrains and when it may ship.

``[models.NAME]`` declares how model NAME is trained (its pipeline, target column,
original data and parameters); ``[loop.ENDPOINT]`` is the policy of one endpoint: what
triggers a retrain, on which data, the gate a challenger must pass, and how its canary
is judged. Every field has a default, so ``[loop.flights]`` alone turns the loop on.

Example ``shipyard.toml``::

    [models.flight-delays]
    pipeline = "flights_training:pipeline"   # module:function returning a shipyard.Pipeline
    target = "late"
    data = "flights-jan-feb"                 # a dataset name: the original training data
    params = { learning_rate = 0.1 }

    [loop.flight-delays]
    every = "7d"
    cooldown = "14d"
    trigger = { drift_share = 0.5, metric = "auc", drop = 0.03, schedule = "60d" }
    retrain = { window = "28d", include_original = true }
    gate = { metric = "auc", margin = 0.0, holdout = "7d", guards = { log_loss = 0.01 } }
    rollout = { percent = 20, min_predictions = 500, min_labels = 200, test = "bootstrap" }
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from shipyard.core.errors import InvalidInputError

__all__ = [
    "METRICS",
    "GatePolicy",
    "LoopPolicy",
    "RetrainPolicy",
    "RolloutPolicy",
    "TrainingSpec",
    "TriggerPolicy",
    "higher_is_better",
    "parse_duration",
]

_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
_EVERY = re.compile(r"\s*[1-9]\d*\s*(mo|h|d|w)\s*", re.IGNORECASE)
#: The scores the gate and the triggers can use: those monitoring computes from labels.
METRICS = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "auc",
    "log_loss",
    "calibration_error",
    "mae",
    "rmse",
    "mape",
    "r2",
)
_LOWER_IS_BETTER = frozenset(
    {"log_loss", "calibration_error", "brier", "mae", "rmse", "mape", "error_rate"}
)


def parse_duration(text: str | int | float) -> timedelta:
    """A duration such as ``90s``, ``30m``, ``12h``, ``7d`` or ``2w``; a bare number is seconds.

    Raises:
        InvalidInputError: the text is not a non-negative number with one of those units.
    """
    if isinstance(text, int | float) and not isinstance(text, bool) and text >= 0:
        return timedelta(seconds=float(text))
    match = _DURATION.fullmatch(str(text))
    if match is None:
        raise InvalidInputError(
            "a duration is a number and a unit, s, m (minutes), h, d or w, such as 30m, "
            f"12h, 7d or 2w; got {text!r}"
        )
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2).lower()])


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better (AUC, accuracy) or worse (log loss)."""
    return metric not in _LOWER_IS_BETTER


def _duration(value: str) -> str:
    parse_duration(value)
    return value


#: A duration setting, checked when the settings load.
Duration = Annotated[str, AfterValidator(_duration)]


def _metric(value: str) -> str:
    if value not in METRICS:
        raise ValueError(f"unknown metric {value!r}; known metrics: {', '.join(METRICS)}")
    return value


def _off(value: Any) -> Any:
    """``false`` turns a trigger off (TOML has no null)."""
    return None if value is False else value


#: A metric name, checked when the settings load.
Metric = Annotated[str, AfterValidator(_metric)]


class _Policy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TriggerPolicy(_Policy):
    """What starts a retrain; any one condition is enough, `false` (None) turns one off."""

    drift_share: Annotated[float | None, BeforeValidator(_off)] = Field(
        default=0.5, gt=0, le=1, description="A window's share of drifted columns at least."
    )
    metric: Metric = Field(default="auc", description="The metric whose drop triggers.")
    drop: Annotated[float | None, BeforeValidator(_off)] = Field(
        default=0.03,
        gt=0,
        description="Trigger when a window's metric is this much worse than the champion's.",
    )
    min_labels: int = Field(
        default=200, ge=1, description="Labelled rows a window needs before its metric counts."
    )
    schedule: Annotated[Duration | None, BeforeValidator(_off)] = Field(
        default=None, description="Retrain when the champion is older than this (e.g. 30d)."
    )
    label_delay: Duration = Field(
        default="1d", description="How long labels take to arrive: windows are judged after."
    )


class RetrainPolicy(_Policy):
    """The data a challenger trains on."""

    window: Duration = Field(
        default="28d", description="Labelled traffic from this long before the gate's holdout."
    )
    include_original: bool = Field(
        default=False, description="Add the original training data of [models.NAME] data."
    )
    min_rows: int = Field(
        default=500, ge=1, description="Recent labelled rows needed (original data not counted)."
    )


class GatePolicy(_Policy):
    """What a challenger must show against the champion on data neither trained on."""

    metric: Metric = Field(default="auc", description="The primary metric.")
    margin: float = Field(
        default=0.0, ge=0, description="How much better than the champion it must be."
    )
    holdout: Duration = Field(
        default="7d", description="The most recent labelled traffic, kept out of training."
    )
    guards: dict[str, float] = Field(
        default_factory=lambda: {"log_loss": 0.01},
        description="Other metrics and how much worse than the champion each may be.",
    )
    min_rows: int = Field(default=200, ge=1, description="Labelled holdout rows needed.")
    approval: bool = Field(default=False, description="A human approves before the canary.")

    @field_validator("guards")
    @classmethod
    def _guards(cls, value: dict[str, float]) -> dict[str, float]:
        for name in value:
            _metric(name)
        bad = sorted(name for name, tolerance in value.items() if tolerance < 0)
        if bad:
            raise ValueError(f"guard tolerances must be >= 0; negative for {', '.join(bad)}")
        return value


class RolloutPolicy(_Policy):
    """How the canary runs and is judged on live traffic."""

    percent: float = Field(default=20.0, gt=0, le=100, description="Traffic to the canary.")
    min_predictions: int = Field(default=500, ge=1, description="Canary answers needed.")
    min_labels: int = Field(default=200, ge=1, description="Labelled canary answers needed.")
    test: Literal["z", "bootstrap"] = Field(
        default="z",
        description="Two-proportion z-test on accuracy, or a bootstrap interval of any metric.",
    )
    metric: str = Field(default="accuracy", description="The live metric compared.")
    alpha: float = Field(default=0.05, gt=0, lt=1, description="Significance level.")
    max_error_rate: float = Field(
        default=0.02, ge=0, le=1, description="Canary 5xx share that rolls back at once."
    )
    min_requests_for_errors: int = Field(
        default=20, ge=1, description="Canary answers before its error rate is judged."
    )
    max_duration: Duration = Field(
        default="14d", description="Undecided after this long: roll back as inconclusive."
    )
    approval: bool = Field(default=False, description="A human approves the promotion.")

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str) -> str:
        return value.strip()


class LoopPolicy(_Policy):
    """``[loop.ENDPOINT]``: the closed loop's rules for one endpoint."""

    model: str | None = Field(
        default=None, description="The registered model retrained (default: the endpoint's)."
    )
    every: str = Field(default="1d", description="Monitoring window the triggers judge.")
    cooldown: Duration = Field(default="7d", description="Quiet time after a cycle ends.")
    lease: Duration = Field(
        default="1h", description="How long a retrain may hold its lock before it is retried."
    )
    trigger: TriggerPolicy = Field(default_factory=TriggerPolicy)
    retrain: RetrainPolicy = Field(default_factory=RetrainPolicy)
    gate: GatePolicy = Field(default_factory=GatePolicy)
    rollout: RolloutPolicy = Field(default_factory=RolloutPolicy)

    @field_validator("every")
    @classmethod
    def _every(cls, value: str) -> str:
        if _EVERY.fullmatch(value) is None:
            raise ValueError(f"every is a window length such as 1d, 7d or 1mo; got {value!r}")
        return value


class TrainingSpec(_Policy):
    """``[models.NAME]``: how model NAME is trained, so the loop can train it again."""

    pipeline: str = Field(description="module:function giving a shipyard.Pipeline.")
    target: str = Field(description="The label column of the pipeline's `data` input.")
    data: str | None = Field(
        default=None, description="A dataset name: the original training data."
    )
    params: dict[str, Any] = Field(default_factory=dict, description="The pipeline's params.")
    output: str = Field(default="model", description="The pipeline output that is the model.")

    @field_validator("pipeline")
    @classmethod
    def _reference(cls, value: str) -> str:
        module, _, attribute = value.partition(":")
        if not module.strip() or not attribute.strip():
            raise ValueError(f"pipeline is 'module:function'; got {value!r}")
        return value
