"""MLflow's own REST tests (from its repository) pointed at a Limelight server.

MLflow's ``tests/tracking/test_rest_tracking.py`` and ``tests/tracking/test_model_registry.py``
start a tracking server (``_init_server``, or MLflow 3's ``ServerThread``) and drive it with
``MlflowClient``. This script runs those modules, unmodified, in the MLflow peer venv (pytest,
two xdist workers), after replacing the helpers they import from MLflow's test tree with shims
that start ``limelight ui`` instead (a fresh ``LIMELIGHT_HOME`` per test, the client given the
token):

- ``tests.tracking.integration_test_utils``: ``_init_server``, ``ServerThread``,
  ``_send_rest_tracking_post_request``;
- ``tests.helper_functions``: ``get_safe_port``; ``tests.integration.utils``: ``invoke_cli_runner``;
- MLflow's ``db_uri`` fixture, and ``initialize_backend_stores`` made a no-op (it sets up the
  stores of MLflow's own in-process server, which never starts).

MLflow's code is never committed here: pass the paths of the modules taken from
github.com/mlflow/mlflow.

    python benchmarks/mlflow_rest_suite.py PATH/TO/test_rest_tracking.py PATH/TO/test_model_registry.py

Prints each test's outcome with the first line of its failure, and ends with one line of JSON
(the counts); ``--json-out FILE`` keeps every outcome.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.mlflow_peer import MLFLOW_PROTOCOL  # noqa: E402
from benchmarks.peers import peer_python  # noqa: E402

TOKEN = "rest-suite-token-0123456789"

SHIM_SERVER = r'''
"""Limelight in place of MLflow's test tracking server (written by benchmarks/mlflow_rest_suite.py)."""
import contextlib, os, socket, subprocess, sys, tempfile, time
import requests

