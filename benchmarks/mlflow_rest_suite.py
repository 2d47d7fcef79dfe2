"""MLflow's own REST tests (from its repository) pointed at a Limelight server.

MLflow's ``tests/tracking/test_rest_tracking.py`` starts a tracking server through
``tests.tracking.integration_test_utils._init_server`` and drives it with ``MlflowClient``.
This script runs that module, unmodified, in the MLflow peer venv (with pytest), after
replacing the three helpers it imports from MLflow's test tree with shims that start
``limelight ui`` instead (a fresh ``LIMELIGHT_HOME`` per server, the client given the token):

- ``tests.tracking.integration_test_utils``: ``_init_server``, ``_send_rest_tracking_post_request``;
- ``tests.integration.utils``: ``invoke_cli_runner``.

MLflow's code is never committed here: pass the path of ``test_rest_tracking.py`` taken from a
snapshot of github.com/mlflow/mlflow.

    python benchmarks/mlflow_rest_suite.py PATH/TO/test_rest_tracking.py

Prints each test's outcome, the count, and one line of JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import re
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
def _init_server(backend_uri=None, root_artifact_uri=None, extra_env=None, app=None, server_type=None):
    home = tempfile.mkdtemp(prefix="limelight-rest-")
    port = _free_port()
    env = {**os.environ, "LIMELIGHT_HOME": home, "LIMELIGHT_TOKEN": TOKEN,
           "PYTHONPATH": LIMELIGHT_SRC}
    proc = subprocess.Popen(
        [LIMELIGHT_PYTHON, "-c", "from limelight.cli import main; main()", "ui", "--port", str(port)],
        env=env, cwd=home, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(f"{url}/api/2.0/mlflow/experiments/get?experiment_id=0", timeout=2)
            break
        except requests.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("limelight ui did not start")
            time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(20)


def _send_rest_tracking_post_request(tracking_server_uri, api_path, json_payload, auth=None):
    return requests.post(tracking_server_uri + api_path, json=json_payload,
                         headers={"Authorization": f"Bearer {TOKEN}"})
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

# The snapshot's module imports private helpers that MLflow 3.17 renamed or dropped; a
# placeholder lets the module load, and a test that calls one fails (and is counted as failed).
PRIVATE = [("mlflow.server.handlers", "_get_sampled_steps_from_steps")]
for module_name, name in PRIVATE:
    module = importlib.import_module(module_name)
    if not hasattr(module, name):

        def missing(*args, _name=name, **kwargs):
            raise NotImplementedError(f"{_name} is not in this MLflow version")

        setattr(module, name, missing)


def pytest_configure(config):
    config.addinivalue_line("markers", "allow_infer_pip_requirements_fallback: MLflow's marker")
"""


def build_tree(test_file: Path, where: Path) -> Path:
    tests = where / "tests"
    for package in ("", "tracking", "integration"):
        (tests / package).mkdir(parents=True, exist_ok=True)
        (tests / package / "__init__.py").write_text("")
    (tests / "tracking" / "integration_test_utils.py").write_text(SHIM_SERVER)
    (tests / "integration" / "utils.py").write_text(SHIM_CLI)
    (where / "limelight_shim.py").write_text(CONFTEST)
    target = tests / "tracking" / "test_rest_tracking.py"
    shutil.copyfile(test_file, target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "test_file", type=Path, help="MLflow's tests/tracking/test_rest_tracking.py"
    )
    args = parser.parse_args()
    python = peer_python("mlflow-rest-tests", [*MLFLOW_PROTOCOL, "pytest"])
    with tempfile.TemporaryDirectory(prefix="mlflow-rest-suite-") as tmp:
        target = build_tree(args.test_file.resolve(), Path(tmp))
        env = {
            **os.environ,
            "MLFLOW_TRACKING_TOKEN": TOKEN,
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
                "-rA",
                "-p",
                "no:cacheprovider",
                "--tb=line",
                "-o",
                "addopts=",
                "-p",
                "limelight_shim",
                str(target),
            ],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
            timeout=3600,
            check=False,
        )
    out = done.stdout
    print(out[-20000:])
    outcomes: dict[str, str] = {}
    reasons: dict[str, str] = {}
    for line in out.splitlines():
        match = re.match(r"(PASSED|FAILED|ERROR|SKIPPED)\s+(\S+)(?: - (.*))?", line)
        if match:
            outcomes[match.group(2)] = match.group(1)
            if match.group(3):
                reasons[match.group(2)] = match.group(3)[:300]
    counts = {
        k: sum(1 for v in outcomes.values() if v == k)
        for k in ("PASSED", "FAILED", "ERROR", "SKIPPED")
    }
    print(
        json.dumps({"suite": "mlflow test_rest_tracking.py", "counts": counts, "failures": reasons})
    )


if __name__ == "__main__":
    main()
