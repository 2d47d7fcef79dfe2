"""Configuration: where metadata and artifacts live and which executor runs tasks.

One resolution order everywhere, field by field: an explicit argument, then the environment
(``LIMELIGHT_HOME``, ``LIMELIGHT_DB``, ``LIMELIGHT_ARTIFACTS``, ``LIMELIGHT_EXECUTOR``,
``LIMELIGHT_EVENTS``, ``LIMELIGHT_EVENT_SYNC``, ``LIMELIGHT_PLACEMENT_TIMEOUT``), then
``limelight.toml`` in the working directory, then the defaults. The default home is
``./.limelight`` with the SQLite file ``limelight.db`` and the folder ``artifacts/`` inside it.
Resolving a configuration writes nothing; folders are made when something is stored.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from limelight.core.errors import ConfigError

__all__ = ["EVENT_SYNC_MODES", "EXECUTORS", "PLACEMENT_TIMEOUT", "Config", "resolve_config"]

EXECUTORS = ("local", "inline", "ray", "dask")
# when serving acknowledges an event: once the kernel has its line ("write": survives kill -9 of
# the process) or once the disk has it ("fsync": survives the host's crash too)
EVENT_SYNC_MODES = ("write", "fsync")
DEFAULT_EVENT_SYNC = "fsync"
PLACEMENT_TIMEOUT = 120.0  # seconds a cluster task may wait for a worker that can run it
CONFIG_FILE = "limelight.toml"
_ENV = {
    "home": "LIMELIGHT_HOME",
    "db": "LIMELIGHT_DB",
    "artifacts": "LIMELIGHT_ARTIFACTS",
    "executor": "LIMELIGHT_EXECUTOR",
    "events": "LIMELIGHT_EVENTS",
    "event_sync": "LIMELIGHT_EVENT_SYNC",
    "placement_timeout": "LIMELIGHT_PLACEMENT_TIMEOUT",
}
_NUMBERS = {"placement_timeout"}  # settings that limelight.toml may also give as numbers


@dataclass(frozen=True)
class Config:
    """A resolved configuration. ``db`` is a SQLAlchemy URL; ``artifacts`` and ``events`` are
    fsspec URLs or paths; ``placement_timeout`` is how many seconds a task of a distributed
    executor may wait for a worker that can run it (none at all, or none with the resources
    its step asks for) before it fails."""

    home: Path
    db: str
    artifacts: str
    executor: str = "local"
    events: str = ""
    placement_timeout: float = PLACEMENT_TIMEOUT
    event_sync: str = DEFAULT_EVENT_SYNC

    def __post_init__(self) -> None:
        if not self.events:
            object.__setattr__(self, "events", str(self.home / "events"))

    @property
    def is_sqlite(self) -> bool:
        return self.db.startswith("sqlite")

    def with_(self, **changes: object) -> Config:
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]


def _read_toml(cwd: Path) -> dict[str, object]:
    path = cwd / CONFIG_FILE
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}. Fix the file or remove it.") from exc
    section = data.get("limelight", data)
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [limelight] must be a table of settings")
    unknown = sorted(set(section) - set(_ENV))
    if unknown:
        raise ConfigError(
            f"{path}: unknown setting(s) {', '.join(unknown)}; known settings are "
            f"{', '.join(sorted(_ENV))}"
        )
    for key, value in section.items():
        number = key in _NUMBERS and isinstance(value, int | float) and not isinstance(value, bool)
        if not isinstance(value, str) and not number:
            kind = "a number or a string" if key in _NUMBERS else "a string"
            raise ConfigError(f"{path}: setting {key!r} must be {kind}, not {value!r}")
    return dict(section)


def _check_seconds(value: str, origin: str) -> float:
    """A positive, finite number of seconds, from its text."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(
            f"{origin}: {value!r} is not a number of seconds; give a positive number "
            f"such as {PLACEMENT_TIMEOUT:g}"
        )
    return seconds


def _check_db_url(url: str, origin: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(
            f"{origin}: {url!r} is not a database URL. Use sqlite:///path/to/limelight.db or "
            "postgresql+psycopg://user@host:5432/dbname."
        ) from exc
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"{origin}: database backend {backend!r} is not supported; use sqlite or postgresql"
        )
    return url


def resolve_config(
    *,
    home: str | os.PathLike[str] | None = None,
    db: str | None = None,
    artifacts: str | None = None,
    executor: str | None = None,
    events: str | None = None,
    placement_timeout: float | str | None = None,
    event_sync: str | None = None,
    cwd: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Resolve the configuration from arguments, environment, ``limelight.toml`` and defaults."""
    workdir = Path(cwd) if cwd is not None else Path.cwd()
    env = os.environ if environ is None else environ
    file_settings = _read_toml(workdir)
    given = {
        "home": home,
        "db": db,
        "artifacts": artifacts,
        "executor": executor,
        "events": events,
        "placement_timeout": placement_timeout,
        "event_sync": event_sync,
    }

    def pick(key: str) -> tuple[str | None, str]:
        value = given[key]
        if value is not None:
            text = str(value) if isinstance(value, int | float) else os.fspath(value)
            return text, f"argument {key}"
        if env.get(_ENV[key]):
            return env[_ENV[key]], f"environment variable {_ENV[key]}"
        if key in file_settings:
            return str(file_settings[key]), f"{workdir / CONFIG_FILE} setting {key!r}"
        return None, "default"

    home_value, _ = pick("home")
    home_path = Path(home_value) if home_value else Path(".limelight")
    if not home_path.is_absolute():
        home_path = workdir / home_path

    db_value, db_origin = pick("db")
    db_url = (
        _check_db_url(db_value, db_origin)
        if db_value
        else f"sqlite:///{home_path / 'limelight.db'}"
    )

    def location(key: str, default: Path) -> str:
        value, _ = pick(key)
        if value and "://" not in value and not Path(value).is_absolute():
            value = str(workdir / value)
        return value or str(default)

    artifacts_url = location("artifacts", home_path / "artifacts")
    events_url = location("events", home_path / "events")

    executor_value, executor_origin = pick("executor")
    executor_name = executor_value or "local"
    if executor_name not in EXECUTORS:
        raise ConfigError(
            f"{executor_origin}: unknown executor {executor_name!r}; "
            f"choose one of {', '.join(EXECUTORS)}"
        )
    timeout_value, timeout_origin = pick("placement_timeout")
    sync_value, sync_origin = pick("event_sync")
    sync = sync_value or DEFAULT_EVENT_SYNC
    if sync not in EVENT_SYNC_MODES:
        raise ConfigError(
            f"{sync_origin}: unknown event sync {sync!r}; choose one of {', '.join(EVENT_SYNC_MODES)}"
        )
    return Config(
        event_sync=sync,
        home=home_path,
        db=db_url,
        artifacts=artifacts_url,
        executor=executor_name,
        events=events_url,
        placement_timeout=(
            _check_seconds(timeout_value, timeout_origin) if timeout_value else PLACEMENT_TIMEOUT
        ),
    )
