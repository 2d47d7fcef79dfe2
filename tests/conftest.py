"""Shared test fixtures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
DATASETS = SHARED / "datasets"

if str(ROOT) not in sys.path:  # lets tests use benchmarks.peers
    sys.path.insert(0, str(ROOT))

# pytester drives inner pytest runs; the backstop ends a test that its timeout could not stop
pytest_plugins = ["pytester", "tests._timeout_backstop"]


@pytest.fixture
def datasets_dir() -> Path:
    """The real datasets beside the project (never copied into it)."""
    if not DATASETS.is_dir():
        pytest.fail(f"the shared datasets are missing: expected them at {DATASETS}")
    return DATASETS


POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _postgres_reachable(url: str) -> str | None:
    """None when the server answers, else the reason it does not."""
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:  # any failure to connect means: not reachable
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    return None


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """The test PostgreSQL (LIMELIGHT_TEST_POSTGRES or 127.0.0.1:5432/test).

    Skipped with the reason when no server answers, except under CI, where it must.
    """
    import os

    url = os.environ.get("LIMELIGHT_TEST_POSTGRES", POSTGRES_URL)
    reason = _postgres_reachable(url)
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {url} is not reachable under CI: {reason}")
        pytest.skip(f"PostgreSQL at {url} is not reachable: {reason}")
    return url


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> object:
    """A URL whose tables live in a fresh schema of their own, dropped after the test."""
    import uuid

    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_admin_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield f"{postgres_admin_url}?options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A metadata database URL, once for SQLite and once for PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'limelight.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh Limelight home used through the environment, as a user would set it."""
    path = tmp_path / "home"
    for name in ("LIMELIGHT_DB", "LIMELIGHT_ARTIFACTS", "LIMELIGHT_EXECUTOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LIMELIGHT_HOME", str(path))
    monkeypatch.chdir(tmp_path)
    return path
