"""Settings: defaults < shipyard.toml < SHIPYARD_* variables < keyword overrides."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from shipyard.core.errors import ConfigError
from shipyard.core.settings import ENV_PREFIX, SETTINGS_FILE, Settings


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty project directory (resolved, so paths compare equal to what Settings builds)."""
    root = (tmp_path / "project").resolve()
    root.mkdir()
    return root


def write_toml(project: Path, text: str) -> Path:
    path = project / SETTINGS_FILE
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults(project: Path) -> None:
    settings = Settings.load(project, env={})
    assert settings.project_dir == project
    assert settings.home == Path(".shipyard")
    assert settings.home_dir == project / ".shipyard"
    assert settings.metadata_url is None
    assert settings.artifact_url is None
    assert settings.auto_create is True
    assert settings.metric_flush_points == 10_000
    assert settings.metric_flush_seconds == 2.0
    assert settings.max_param_length == 6_000
    assert settings.max_tag_length == 8_000
    assert settings.sqlite_busy_timeout_s == 60.0


def test_default_store_lives_under_the_home(project: Path) -> None:
    settings = Settings.load(project, env={})
    database = (project / ".shipyard" / "shipyard.db").as_posix()
    assert settings.resolved_metadata_url() == f"sqlite:///{database}"
    assert settings.resolved_metadata_url().startswith("sqlite:////")  # an absolute path
    assert settings.resolved_artifact_url() == (project / ".shipyard" / "artifacts").as_posix()


def test_explicit_urls_are_used_as_given(project: Path) -> None:
    settings = Settings.load(
        project,
        env={},
        metadata_url="postgresql://shipyard@db/shipyard",
        artifact_url="s3://bucket/artifacts",
    )
    assert settings.resolved_metadata_url() == "postgresql://shipyard@db/shipyard"
    assert settings.resolved_artifact_url() == "s3://bucket/artifacts"


