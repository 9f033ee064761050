"""The tracking API in one process, on every backend: runs, buffering, validation, artifacts."""

from __future__ import annotations

import hashlib
import math
import platform
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

import shipyard
from shipyard import RunStatus

MakeStore = Callable[..., shipyard.Store]


def _start(store: shipyard.Store, **kwargs: object) -> shipyard.ActiveRun:
    kwargs.setdefault("capture_env", False)
    return shipyard.start_run("tracking", store=store, **kwargs)  # type: ignore[arg-type]


def _points_stored(store: shipyard.Store, run_id: str, key: str) -> int:
    return len(store.metadata.get_metric_history(run_id, key))


# -- the run's life ---------------------------------------------------------------------------


def test_with_block_ends_finished(store: shipyard.Store) -> None:
    with _start(store, name="ok", params={"lr": 0.1}, tags={"team": "ml"}) as run:
        run.log_metric("auc", 0.9)
        assert shipyard.get_run(run.run_id, store=store).status is RunStatus.RUNNING
    found = shipyard.get_run(run.run_id, store=store)
    assert found.status is RunStatus.FINISHED
    assert found.message == ""
    assert found.end_time is not None
    assert found.name == "ok"
    assert found.params == {"lr": "0.1"}
    assert found.tags == {"team": "ml"}
    assert found.metrics == {"auc": 0.9}
    assert found.pid is not None


def test_exception_ends_failed_and_propagates(store: shipyard.Store) -> None:
    run = _start(store)

    def train() -> None:
        with run:
            run.log_metric("loss", 1.0)
            raise ValueError("boom")

    with pytest.raises(ValueError, match=r"^boom$"):
        train()
    found = shipyard.get_run(run.run_id, store=store)
    assert found.status is RunStatus.FAILED
    assert found.message == "ValueError: boom"
    assert found.metrics == {"loss": 1.0}  # points logged before the failure are kept


def test_keyboard_interrupt_ends_killed(store: shipyard.Store) -> None:
    with pytest.raises(KeyboardInterrupt), _start(store) as run:
        raise KeyboardInterrupt
    found = shipyard.get_run(run.run_id, store=store)
    assert found.status is RunStatus.KILLED
    assert found.message == "KeyboardInterrupt"


def test_long_failure_message_is_cut(store: shipyard.Store) -> None:
    with pytest.raises(RuntimeError), _start(store) as run:
        raise RuntimeError("x" * 10_000)
    message = shipyard.get_run(run.run_id, store=store).message
    assert message.startswith("RuntimeError: xxx")
    assert len(message) == 2_000


def test_explicit_end_and_ending_twice(store: shipyard.Store) -> None:
    run = _start(store)
    assert "running" in repr(run)
    ended = run.end("FAILED", "gave up")
    assert ended.status is RunStatus.FAILED
    assert ended.message == "gave up"
    assert run.end() is ended  # the first result, not a second end
    assert "ended" in repr(run)
    assert shipyard.get_run(run.run_id, store=store).status is RunStatus.FAILED


@pytest.mark.parametrize(
    "log",
    [
        pytest.param(lambda run: run.log_metric("m", 1.0), id="log_metric"),
        pytest.param(lambda run: run.log_metrics({"m": 1.0}), id="log_metrics"),
        pytest.param(lambda run: run.log_param("p", 1), id="log_param"),
    ],
)
def test_logging_after_end_is_a_conflict(
    store: shipyard.Store, log: Callable[[shipyard.ActiveRun], None]
) -> None:
    with _start(store) as run:
        pass
    with pytest.raises(shipyard.ConflictError, match=f"run {run.run_id} has ended"):
        log(run)


def test_run_attributes(store: shipyard.Store) -> None:
    with _start(store, name="named") as run:
        assert run.name == "named"
        assert len(run.run_id) == 32
        experiment = store.metadata.get_experiment("tracking")
        assert run.experiment_id == experiment.experiment_id


