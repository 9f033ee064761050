"""The loop's two judges on hand-made numbers: the gate and the canary verdict."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from shipyard import ConfigError
from shipyard.core.policy import GatePolicy, RolloutPolicy
from shipyard.services._gate import check_rollout, judge_canary, judge_gate

# -- the gate -----------------------------------------------------------------------------

CHAMPION = {"auc": 0.80, "log_loss": 0.50, "accuracy": 0.75}


def test_gate_passes_a_challenger_beyond_the_margin_within_its_guards() -> None:
    policy = GatePolicy(metric="auc", margin=0.01, guards={"log_loss": 0.01})
    result = judge_gate(policy, CHAMPION, {"auc": 0.85, "log_loss": 0.505}, rows=700)
    assert result.passed
    assert result.rows == 700
    assert result.metric == "auc"
    assert result.reasons == [
        "auc 0.8500 vs 0.8000: +0.0500, beyond the margin 0.01",
        "guard log_loss 0.5050 vs 0.5000: worse by 0.0050, within the tolerance 0.01",
    ]
    assert result.to_dict() == {
        "passed": True,
        "metric": "auc",
        "champion": CHAMPION,
        "challenger": {"auc": 0.85, "log_loss": 0.505},
        "rows": 700,
        "reasons": result.reasons,
    }


@pytest.mark.parametrize(
    ("challenger_auc", "margin"),
    [(0.79, 0.0), (0.80, 0.0), (0.805, 0.01)],
    ids=["worse", "equal", "inside-margin"],
)
def test_gate_refuses_a_challenger_not_beyond_the_margin(
    challenger_auc: float, margin: float
) -> None:
    policy = GatePolicy(metric="auc", margin=margin, guards={})
    result = judge_gate(policy, CHAMPION, {"auc": challenger_auc}, rows=300)
    assert not result.passed
    assert "not beyond the margin" in result.reasons[0]


def test_gate_refuses_a_winner_that_regresses_a_guard() -> None:
    policy = GatePolicy(metric="auc", guards={"log_loss": 0.01, "accuracy": 0.02})
    challenger = {"auc": 0.90, "log_loss": 0.60, "accuracy": 0.74}
    result = judge_gate(policy, CHAMPION, challenger, rows=300)
    assert not result.passed
    assert result.reasons[1] == (
        "guard accuracy 0.7400 vs 0.7500: worse by 0.0100, within the tolerance 0.02"
    )
    assert result.reasons[2] == (
        "guard log_loss 0.6000 vs 0.5000: worse by 0.1000, beyond the tolerance 0.01"
    )


def test_gate_reads_lower_is_better_metrics_the_right_way() -> None:
    policy = GatePolicy(metric="log_loss", margin=0.0, guards={"auc": 0.0})
    better = judge_gate(policy, CHAMPION, {"log_loss": 0.40, "auc": 0.81}, rows=300)
    worse = judge_gate(policy, CHAMPION, {"log_loss": 0.55, "auc": 0.80}, rows=300)
    assert better.passed
    assert "+0.1000, beyond the margin" in better.reasons[0]
    assert (
        better.reasons[1] == "guard auc 0.8100 vs 0.8000: better by 0.0100, within the tolerance 0"
    )
    assert not worse.passed
    assert "-0.0500, not beyond" in worse.reasons[0]


def test_gate_refuses_when_its_metric_or_a_guard_is_missing() -> None:
    policy = GatePolicy(metric="auc", guards={"calibration_error": 0.01})
    missing = judge_gate(policy, {"log_loss": 0.5}, {"auc": 0.9, "log_loss": 0.4}, rows=10)
    assert not missing.passed
    assert missing.reasons == ["auc could not be computed on the holdout for both models"]
    unguarded = judge_gate(policy, CHAMPION, {"auc": 0.9}, rows=10)
    assert not unguarded.passed
    assert unguarded.reasons[-1] == (
        "guard calibration_error: not computed for both models, so not shown to hold"
    )


# -- rollout rules ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("test", "metric", "message"),
    [
        ("z", "auc", "rollout test 'z' compares proportions"),
        ("bootstrap", "f1", "rollout metric must be one of accuracy, auc, log_loss, brier"),
    ],
    ids=["z-on-auc", "bootstrap-unknown-metric"],
)
def test_rollout_tests_that_cannot_judge_their_metric_are_refused(
    test: str, metric: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        check_rollout(RolloutPolicy(test=test, metric=metric))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("test", "metric"),
    [("z", "accuracy"), ("bootstrap", "auc"), ("bootstrap", "log_loss")],
    ids=["z-accuracy", "bootstrap-auc", "bootstrap-log-loss"],
)
def test_rollout_tests_that_can_judge_their_metric_are_accepted(test: str, metric: str) -> None:
    check_rollout(RolloutPolicy(test=test, metric=metric))  # type: ignore[arg-type]


# -- the canary verdict -------------------------------------------------------------------


def _answers(
    n: int,
    *,
    role: str,
    version: int,
    seed: int,
    skill: float = 2.0,
    status: int = 200,
    labelled: bool = True,
) -> pd.DataFrame:
    """``n`` logged answers of a binary classifier; ``skill`` < 0 answers backwards."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p1 = 1 / (1 + np.exp(-(skill * (2 * y - 1) + rng.normal(0, 1.5, n))))
    return pd.DataFrame(
        {
            "role": role,
            "version": version,
            "status": status,
            "output.prediction": np.where(p1 > 0.5, 1, 0),
            "output.proba.0": 1 - p1,
            "output.proba.1": p1,
            "label": pd.array(y if labelled else [None] * n, dtype="Int64"),
        }
    )


