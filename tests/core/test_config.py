from pathlib import Path

import pytest

from limelight.core.config import resolve_config
from limelight.core.errors import ConfigError


def test_defaults_live_under_dot_limelight_and_write_nothing(tmp_path: Path) -> None:
    config = resolve_config(cwd=tmp_path, environ={})
    assert config.home == tmp_path / ".limelight"
    assert config.db == f"sqlite:///{tmp_path / '.limelight' / 'limelight.db'}"
    assert config.artifacts == str(tmp_path / ".limelight" / "artifacts")
    assert config.executor == "local"
    assert config.events == str(tmp_path / ".limelight" / "events")
    assert list(tmp_path.iterdir()) == []


def test_argument_beats_environment_beats_file_beats_default(tmp_path: Path) -> None:
    (tmp_path / "limelight.toml").write_text(
        '[limelight]\nhome = "from-file"\nexecutor = "inline"\nartifacts = "s3://bucket/p"\n'
    )
    env = {"LIMELIGHT_HOME": str(tmp_path / "from-env"), "LIMELIGHT_EXECUTOR": "dask"}
    config = resolve_config(cwd=tmp_path, environ=env, executor="ray")
    assert config.home == tmp_path / "from-env"
    assert config.executor == "ray"
    assert config.artifacts == "s3://bucket/p"
    from_file = resolve_config(cwd=tmp_path, environ={})
    assert from_file.home == tmp_path / "from-file"
    assert from_file.executor == "inline"


def test_db_url_from_environment(tmp_path: Path) -> None:
    url = "postgresql+psycopg://me@127.0.0.1:5432/test"
    assert resolve_config(cwd=tmp_path, environ={"LIMELIGHT_DB": url}).db == url


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LIMELIGHT_DB": "not a url"}, "LIMELIGHT_DB: 'not a url' is not a database URL"),
        ({"LIMELIGHT_DB": "mysql://x@y/z"}, "backend 'mysql' is not supported"),
        ({"LIMELIGHT_EXECUTOR": "spark"}, "unknown executor 'spark'"),
    ],
)
def test_bad_environment_values_say_what_and_where(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve_config(cwd=tmp_path, environ=env)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("home = ", "is not valid TOML"),
        ("colour = 'red'", "unknown setting"),
        ("home = 3", "must be a string"),
    ],
)
def test_bad_config_file(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "limelight.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        resolve_config(cwd=tmp_path, environ={})


def test_placement_timeout_from_argument_environment_file_or_default(tmp_path: Path) -> None:
    assert resolve_config(cwd=tmp_path, environ={}).placement_timeout == 120.0
    (tmp_path / "limelight.toml").write_text("placement_timeout = 45\n")
    assert resolve_config(cwd=tmp_path, environ={}).placement_timeout == 45.0
    env = {"LIMELIGHT_PLACEMENT_TIMEOUT": "2.5"}
    assert resolve_config(cwd=tmp_path, environ=env).placement_timeout == 2.5
    assert resolve_config(cwd=tmp_path, environ=env, placement_timeout=7).placement_timeout == 7.0
    empty = {"LIMELIGHT_PLACEMENT_TIMEOUT": ""}  # an empty variable is unset, as for every setting
    assert resolve_config(cwd=tmp_path, environ=empty).placement_timeout == 45.0


@pytest.mark.parametrize("value", ["-5", "0", "soon", "nan", "inf"])
def test_a_bad_placement_timeout_says_what_and_where(tmp_path: Path, value: str) -> None:
    with pytest.raises(
        ConfigError,
        match=rf"environment variable LIMELIGHT_PLACEMENT_TIMEOUT: '{value}' is not a number of "
        "seconds; give a positive number",
    ):
        resolve_config(cwd=tmp_path, environ={"LIMELIGHT_PLACEMENT_TIMEOUT": value})
    with pytest.raises(ConfigError, match="argument placement_timeout: 'True' is not a number"):
        resolve_config(cwd=tmp_path, environ={}, placement_timeout=True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("placement_timeout = -1", "setting 'placement_timeout': '-1' is not a number of seconds"),
        ("placement_timeout = true", "'placement_timeout' must be a number or a string"),
        ("placement_timeout = 'later'", "'later' is not a number of seconds"),
    ],
)
def test_a_bad_placement_timeout_in_the_file(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "limelight.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        resolve_config(cwd=tmp_path, environ={})