def test_runs_share_their_experiment(store: shipyard.Store) -> None:
    for _ in range(3):
        with _start(store):
            pass
    (experiment,) = shipyard.list_experiments(store=store)
    assert experiment.name == "tracking"
    assert store.metadata.count_runs() == {experiment.experiment_id: 3}


def test_default_store_is_used_without_store_argument(store: shipyard.Store) -> None:
    previous = shipyard.set_default_store(store)
    try:
        assert shipyard.get_default_store() is store
        with shipyard.start_run("via-default", capture_env=False) as run:
            run.log_metric("m", 2.0)
        assert shipyard.get_run(run.run_id).metrics == {"m": 2.0}
        assert [e.name for e in shipyard.list_experiments()] == ["via-default"]
    finally:
        shipyard.set_default_store(previous)


# -- metrics: buffering and steps --------------------------------------------------------------


def test_points_wait_in_the_buffer_until_flush_or_end(make_store: MakeStore) -> None:
    store = make_store(metric_flush_points=100_000, metric_flush_seconds=3_600)
    reader = make_store()  # another connection, as another process would see the store
    with _start(store) as run:
        for step in range(1_500):
            run.log_metric("loss", 1 / (step + 1))
        assert _points_stored(reader, run.run_id, "loss") == 0
        run.flush()
        assert _points_stored(reader, run.run_id, "loss") == 1_500
        for step in range(1_500, 2_345):
            run.log_metrics({"loss": 0.0, "acc": step / 3_000})
        assert _points_stored(reader, run.run_id, "loss") == 1_500
    assert _points_stored(reader, run.run_id, "loss") == 2_345
    assert _points_stored(reader, run.run_id, "acc") == 845
    assert reader.metadata.get_run(run.run_id).metrics == {"loss": 0.0, "acc": 2_344 / 3_000}


def test_buffer_flushes_every_n_points(make_store: MakeStore) -> None:
    store = make_store(metric_flush_points=10, metric_flush_seconds=3_600)
    with _start(store) as run:
        for step in range(25):
            run.log_metric("m", step)
        assert _points_stored(store, run.run_id, "m") == 20
    assert _points_stored(store, run.run_id, "m") == 25


def test_buffer_flushes_after_a_while(make_store: MakeStore) -> None:
    store = make_store(metric_flush_points=100_000, metric_flush_seconds=0)
    with _start(store) as run:
        run.log_metric("m", 1.0)
        assert _points_stored(store, run.run_id, "m") == 1


def test_to_run_flushes(make_store: MakeStore) -> None:
    store = make_store(metric_flush_points=100_000, metric_flush_seconds=3_600)
    with _start(store) as run:
        run.log_metric("m", 3.0)
        assert run.to_run().metrics == {"m": 3.0}


