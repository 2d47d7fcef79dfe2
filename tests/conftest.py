"""Shared test fixtures."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parent.parent

if str(ROOT) not in sys.path:  # lets tests use benchmarks.peers
    sys.path.insert(0, str(ROOT))

# pytester drives inner pytest runs; the backstop ends a test that its timeout could not stop
pytest_plugins = ["pytester", "tests._timeout_backstop"]


# -- parallel runs (pytest-xdist, ``make test`` runs ``-n 2 --dist loadgroup``) --------------
# Folders whose tests share a costly session fixture (a Dask cluster and S3 server, a seeded
# dashboard and a browser) run on one worker, so that fixture starts once; every other file is
# a group of its own, so its module fixtures start once too.
_SHARED_SESSION_FOLDERS = ("scale", "ui")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        relative = Path(str(item.path)).resolve().relative_to(ROOT / "tests")
        group = relative.parts[0] if relative.parts[0] in _SHARED_SESSION_FOLDERS else relative
        item.add_marker(pytest.mark.xdist_group(str(group)))


# -- public datasets (never copied into the project) ---------------------------------------
REQUIRE_DATA_ENV = "LIMELIGHT_REQUIRE_DATA"


def missing_data(reason: str) -> NoReturn:
    """Skip with ``reason``, or fail where LIMELIGHT_REQUIRE_DATA=1 (CI), so CI never goes
    green by skipping."""
    import os

    if os.environ.get(REQUIRE_DATA_ENV, "") not in ("", "0"):
        pytest.fail(f"{reason} [{REQUIRE_DATA_ENV}=1: missing data fails here]", pytrace=False)
    pytest.skip(reason)


def find_dataset(name: str) -> Path:
    """The folder of the public dataset ``name``, or a skip saying where it was looked for and
    how to get it (a failure under LIMELIGHT_REQUIRE_DATA=1)."""
    from limelight.core.data import find_data
    from limelight.core.errors import DatasetNotFoundError

    try:
        return find_data(name)
    except DatasetNotFoundError as exc:
        reason = str(exc)
    missing_data(reason)  # outside the except block: one message, no chained traceback


@pytest.fixture
def movielens_100k_dir() -> Path:
    return find_dataset("movielens-100k")


@pytest.fixture
def movielens_1m_dir() -> Path:
    return find_dataset("movielens-1m")


@pytest.fixture
def movielens_latest_small_dir() -> Path:
    return find_dataset("movielens-latest-small")


@pytest.fixture
def obd_dir() -> Path:
    return find_dataset("obd")


@pytest.fixture
def datasets_dir() -> Path:
    """A data root in the shared layout (``movielens/ml-100k``, ``obd``), as the README uses."""
    from limelight.core.data import data_roots, fetch_command, source

    roots = data_roots()
    for root in roots:
        if (root / "movielens" / "ml-100k" / "u.data").is_file():
            return root
    missing_data(
        f"no data folder in the shared layout (movielens/ml-100k/u.data) in "
        f"{', '.join(map(str, roots))}; set LIMELIGHT_DATA to one or run "
        f"`{fetch_command(source('movielens-100k'))}`"
    )


@dataclass
class ArchiveServer:
    """A local HTTP server on 127.0.0.1: ``files`` maps a path to the bytes served there; a
    path in ``truncated`` announces more bytes than it sends, then closes the connection."""

    url: str
    files: dict[str, bytes] = field(default_factory=dict)
    truncated: set[str] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def archive_server() -> Iterator[ArchiveServer]:
    import http.server
    import threading

    state = ArchiveServer("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.path)
            body = state.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            cut = self.path in state.truncated
            self.send_header("Content-Length", str(len(body) * 2 if cut else len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


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
