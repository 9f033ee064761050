"""The loop's two judges: the gate (offline, before traffic) and the canary verdict (live).

The gate compares the challenger with the champion on the same labelled rows, the most
recent ones, which neither trained on. The canary verdict compares the canary's live
answers with the primary's over the same period, with a statistical test, and rolls
back at once when the canary fails requests.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from shipyard.core.errors import ConfigError, InvalidInputError
from shipyard.core.policy import GatePolicy, RolloutPolicy, higher_is_better
from shipyard.services._monitor_figures import PROBA_PREFIX, label_key

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

__all__ = [
    "BOOTSTRAP_METRICS",
    "GateResult",
    "Verdict",
    "check_rollout",
    "judge_canary",
    "judge_gate",
]

#: Live metrics the bootstrap test can compare.
BOOTSTRAP_METRICS = ("accuracy", "auc", "log_loss", "brier")


@dataclass(frozen=True)
class GateResult:
    """Whether the challenger may go live, with both models' scores on the same rows."""

    passed: bool
    metric: str
    champion: dict[str, float]
    challenger: dict[str, float]
    rows: int
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict for the decision's details."""
        return asdict(self)


def _gain(metric: str, new: float, old: float) -> float:
    """How much better ``new`` is than ``old`` (negative: worse), whatever the metric's sense."""
    return new - old if higher_is_better(metric) else old - new


def judge_gate(
    policy: GatePolicy, champion: dict[str, float], challenger: dict[str, float], rows: int
) -> GateResult:
    """Apply the gate: beat the champion by the margin, regress no guard beyond its tolerance."""
    metric = policy.metric
    reasons: list[str] = []
    passed = True
    if metric not in champion or metric not in challenger:
        return GateResult(
            False,
            metric,
            champion,
            challenger,
            rows,
            [f"{metric} could not be computed on the holdout for both models"],
        )
    gain = _gain(metric, challenger[metric], champion[metric])
    if gain > policy.margin:
        reasons.append(
            f"{metric} {challenger[metric]:.4f} vs {champion[metric]:.4f}: "
            f"{gain:+.4f}, beyond the margin {policy.margin:g}"
        )
    else:
        passed = False
        reasons.append(
            f"{metric} {challenger[metric]:.4f} vs {champion[metric]:.4f}: {gain:+.4f}, "
            f"not beyond the margin {policy.margin:g}"
        )
    for guard, tolerance in sorted(policy.guards.items()):
        if guard not in champion or guard not in challenger:
            passed = False  # a guard that cannot be checked does not hold
            reasons.append(f"guard {guard}: not computed for both models, so not shown to hold")
            continue
        loss = -_gain(guard, challenger[guard], champion[guard])
        if loss > tolerance:
            passed = False
            reasons.append(
                f"guard {guard} {challenger[guard]:.4f} vs {champion[guard]:.4f}: "
                f"worse by {loss:.4f}, beyond the tolerance {tolerance:g}"
            )
        else:
            change = f"better by {-loss:.4f}" if loss <= 0 else f"worse by {loss:.4f}"
            reasons.append(
                f"guard {guard} {challenger[guard]:.4f} vs {champion[guard]:.4f}: {change}, "
                f"within the tolerance {tolerance:g}"
            )
    return GateResult(passed, metric, champion, challenger, rows, reasons)


def check_rollout(policy: RolloutPolicy) -> None:
    """Refuse a rollout test that cannot judge its metric.

    Raises:
        ConfigError: the z-test on anything but accuracy, or an unknown bootstrap metric.
    """
    if policy.test == "z" and policy.metric != "accuracy":
        raise ConfigError(
            f"rollout test 'z' compares proportions, so its metric must be 'accuracy'; got "
            f"{policy.metric!r}: use test = 'bootstrap' for {policy.metric}"
        )
    if policy.test == "bootstrap" and policy.metric not in BOOTSTRAP_METRICS:
        raise ConfigError(
            f"rollout metric must be one of {', '.join(BOOTSTRAP_METRICS)} for the bootstrap "
            f"test; got {policy.metric!r}"
        )


@dataclass(frozen=True)
class Verdict:
    """What the canary's evidence says: promote, roll back, or keep watching."""

    outcome: Literal["promote", "rollback", "continue"]
    reason: str
    details: dict[str, Any]


def _codes(log: pd.DataFrame) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """Label codes (-1 for a label outside the classes) and the probability matrix."""
    import numpy as np

    proba_columns = [c for c in log.columns if c.startswith(PROBA_PREFIX)]
    names = [c[len(PROBA_PREFIX) :] for c in proba_columns]
    index = {label_key(name): i for i, name in enumerate(names)}
    labels = np.array([index.get(label_key(v), -1) for v in log["label"]], dtype=np.int64)
    proba = log[proba_columns].to_numpy(dtype=float) if proba_columns else np.empty((len(log), 0))
    return labels, proba


def _auc(y: npt.NDArray[Any], score: npt.NDArray[Any]) -> float:
    from scipy.stats import rankdata  # type: ignore[import-untyped]

    positives = int(y.sum())
    negatives = y.size - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def _metric(name: str) -> Any:
    import numpy as np

    def accuracy(y: npt.NDArray[Any], s: npt.NDArray[Any]) -> float:
        return float(np.mean(s))  # s holds 1 for a right answer

    def log_loss(y: npt.NDArray[Any], s: npt.NDArray[Any]) -> float:
        return float(-np.mean(np.where(y == 1, np.log(s), np.log1p(-s))))

    def brier(y: npt.NDArray[Any], s: npt.NDArray[Any]) -> float:
        return float(np.mean((s - y) ** 2))

    return {"accuracy": accuracy, "auc": _auc, "log_loss": log_loss, "brier": brier}[name]