def test_threads_share_one_run_without_losing_points(make_store: MakeStore) -> None:
    store = make_store(metric_flush_points=50, metric_flush_seconds=3_600)
    threads, points = 4, 300

    with _start(store) as run:

        def log(index: int) -> None:
            for i in range(points):
                run.log_metric("shared", float(index))
                run.log_metric(f"own_{index}", float(i))

        workers = [threading.Thread(target=log, args=(index,)) for index in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    shared = shipyard.get_metric_history(run.run_id, "shared", store=store)
    assert [m.step for m in shared] == list(range(threads * points))  # no step given twice
    for index in range(threads):
        assert _points_stored(store, run.run_id, f"own_{index}") == points


def test_steps_count_per_key(store: shipyard.Store) -> None:
    with _start(store) as run:
        for value in (0.5, 0.4, 0.3):
            run.log_metric("loss", value)
        run.log_metric("acc", 0.1)
        run.log_metric("acc", 0.2)
        run.log_metric("lr", 0.01, step=10)
        run.log_metric("lr", 0.02)  # continues after an explicit step
        run.log_metrics({"loss": 0.2, "acc": 0.3})
        run.log_metrics({"f1": 0.5}, step=7, timestamp=1_234)
    history = {
        key: [(m.step, m.value) for m in shipyard.get_metric_history(run.run_id, key, store=store)]
        for key in ("loss", "acc", "lr", "f1")
    }
    assert history == {
        "loss": [(0, 0.5), (1, 0.4), (2, 0.3), (3, 0.2)],
        "acc": [(0, 0.1), (1, 0.2), (2, 0.3)],
        "lr": [(10, 0.01), (11, 0.02)],
        "f1": [(7, 0.5)],
    }
    (f1,) = shipyard.get_metric_history(run.run_id, "f1", store=store)
    assert f1.timestamp == 1_234


def test_numpy_and_integer_values_are_accepted(store: shipyard.Store) -> None:
    np = pytest.importorskip("numpy")
    with _start(store) as run:
        run.log_metric("a", np.float32(0.5), step=np.int64(3))
        run.log_metric("b", 7)
    assert shipyard.get_run(run.run_id, store=store).metrics == {"a": 0.5, "b": 7.0}
    assert shipyard.get_metric_history(run.run_id, "a", store=store)[0].step == 3


def test_special_floats_everywhere(store: shipyard.Store) -> None:
    with _start(store) as run:
        run.log_metric("nan", math.nan)
        run.log_metric("inf", math.inf)
        run.log_metric("neg_inf", -math.inf)
    found = shipyard.get_run(run.run_id, store=store)
    assert math.isnan(found.metrics["nan"])
    assert found.metrics["inf"] == math.inf
    assert found.metrics["neg_inf"] == -math.inf
    (nan_point,) = shipyard.get_metric_history(run.run_id, "nan", store=store)
    assert math.isnan(nan_point.value)
    (inf_point,) = shipyard.get_metric_history(run.run_id, "inf", store=store)
    assert inf_point.value == math.inf
    frame = shipyard.search_runs("tracking", as_frame=True, store=store)
    assert math.isnan(frame.loc[0, "metrics.nan"])
    assert frame.loc[0, "metrics.inf"] == math.inf
    assert frame.loc[0, "metrics.neg_inf"] == -math.inf


# -- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "step", "message"),
    [
        pytest.param("m", "abc", None, r"metric 'm' must be a number, got str 'abc'", id="text"),
        pytest.param(
            "m", "0.5", None, r"metric 'm' must be a number, got str '0\.5'", id="numeric-text"
        ),
        pytest.param("m", None, None, r"metric 'm' must be a number, got NoneType None", id="none"),
        pytest.param("m", [1.0], None, r"metric 'm' must be a number, got list", id="list"),
        pytest.param(
            "m", 1.0, 1.5, r"step of metric 'm' must be an integer, got float 1\.5", id="float-step"
        ),
        pytest.param("m", 1.0, True, r"step of metric 'm' must be an integer, got True", id="bool"),
        pytest.param(
            "m", 1.0, "3", r"step of metric 'm' must be an integer, got str '3'", id="str"
        ),
        pytest.param("", 1.0, None, r"metric key must be a non-empty string, got ''", id="empty"),
        pytest.param("  ", 1.0, None, r"metric key must be a non-empty string", id="blank"),
        pytest.param(3, 1.0, None, r"metric key must be a non-empty string, got 3", id="int-key"),
        pytest.param("a\nb", 1.0, None, r"contains control characters", id="newline-key"),
        pytest.param("k" * 251, 1.0, None, r"is 251 characters; the limit is 250", id="long-key"),
    ],
)
def test_log_metric_refuses(
    store: shipyard.Store, key: object, value: object, step: object, message: str
) -> None:
    with _start(store) as run:
        with pytest.raises(shipyard.InvalidInputError, match=message) as caught:
            run.log_metric(key, value, step=step)  # type: ignore[arg-type]
        assert isinstance(caught.value, ValueError)
        run.log_metric("fine", 1.0)
    # The refused point never reached the buffer; the good one was stored.
    assert shipyard.get_run(run.run_id, store=store).metrics == {"fine": 1.0}