LIMELIGHT_PYTHON = os.environ["LIMELIGHT_PYTHON"]
LIMELIGHT_SRC = os.environ["LIMELIGHT_SRC"]
TOKEN = os.environ["MLFLOW_TRACKING_TOKEN"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _limelight():
    """A fresh Limelight server (its own LIMELIGHT_HOME) for one test; yields its URL."""
    home = tempfile.mkdtemp(prefix="limelight-rest-")
    port = _free_port()
    env = {**os.environ, "LIMELIGHT_HOME": home, "LIMELIGHT_TOKEN": TOKEN,
           "PYTHONPATH": LIMELIGHT_SRC}
    proc = subprocess.Popen(
        [LIMELIGHT_PYTHON, "-c", "from limelight.cli import main; main()", "ui", "--port", str(port)],
        # the test's working directory, as MLflow's in-process server shares it (a relative
        # artifact location is made absolute against the server's)
        env=env, cwd=os.getcwd(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(f"{url}/api/2.0/mlflow/experiments/get?experiment_id=0", timeout=2)
            break
        except requests.RequestException:  # not listening yet, or too busy to answer in time
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("limelight ui did not start")
            time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(20)


@contextlib.contextmanager
def _init_server(backend_uri=None, root_artifact_uri=None, extra_env=None, app=None, server_type=None):
    with _limelight() as url:
        yield url


class ServerThread:
    """MLflow 3's in-process test server, replaced by a Limelight server (``app`` is unused)."""

    def __init__(self, app=None, port=None):
        self._server = _limelight()

    def __enter__(self):
        return self._server.__enter__()

    def __exit__(self, *exc):
        return self._server.__exit__(*exc)


def _send_rest_tracking_post_request(tracking_server_uri, api_path, json_payload, auth=None):
    return requests.post(tracking_server_uri + api_path, json=json_payload,
                         headers={"Authorization": f"Bearer {TOKEN}"})
'''

SHIM_HELPERS = r'''
"""The one helper MLflow's REST test modules import from tests.helper_functions."""
import socket


def get_safe_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
'''

SHIM_CLI = r'''
"""MLflow's CLI runner helper (written by benchmarks/mlflow_rest_suite.py)."""
from click.testing import CliRunner


def invoke_cli_runner(*args, **kwargs):
    result = CliRunner().invoke(*args, **kwargs)
    assert result.exit_code == 0, f"{result.output} {result.exception}"
    return result
'''

CONFTEST = r"""
import importlib

# The modules import private names that MLflow 3.17 renamed, dropped or has not yet; a
# placeholder lets a module load, and a test that uses one fails (and is counted as failed).
def _missing_function(*args, **kwargs):
    raise NotImplementedError("this private MLflow helper is not in this MLflow version")


PRIVATE = [
    ("mlflow.server.handlers", "_get_sampled_steps_from_steps", _missing_function),
    ("mlflow.utils.providers", "_PROVIDER_BACKEND_AVAILABLE", False),
]
for module_name, name, placeholder in PRIVATE:
    module = importlib.import_module(module_name)
    if not hasattr(module, name):
        setattr(module, name, placeholder)

# The modules set up MLflow's own stores for MLflow's in-process server, which the shims never
# start (a Limelight server answers instead): skip that work, it only costs time.
import mlflow.server.handlers as _handlers

_handlers.initialize_backend_stores = lambda *args, **kwargs: None

import pytest


@pytest.fixture
def db_uri(tmp_path):  # MLflow's conftest fixture: a URI for MLflow's own store (unused)
    return f"sqlite:///{tmp_path}/mlflow.db"


@pytest.fixture(autouse=True)
def fresh_fluent_state():
    # as MLflow's own conftest does: no active run or experiment leaks into the next test (each
    # test has a fresh server, where an experiment id set by another test is unknown)
    import mlflow
    import mlflow.tracking.fluent as fluent

    yield
    while mlflow.active_run() is not None:
        mlflow.end_run()
    fluent._active_experiment_id = None
    for name in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID"):
        os.environ.pop(name, None)


import os


def pytest_configure(config):
    config.addinivalue_line("markers", "allow_infer_pip_requirements_fallback: MLflow's marker")
"""


def build_tree(test_files: list[Path], where: Path) -> list[Path]:
    tests = where / "tests"
    for package in ("", "tracking", "integration"):
        (tests / package).mkdir(parents=True, exist_ok=True)
        (tests / package / "__init__.py").write_text("")
    (tests / "tracking" / "integration_test_utils.py").write_text(SHIM_SERVER)
    (tests / "integration" / "utils.py").write_text(SHIM_CLI)
    (tests / "helper_functions.py").write_text(SHIM_HELPERS)
    (where / "limelight_shim.py").write_text(CONFTEST)
    targets = []
    for test_file in test_files:
        target = tests / "tracking" / test_file.name
        shutil.copyfile(test_file, target)
        targets.append(target)
    return targets


def outcomes(report: Path) -> dict[str, tuple[str, str]]:
    """test id -> (PASSED|FAILED|ERROR|SKIPPED, the failure's first line) from JUnit XML."""
    import xml.etree.ElementTree as ET

    found: dict[str, tuple[str, str]] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        outcome, reason = "PASSED", ""
        for kind, label in (("failure", "FAILED"), ("error", "ERROR"), ("skipped", "SKIPPED")):
            element = case.find(kind)
            if element is not None:
                outcome = label
                text = element.get("message") or element.text or ""
                reason = " ".join(text.split())[:300]
                break
        found[name] = (outcome, reason)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "test_files",
        type=Path,
        nargs="+",
        help="MLflow's tests/tracking/test_rest_tracking.py, test_model_registry.py, ...",
    )
    parser.add_argument("-n", "--workers", type=int, default=2, help="pytest-xdist workers")
    parser.add_argument("-k", dest="select", default=None, help="pytest -k expression")
    parser.add_argument("--json-out", type=Path, help="also write every outcome to this file")
    parser.add_argument("--timeout", type=int, default=120, help="seconds a test may take")
    args = parser.parse_args()
    python = peer_python(
        "mlflow-rest-tests", [*MLFLOW_PROTOCOL, "pytest", "pytest-xdist", "pytest-timeout"]
    )
    with tempfile.TemporaryDirectory(prefix="mlflow-rest-suite-") as tmp:
        targets = build_tree([f.resolve() for f in args.test_files], Path(tmp))
        report = Path(tmp) / "report.xml"
        env = {
            **os.environ,
            "MLFLOW_TRACKING_TOKEN": TOKEN,
            # an answer the client would retry (a 5xx) fails the test at once, not after
            # minutes of backoff; a test that waits on something never served stops at --timeout
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
            "LIMELIGHT_PYTHON": sys.executable,
            "LIMELIGHT_SRC": str(ROOT / "src"),
            "PYTHONPATH": tmp,
        }
        done = subprocess.run(
            [
                str(python),
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "--tb=line",
                "-o",
                "addopts=",
                "-p",
                "limelight_shim",
                f"--junitxml={report}",
                f"--timeout={args.timeout}",
                *(["-n", str(args.workers)] if args.workers > 1 else []),
                *(["-k", args.select] if args.select else []),
                *map(str, targets),
            ],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
            timeout=7200,
            check=False,
        )
        if not report.exists():
            raise SystemExit(f"pytest wrote no report:\n{done.stdout[-5000:]}{done.stderr[-5000:]}")
        found = outcomes(report)
    for name, (outcome, reason) in sorted(found.items()):
        print(f"{outcome:<8} {name}{f' - {reason}' if reason else ''}")
    counts = {
        k: sum(1 for v, _ in found.values() if v == k)
        for k in ("PASSED", "FAILED", "ERROR", "SKIPPED")
    }
    print(done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "")
    summary = {"suite": [f.name for f in args.test_files], "counts": counts}
    if args.json_out:
        args.json_out.write_text(json.dumps({name: list(v) for name, v in found.items()}, indent=1))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