def _arrays(
    log: pd.DataFrame, metric: str
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(y, score) for one group: binary labels and the positive class's probability.

    Accuracy needs no probabilities: its score is 1 for a right answer, 0 otherwise.
    """
    import numpy as np

    if metric == "accuracy":  # right or wrong, whether or not probabilities were logged
        right = [
            label_key(a) == label_key(b)
            for a, b in zip(log["label"], log["output.prediction"], strict=True)
        ]
        return np.ones(len(log)), np.asarray(right, dtype=float)
    labels, proba = _codes(log)
    if proba.shape[1] != 2:
        raise ConfigError(
            f"rollout metric {metric!r} needs a binary classifier's logged probabilities; this "
            f"log has {proba.shape[1]} probability columns: use metric = 'accuracy'"
        )
    keep = labels >= 0
    positive = np.clip(proba[keep, 1], 1e-15, 1 - 1e-15)
    return (labels[keep] == 1).astype(float), positive


def judge_canary(
    policy: RolloutPolicy,
    log: pd.DataFrame,
    challenger: int,
    *,
    expired: bool,
    seed: int = 0,
) -> Verdict:
    """Judge a canary from the log of the canary's period (primary and canary rows).

    Args:
        policy: the rollout rules.
        log: the endpoint's prediction log since the canary started, with labels.
        challenger: the canary's version.
        expired: the canary has run ``max_duration`` already.
        seed: the bootstrap's random seed.
    """
    from shipyard.core.stats import bootstrap_difference, two_proportion_ztest

    is_canary = (log["role"] == "canary") & (log["version"] == challenger)
    canary_all = log[is_canary]
    primary_all = log[log["role"] == "primary"]
    errors = int((canary_all["status"] >= 500).sum())
    counts: dict[str, Any] = {
        "canary_requests": len(canary_all),
        "canary_errors": errors,
        "canary_error_rate": errors / len(canary_all) if len(canary_all) else None,
        "primary_requests": len(primary_all),
    }
    if len(canary_all) >= policy.min_requests_for_errors and errors / len(canary_all) > (
        policy.max_error_rate
    ):
        return Verdict(
            "rollback",
            f"the canary failed {errors} of {len(canary_all)} requests "
            f"({errors / len(canary_all):.1%} > {policy.max_error_rate:.1%})",
            counts,
        )
    canary = canary_all[(canary_all["status"] == 200) & canary_all["label"].notna()]
    primary = primary_all[(primary_all["status"] == 200) & primary_all["label"].notna()]
    answered = int((canary_all["status"] == 200).sum())
    counts.update({"canary_labelled": len(canary), "primary_labelled": len(primary)})
    short = []
    if answered < policy.min_predictions:
        short.append(f"{answered} of {policy.min_predictions} canary answers")
    if len(canary) < policy.min_labels:
        short.append(f"{len(canary)} of {policy.min_labels} labelled canary answers")
    if len(primary) < policy.min_labels:
        short.append(f"{len(primary)} of {policy.min_labels} labelled primary answers")
    if short:
        if expired:
            return Verdict(
                "rollback",
                f"not enough evidence within {policy.max_duration}: {', '.join(short)}",
                counts,
            )
        return Verdict("continue", "waiting for " + ", ".join(short), counts)
    metric = policy.metric
    try:
        y_p, s_p = _arrays(primary, metric)
        y_c, s_c = _arrays(canary, metric)
        if policy.test == "z":
            comparison = two_proportion_ztest(
                int(s_p.sum()), s_p.size, int(s_c.sum()), s_c.size, alpha=policy.alpha
            )
        else:
            comparison = bootstrap_difference(
                _metric(metric),
                y_p,
                s_p,
                y_c,
                s_c,
                alpha=policy.alpha,
                seed=seed,
                metric_name=metric,
            )
    except ConfigError as exc:  # this policy cannot judge this model: do not leave it live
        return Verdict("rollback", f"the canary cannot be judged: {exc}", counts)
    except InvalidInputError as exc:  # undefined on this evidence (one class only, say)
        if expired:
            return Verdict("rollback", f"no verdict within {policy.max_duration}: {exc}", counts)
        return Verdict("continue", f"{metric} is not defined on the evidence yet: {exc}", counts)
    details = {**counts, "test": comparison.to_dict()}
    worse = comparison.high < 0 if higher_is_better(metric) else comparison.low > 0
    sense = "higher" if higher_is_better(metric) else "lower"
    summary = (
        f"{metric} canary {comparison.canary:.4f} vs primary {comparison.primary:.4f} "
        f"({comparison.difference:+.4f}, {1 - policy.alpha:.0%} interval "
        f"[{comparison.low:+.4f}, {comparison.high:+.4f}], {sense} is better)"
    )
    if worse:
        return Verdict("rollback", f"the canary is significantly worse: {summary}", details)
    return Verdict("promote", f"the canary is not worse: {summary}", details)