def test_param_longer_than_the_limit_is_refused(make_store: MakeStore) -> None:
    store = make_store(max_param_length=10)
    with (
        _start(store, params={"ok": "x" * 10}) as run,
        pytest.raises(
            shipyard.InvalidInputError,
            match=r"param 'p' is 11 characters; the limit is 10 "
            r"\(raise it with SHIPYARD_MAX_PARAM_LENGTH, or log long values as an artifact\)",
        ),
    ):
        run.log_param("p", "x" * 11)
    assert shipyard.get_run(run.run_id, store=store).params == {"ok": "x" * 10}
    with pytest.raises(shipyard.InvalidInputError, match="the limit is 10"):
        _start(store, params={"p": "y" * 11})


def test_tag_longer_than_the_limit_is_refused(make_store: MakeStore) -> None:
    store = make_store(max_tag_length=5)
    with (
        _start(store) as run,
        pytest.raises(
            shipyard.InvalidInputError,
            match=r"tag 'note' is 6 characters; the limit is 5 \(raise it with "
            r"SHIPYARD_MAX_TAG_LENGTH",
        ),
    ):
        run.set_tag("note", "abcdef")
    with pytest.raises(shipyard.InvalidInputError, match="the limit is 5"):
        _start(store, tags={"note": "abcdef"})


def test_params_are_write_once_through_the_run(store: shipyard.Store) -> None:
    with _start(store, params={"lr": 0.1}) as run:
        run.log_param("lr", "0.1")  # the same text: fine
        run.log_params({"depth": 6, "model": "gbm"})
        with pytest.raises(shipyard.ParamConflictError, match=r"already '0\.1'; got '0\.2'"):
            run.log_param("lr", 0.2)
    assert shipyard.get_run(run.run_id, store=store).params == {
        "lr": "0.1",
        "depth": "6",
        "model": "gbm",
    }


def test_tags_can_change(store: shipyard.Store) -> None:
    with _start(store, tags={"stage": "dev"}) as run:
        run.set_tag("stage", "prod")
        run.set_tags({"owner": "ana", "reviewed": True})
    assert shipyard.get_run(run.run_id, store=store).tags == {
        "stage": "prod",
        "owner": "ana",
        "reviewed": "True",
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"experiment": ""}, r"experiment key must be a non-empty string", id="exp"),
        pytest.param(
            {"name": "n" * 257},
            r"run name 'n+'\.\.\. is 257 characters; the limit is 256",
            id="name",
        ),
        pytest.param({"params": {"": 1}}, r"param key must be a non-empty string", id="param-key"),
        pytest.param({"tags": {None: 1}}, r"tag key must be a non-empty string", id="tag-key"),
    ],
)
def test_start_run_refuses(store: shipyard.Store, kwargs: dict[str, object], message: str) -> None:
    kwargs.setdefault("experiment", "tracking")
    with pytest.raises(shipyard.InvalidInputError, match=message):
        shipyard.start_run(store=store, capture_env=False, **kwargs)  # type: ignore[arg-type]
    assert store.metadata.count_runs() == {}


def test_longest_run_name_is_stored(store: shipyard.Store) -> None:
    with _start(store, name="n" * 256) as run:
        pass
    assert shipyard.get_run(run.run_id, store=store).name == "n" * 256


def test_inputs(store: shipyard.Store) -> None:
    with _start(store) as run:
        run.log_input("a" * 64, "flights-2013")
        run.log_input("b" * 64, "flights-2014", context="evaluation")
    assert store.metadata.list_inputs(run.run_id) == [
        shipyard.RunInput("b" * 64, "flights-2014", "evaluation"),
        shipyard.RunInput("a" * 64, "flights-2013", "training"),
    ]


