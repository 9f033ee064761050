"""Domain objects: frozen dataclasses with a few derived properties."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from shipyard.core.entities import ArtifactInfo, Experiment, Metric, Run, RunInput, RunStatus

START = datetime(2024, 1, 1, tzinfo=UTC)


def make_run(**changes: object) -> Run:
    run = Run(
        run_id="a" * 32,
        experiment_id="b" * 32,
        name="baseline",
        status=RunStatus.RUNNING,
        start_time=START,
        end_time=None,
    )
    return dataclasses.replace(run, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "terminal"),
    [
        (RunStatus.RUNNING, False),
        (RunStatus.FINISHED, True),
        (RunStatus.FAILED, True),
        (RunStatus.KILLED, True),
    ],
    ids=lambda value: str(value),
)
def test_only_running_is_not_terminal(status: RunStatus, terminal: bool) -> None:
    assert status.is_terminal is terminal


def test_status_is_a_string() -> None:
    assert RunStatus("FINISHED") is RunStatus.FINISHED
    assert RunStatus.FAILED == "FAILED"
    assert f"{RunStatus.KILLED}" == "KILLED"


def test_status_refuses_unknown_values() -> None:
    with pytest.raises(ValueError, match="'DONE' is not a valid RunStatus"):
        RunStatus("DONE")


def test_duration_is_none_while_running() -> None:
    assert make_run().duration_s is None


def test_duration_in_seconds_once_ended() -> None:
    run = make_run(status=RunStatus.FINISHED, end_time=START + timedelta(minutes=2, seconds=3.5))
    assert run.duration_s == 123.5


def test_code_revision_comes_from_the_git_tag() -> None:
    assert make_run().code_revision is None
    assert make_run(tags={"shipyard.git.commit": "abc123"}).code_revision == "abc123"


def test_run_defaults_are_not_shared_between_instances() -> None:
    first, second = make_run(), make_run()
    assert first.params is not second.params
    assert first.metrics is not second.metrics
    assert first.tags is not second.tags


@pytest.mark.parametrize(
    "entity",
    [
        Experiment("e" * 32, "churn", START),
        Metric("auc", 0.9, step=1, timestamp=1_700_000_000_000),
        ArtifactInfo("model.pkl", 10, "0" * 64),
        RunInput("f" * 64, "customers"),
        make_run(),
    ],
    ids=lambda entity: type(entity).__name__,
)
def test_entities_are_frozen(entity: object) -> None:
    field = dataclasses.fields(entity)[0].name  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError, match=f"cannot assign to field '{field}'"):
        setattr(entity, field, "changed")


def test_defaults() -> None:
    assert Experiment("e", "churn", START).description == ""
    assert RunInput("d", "customers").context == "training"
    run = make_run()
    assert (run.message, run.params, run.metrics, run.tags, run.host, run.pid) == (
        "",
        {},
        {},
        {},
        "",
        None,
    )