def _log(*parts: pd.DataFrame) -> pd.DataFrame:
    return pd.concat(parts, ignore_index=True)


def _rollout(**fields: Any) -> RolloutPolicy:
    base: dict[str, Any] = {
        "min_predictions": 200,
        "min_labels": 150,
        "test": "bootstrap",
        "metric": "auc",
        "min_requests_for_errors": 20,
        "max_error_rate": 0.02,
    }
    return RolloutPolicy(**{**base, **fields})


def test_canary_failing_requests_is_rolled_back_at_once() -> None:
    log = _log(
        _answers(40, role="primary", version=1, seed=1),
        _answers(27, role="canary", version=2, seed=2),
        _answers(3, role="canary", version=2, seed=3, status=500),
    )
    verdict = judge_canary(_rollout(), log, 2, expired=False)
    assert verdict.outcome == "rollback"
    assert verdict.reason == "the canary failed 3 of 30 requests (10.0% > 2.0%)"
    assert verdict.details == {
        "canary_requests": 30,
        "canary_errors": 3,
        "canary_error_rate": 0.1,
        "primary_requests": 40,
    }


def test_canary_errors_wait_for_enough_requests_and_evidence_for_its_deadline() -> None:
    log = _log(
        _answers(40, role="primary", version=1, seed=1),
        _answers(5, role="canary", version=2, seed=2, status=500),
        _answers(5, role="canary", version=2, seed=3),
    )
    waiting = judge_canary(_rollout(), log, 2, expired=False)
    assert waiting.outcome == "continue"
    assert waiting.reason == (
        "waiting for 5 of 200 canary answers, 5 of 150 labelled canary answers, "
        "40 of 150 labelled primary answers"
    )
    expired = judge_canary(_rollout(max_duration="3d"), log, 2, expired=True)
    assert expired.outcome == "rollback"
    assert expired.reason.startswith("not enough evidence within 3d: 5 of 200 canary answers")


def test_unlabelled_canary_answers_count_as_answers_not_as_evidence() -> None:
    log = _log(
        _answers(300, role="primary", version=1, seed=1),
        _answers(300, role="canary", version=2, seed=2, labelled=False),
    )
    verdict = judge_canary(_rollout(), log, 2, expired=False)
    assert verdict.outcome == "continue"
    assert verdict.reason == "waiting for 0 of 150 labelled canary answers"


@pytest.mark.parametrize(
    ("test", "metric"),
    [("bootstrap", "auc"), ("bootstrap", "log_loss"), ("bootstrap", "brier"), ("z", "accuracy")],
    ids=["bootstrap-auc", "bootstrap-log-loss", "bootstrap-brier", "z-accuracy"],
)
@pytest.mark.parametrize(
    ("canary_skill", "outcome"),
    [(2.0, "promote"), (3.0, "promote"), (-2.0, "rollback")],
    ids=["as-good", "better", "backwards"],
)
def test_canary_verdict_on_labelled_evidence(
    test: str, metric: str, canary_skill: float, outcome: str
) -> None:
    log = _log(
        _answers(400, role="primary", version=1, seed=1),
        _answers(400, role="canary", version=2, seed=2, skill=canary_skill),
        _answers(400, role="canary", version=7, seed=3, skill=-5.0),  # another version's canary
    )
    verdict = judge_canary(_rollout(test=test, metric=metric), log, 2, expired=False)
    assert verdict.outcome == outcome
    comparison = verdict.details["test"]
    assert comparison["metric"] == metric
    assert comparison["method"] == test
    assert comparison["n_primary"] == comparison["n_canary"] == 400
    assert verdict.details["canary_labelled"] == 400
    prefix = "the canary is not worse" if outcome == "promote" else "the canary is significantly"
    assert verdict.reason.startswith(f"{prefix}")
    assert f"{metric} canary {comparison['canary']:.4f}" in verdict.reason


def test_bootstrap_verdict_is_repeatable_for_a_seed() -> None:
    log = _log(
        _answers(300, role="primary", version=1, seed=1),
        _answers(300, role="canary", version=2, seed=2),
    )
    first = judge_canary(_rollout(), log, 2, expired=False, seed=5)
    again = judge_canary(_rollout(), log, 2, expired=False, seed=5)
    assert first == again


def test_probability_metrics_need_a_binary_classifier() -> None:
    log = _log(
        _answers(300, role="primary", version=1, seed=1),
        _answers(300, role="canary", version=2, seed=2),
    ).assign(**{"output.proba.2": 0.0})
    # The policy cannot judge this model, so the canary is not left live.
    verdict = judge_canary(_rollout(), log, 2, expired=False)
    assert verdict.outcome == "rollback"
    assert "the canary cannot be judged" in verdict.reason
    assert "needs a binary classifier's logged probabilities" in verdict.reason


def test_accuracy_is_judged_without_logged_probabilities() -> None:
    primary = _answers(400, role="primary", version=1, seed=1)
    canary = _answers(400, role="canary", version=2, seed=2)
    canary = canary.assign(**{"output.prediction": 1 - canary["label"]})  # always wrong
    log = _log(primary, canary)
    log = log.drop(columns=[c for c in log.columns if c.startswith("output.proba.")])
    verdict = judge_canary(_rollout(test="z", metric="accuracy"), log, 2, expired=False)
    assert verdict.outcome == "rollback"
    assert verdict.details["test"]["canary"] == 0.0
    assert verdict.details["test"]["primary"] > 0.5