# -- artifacts ----------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_artifact_round_trip(store: shipyard.Store, tmp_path: Path) -> None:
    model = tmp_path / "model.pkl"
    model.write_bytes(b"\x00weights\xff" * 1_000)
    folder = tmp_path / "report"
    (folder / "plots").mkdir(parents=True)
    (folder / "summary.md").write_text("# good\n")
    (folder / "plots" / "roc.svg").write_text("<svg/>")

    with _start(store) as run:
        info = run.log_artifact(model, artifact_path="model")
        stored = run.log_artifacts(folder, artifact_path="report")
        text_info = run.log_text("héllo", "notes/readme.txt")
        flat = run.log_artifacts(folder)

    assert info == shipyard.ArtifactInfo(
        "model/model.pkl", model.stat().st_size, _sha256(model.read_bytes())
    )
    assert [a.path for a in stored] == ["report/plots/roc.svg", "report/summary.md"]
    assert [a.path for a in flat] == ["plots/roc.svg", "summary.md"]
    assert text_info.sha256 == _sha256("héllo".encode())
    assert [a.path for a in shipyard.list_artifacts(run.run_id, store=store)] == [
        "model/model.pkl",
        "notes/readme.txt",
        "plots/roc.svg",
        "report/plots/roc.svg",
        "report/summary.md",
        "summary.md",
    ]
    assert shipyard.read_artifact(run.run_id, "model/model.pkl", store=store) == model.read_bytes()
    assert shipyard.read_artifact(run.run_id, "notes/readme.txt", store=store) == "héllo".encode()
    assert shipyard.read_artifact(run.run_id, "./report//summary.md", store=store) == b"# good\n"

    dest = shipyard.download_artifact(
        run.run_id, "report/plots/roc.svg", tmp_path / "out" / "roc.svg", store=store
    )
    assert dest.read_text() == "<svg/>"
    assert _sha256(dest.read_bytes()) == stored[0].sha256


def test_artifact_without_a_folder_lands_at_the_root(store: shipyard.Store, tmp_path: Path) -> None:
    source = tmp_path / "config.json"
    source.write_text("{}")
    with _start(store) as run:
        assert run.log_artifact(source).path == "config.json"
    assert shipyard.read_artifact(run.run_id, "config.json", store=store) == b"{}"


def test_relogging_an_artifact_replaces_it(store: shipyard.Store) -> None:
    with _start(store) as run:
        run.log_text("v1", "notes.txt")
        run.log_text("version 2", "notes.txt")
    (info,) = shipyard.list_artifacts(run.run_id, store=store)
    assert info.size == len("version 2")
    assert shipyard.read_artifact(run.run_id, "notes.txt", store=store) == b"version 2"


def test_tampered_artifact_is_detected(store: shipyard.Store) -> None:
    with _start(store) as run:
        run.log_text("the truth", "facts.txt")
    root = Path(store.settings.resolved_artifact_url())
    (root / "runs" / run.run_id / "artifacts" / "facts.txt").write_text("the untruth")
    with pytest.raises(
        shipyard.CorruptedArtifactError, match=r"artifact 'runs/.*/facts\.txt' in .* is corrupted"
    ):
        shipyard.read_artifact(run.run_id, "facts.txt", store=store)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        pytest.param("../escape.txt", r"climbs out with '\.\.'", id="parent"),
        pytest.param("/etc/passwd", r"is absolute", id="absolute"),
        pytest.param("", r"must be a non-empty string", id="empty"),
    ],
)
def test_bad_artifact_paths_are_refused(store: shipyard.Store, path: str, message: str) -> None:
    with _start(store) as run:
        with pytest.raises(shipyard.InvalidInputError, match=message):
            run.log_text("x", path)
        with pytest.raises(shipyard.InvalidInputError, match=message):
            shipyard.read_artifact(run.run_id, path, store=store)
    assert shipyard.list_artifacts(run.run_id, store=store) == []


def test_unknown_artifact(store: shipyard.Store, tmp_path: Path) -> None:
    with _start(store) as run:
        pass
    with pytest.raises(shipyard.NotFoundError, match=f"run {run.run_id} has no artifact 'nope'"):
        shipyard.read_artifact(run.run_id, "nope", store=store)
    with pytest.raises(KeyError):
        shipyard.download_artifact(run.run_id, "nope", tmp_path / "nope", store=store)


def test_log_artifacts_needs_a_folder(store: shipyard.Store, tmp_path: Path) -> None:
    with _start(store) as run, pytest.raises(shipyard.InvalidInputError, match="not a folder"):
        run.log_artifacts(tmp_path / "missing")