def test_project_dir_defaults_to_the_current_directory(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    write_toml(project, "metric_flush_points = 3\n")
    settings = Settings.load(env={})
    assert settings.project_dir == project
    assert settings.metric_flush_points == 3


def test_values_from_shipyard_toml(project: Path) -> None:
    write_toml(
        project,
        """
home = "store"
metadata_url = "sqlite:///elsewhere.db"
auto_create = false
metric_flush_points = 50
metric_flush_seconds = 0.5
""",
    )
    settings = Settings.load(project, env={})
    assert settings.home_dir == project / "store"
    assert settings.metadata_url == "sqlite:///elsewhere.db"
    assert settings.auto_create is False
    assert settings.metric_flush_points == 50
    assert settings.metric_flush_seconds == 0.5


def test_values_from_environment_are_coerced(project: Path) -> None:
    env = {
        "SHIPYARD_HOME": "from-env",
        "SHIPYARD_ARTIFACT_URL": "s3://bucket/prefix",
        "SHIPYARD_AUTO_CREATE": "false",
        "SHIPYARD_METRIC_FLUSH_POINTS": "25",
        "SHIPYARD_SQLITE_BUSY_TIMEOUT_S": "1.5",
    }
    settings = Settings.load(project, env=env)
    assert settings.home_dir == project / "from-env"
    assert settings.artifact_url == "s3://bucket/prefix"
    assert settings.auto_create is False
    assert settings.metric_flush_points == 25
    assert settings.sqlite_busy_timeout_s == 1.5


def test_environment_defaults_to_os_environ(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SHIPYARD_MAX_TAG_LENGTH", "123")
    assert Settings.load(project).max_tag_length == 123


@pytest.mark.parametrize(
    ("in_toml", "in_env", "override", "expected"),
    [
        pytest.param(False, False, False, 10_000, id="default"),
        pytest.param(True, False, False, 5, id="toml-over-default"),
        pytest.param(True, True, False, 7, id="env-over-toml"),
        pytest.param(False, True, False, 7, id="env-over-default"),
        pytest.param(True, True, True, 9, id="override-over-env"),
        pytest.param(True, False, True, 9, id="override-over-toml"),
    ],
)
def test_precedence(
    project: Path, in_toml: bool, in_env: bool, override: bool, expected: int
) -> None:
    if in_toml:
        write_toml(project, "metric_flush_points = 5\n")
    env = {"SHIPYARD_METRIC_FLUSH_POINTS": "7"} if in_env else {}
    overrides: dict[str, Any] = {"metric_flush_points": 9} if override else {}
    assert Settings.load(project, env=env, **overrides).metric_flush_points == expected


def test_empty_environment_variable_is_ignored(project: Path) -> None:
    write_toml(project, 'home = "from-toml"\n')
    settings = Settings.load(project, env={"SHIPYARD_HOME": ""})
    assert settings.home_dir == project / "from-toml"


def test_unrelated_environment_variables_are_ignored(project: Path) -> None:
    env = {"SHIPYARD_NOT_A_SETTING": "x", "METRIC_FLUSH_POINTS": "abc", "HOME": "/nowhere"}
    assert Settings.load(project, env=env) == Settings.load(project, env={})


def test_relative_home_is_resolved_against_the_project_not_the_cwd(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    settings = Settings.load(project, env={"SHIPYARD_HOME": "nested/../data"})
    assert settings.home_dir == project / "data"
    assert settings.resolved_artifact_url() == (project / "data" / "artifacts").as_posix()


def test_relative_project_dir_is_fixed_when_loaded(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project.parent)
    settings = Settings.load(project.name, env={})
    monkeypatch.chdir(tmp_path)  # the home must not follow the process around
    assert settings.project_dir == project
    assert settings.home_dir == project / ".shipyard"


def test_absolute_home_is_kept(project: Path, tmp_path: Path) -> None:
    home = (tmp_path / "shared-store").resolve()
    settings = Settings.load(project, env={}, home=str(home))
    assert settings.home_dir == home


def test_home_expands_the_user_directory(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    settings = Settings.load(project, env={"SHIPYARD_HOME": "~/sy"})
    assert settings.home_dir == tmp_path / "user" / "sy"


def test_unknown_tables_in_shipyard_toml_are_ignored(project: Path) -> None:
    write_toml(
        project,
        """
max_param_length = 100

[monitoring]
drift_threshold = 0.2

[policies.retrain]
schedule = "weekly"
""",
    )
    assert Settings.load(project, env={}).max_param_length == 100


def test_project_dir_in_toml_or_env_does_not_move_the_project(project: Path) -> None:
    write_toml(project, 'project_dir = "/somewhere/else"\n')
    settings = Settings.load(project, env={"SHIPYARD_PROJECT_DIR": "/another/place"})
    assert settings.project_dir == project


def test_invalid_toml_names_the_file(project: Path) -> None:
    path = write_toml(project, "home = [unclosed\n")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))} is not valid TOML: "):
        Settings.load(project, env={})


def test_wrong_type_in_toml_names_the_field_and_the_file(project: Path) -> None:
    path = write_toml(project, 'metric_flush_points = "many"\n')
    with pytest.raises(
        ConfigError,
        match=rf"invalid shipyard settings from {re.escape(str(path))} or SHIPYARD_\* variables: "
        r"metric_flush_points: Input should be a valid integer.*\(got 'many'\)",
    ):
        Settings.load(project, env={})


@pytest.mark.parametrize(
    ("variable", "raw", "message"),
    [
        pytest.param(
            "SHIPYARD_METRIC_FLUSH_POINTS",
            "abc",
            r"metric_flush_points: Input should be a valid integer.*\(got 'abc'\)",
            id="not-an-int",
        ),
        pytest.param(
            "SHIPYARD_METRIC_FLUSH_POINTS",
            "0",
            r"metric_flush_points: Input should be greater than or equal to 1 \(got '0'\)",
            id="zero-points",
        ),
        pytest.param(
            "SHIPYARD_METRIC_FLUSH_SECONDS",
            "-1",
            r"metric_flush_seconds: Input should be greater than or equal to 0",
            id="negative-seconds",
        ),
        pytest.param(
            "SHIPYARD_SQLITE_BUSY_TIMEOUT_S",
            "0",
            r"sqlite_busy_timeout_s: Input should be greater than 0",
            id="zero-timeout",
        ),
        pytest.param(
            "SHIPYARD_AUTO_CREATE",
            "maybe",
            r"auto_create: Input should be a valid boolean.*\(got 'maybe'\)",
            id="not-a-bool",
        ),
        pytest.param(
            "SHIPYARD_MAX_PARAM_LENGTH",
            "1.5",
            r"max_param_length: Input should be a valid integer",
            id="fraction-for-int",
        ),
    ],
)
def test_wrong_value_in_environment_names_the_field(
    project: Path, variable: str, raw: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=rf"invalid shipyard settings from .*: {message}"):
        Settings.load(project, env={variable: raw})


def test_unknown_override_is_refused(project: Path) -> None:
    with pytest.raises(ConfigError, match=r"bogus: Extra inputs are not permitted \(got 1\)"):
        Settings.load(project, env={}, bogus=1)


def test_config_error_is_a_value_error(project: Path) -> None:
    with pytest.raises(ValueError, match="metric_flush_points"):
        Settings.load(project, env={"SHIPYARD_METRIC_FLUSH_POINTS": "abc"})


def test_from_values_names_its_source() -> None:
    with pytest.raises(
        ConfigError,
        match=r"^invalid shipyard settings from the server config: max_tag_length: ",
    ):
        Settings.from_values({"max_tag_length": 0}, source="the server config")


def test_settings_are_frozen(project: Path) -> None:
    settings = Settings.load(project, env={})
    with pytest.raises(ValidationError, match="frozen"):
        settings.metric_flush_points = 1


def test_unknown_top_level_setting_is_refused_as_a_typo(project: Path) -> None:
    path = write_toml(project, 'metdata_url = "sqlite:///x.db"\n[monitoring]\nx = 1\n')
    with pytest.raises(
        ConfigError,
        match=rf"^{re.escape(str(path))}: unknown setting\(s\) metdata_url; known settings: home, ",
    ):
        Settings.load(project, env={})