# -- environment capture ------------------------------------------------------------------------


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        [
            "git",
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.com",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def git_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh git repository with one commit on branch ``main``, as the working directory."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(name, raising=False)
    _git(repo, "init", "--quiet", "--initial-branch=main")
    (repo / "train.py").write_text("print('training')\n")
    _git(repo, "add", "train.py")
    _git(repo, "commit", "--quiet", "-m", "first")
    monkeypatch.chdir(repo)
    return repo


def test_environment_is_captured(store: shipyard.Store, git_repo: Path) -> None:
    with shipyard.start_run("env", store=store) as run:
        pass
    found = shipyard.get_run(run.run_id, store=store)
    assert found.tags["shipyard.python"] == platform.python_version()
    assert found.tags["shipyard.git.commit"] == _git(git_repo, "rev-parse", "HEAD")
    assert found.tags["shipyard.git.dirty"] == "false"
    assert found.tags["shipyard.git.branch"] == "main"
    assert found.code_revision == found.tags["shipyard.git.commit"]
    assert '"shipyard"' in found.tags["shipyard.packages"]
    assert found.host == found.tags["shipyard.host"]


def test_user_tags_win_over_captured_ones(store: shipyard.Store, git_repo: Path) -> None:
    with shipyard.start_run("env", store=store, tags={"shipyard.git.branch": "release"}) as run:
        pass
    assert shipyard.get_run(run.run_id, store=store).tags["shipyard.git.branch"] == "release"


def test_no_git_tags_outside_a_repository(
    store: shipyard.Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tmp_path / "plain"
    outside.mkdir()
    monkeypatch.chdir(outside)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    with shipyard.start_run("env", store=store) as run:
        pass
    found = shipyard.get_run(run.run_id, store=store)
    assert "shipyard.python" in found.tags
    assert not any(key.startswith("shipyard.git.") for key in found.tags)
    assert found.code_revision is None


def test_capture_can_be_turned_off(store: shipyard.Store) -> None:
    with _start(store, capture_env=False) as run:
        pass
    assert shipyard.get_run(run.run_id, store=store).tags == {}


@pytest.mark.parametrize(
    ("digest", "name", "context", "message"),
    [
        pytest.param("a" * 65, "d", "training", r"input digest .* at most 64", id="long-digest"),
        pytest.param("a" * 64, "n" * 257, "training", r"input name .* at most 256", id="long-name"),
        pytest.param("a" * 64, "d", "c" * 65, r"input context .* at most 64", id="long-context"),
        pytest.param("", "d", "training", r"input digest must be a non-empty string", id="empty"),
    ],
)
def test_log_input_refuses_values_the_index_cannot_hold(
    store: shipyard.Store, digest: str, name: str, context: str, message: str
) -> None:
    with _start(store) as run, pytest.raises(shipyard.InvalidInputError, match=message):
        run.log_input(digest, name, context)
    assert store.metadata.list_inputs(run.run_id) == []


def test_artifact_path_longer_than_the_index_is_refused(store: shipyard.Store) -> None:
    folders = ("d" * 99 + "/") * 10  # file systems limit each name, not the whole path
    with _start(store) as run:
        with pytest.raises(
            shipyard.InvalidInputError, match=r"is 1025 characters; the limit is 1024"
        ):
            run.log_text("x", folders + "x" * 25)
        run.log_text("x", folders + "x" * 24)
    assert [a.size for a in shipyard.list_artifacts(run.run_id, store=store)] == [1]


def test_a_value_wider_than_its_column_is_invalid_input_not_a_crash(
    store: shipyard.Store,
) -> None:
    long_name = "e" * 300  # the column is 256 wide
    if store.metadata.db.is_sqlite:  # SQLite does not enforce declared widths
        assert store.metadata.create_experiment(long_name).name == long_name
    else:
        with pytest.raises(shipyard.InvalidInputError, match=r"refused a value: .*too long"):
            store.metadata.create_experiment(long_name)
