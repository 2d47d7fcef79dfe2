"""An unmodified MLflow 3.17 client (its own venv) writes to a live Limelight server.

``mlflow_scenario.py`` is an ordinary MLflow script: runs, params, metrics, a batch, tags,
``mlflow.sklearn.autolog()`` on a real scikit-learn fit, an artifact, searches with filters, a
registered model with an alias loaded back as ``models:/name@alias``. Then the same runs and the
model are read through Limelight: the Python API, ``limelight runs`` and ``limelight serve``.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from tests._peers import PEER_INSTALL_TIMEOUT
from tests.cli._run import run_cli
from tests.ui._live import LiveServer

from limelight.core.config import resolve_config
from limelight.registry import Registry
from limelight.serving import Client, serve_in_background
from limelight.tracking import metric_history, search_runs

pytestmark = [pytest.mark.slow, pytest.mark.timeout(PEER_INSTALL_TIMEOUT)]

SCENARIO = Path(__file__).with_name("mlflow_scenario.py")
TOKEN = "scenario-token-0123456789"


@pytest.fixture(scope="module")
def mlflow_peer() -> Path:
    from benchmarks.mlflow_peer import mlflow_python

    return mlflow_python()


def _scenario(python: Path, url: str, workdir: Path) -> dict[str, Any]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(workdir),
        "MLFLOW_TRACKING_URI": url,
        "MLFLOW_TRACKING_TOKEN": TOKEN,
    }
    done = subprocess.run(
        [str(python), str(SCENARIO)],
        capture_output=True,
        text=True,
        env=env,
        cwd=workdir,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_an_mlflow_client_script_runs_unchanged_against_limelight(
    mlflow_peer: Path, home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from limelight.ui import create_app

    config = resolve_config()
    with LiveServer(create_app(config, token=TOKEN)) as server:
        seen = _scenario(mlflow_peer, server.url, tmp_path)
        # ... and the dashboard shows the run MLflow wrote, with its params and metrics
        page = httpx.get(f"{server.url}/runs/scenario/{seen['manual']['id']}", timeout=30)
        assert page.status_code == 200 and "ndcg" in page.text and "batch_param" in page.text

    manual = seen["manual"]
    assert manual["status"] == "FINISHED" and manual["name"] == "manual"
    assert manual["params"] == {"l2": "500", "lr": "0.1", "layers": "3", "batch_param": "b"}
    assert manual["metrics"] == {"loss": 0.2, "ndcg": 0.42, "recall": 0.3, "batch": 99.0}
    assert manual["tags"] == {"team": "recs", "owner": "ada", "batch_tag": "t"}
    assert manual["loss_history"] == [[s, 1.0 / (s + 1)] for s in range(5)]
    assert manual["artifacts"] == ["notes.txt"] and manual["notes"] == "hello limelight"
    assert seen["param_change"] == "INVALID_PARAMETER_VALUE"
    assert seen["autolog"]["params"]["C"] == "0.5"
    assert "training_accuracy_score" in seen["autolog"]["metrics"]
    assert seen["search"] == [manual["id"]]
    assert seen["search_like"] == [seen["autolog"]["id"]]
    assert seen["ordered"] == [manual["id"], seen["autolog"]["id"]]
    assert seen["version"] == seen["alias_version"] == "1"
    assert seen["prediction_matches"] is True
    # champion passes the usage-rights gate only with datasets in the lineage or a why:
    # MLflow's API gives neither, so the gate refuses and says so in MLflow's format
    assert seen["champion"]["code"] == "RESOURCE_CONFLICT"
    assert "usage" in seen["champion"]["message"]
    assert seen["missing_run"] == "RESOURCE_DOES_NOT_EXIST"
    assert seen["stage_prediction_matches"] is True
    assert seen["stages"] == {"1": "Archived", "2": "Production"}
    assert seen["after_delete"] == ["1"]

    # the same runs, through Limelight's Python API ...
    runs = {r.id: r for r in search_runs(flow="scenario", config=config)}
    manual_run = runs[int(manual["id"])]
    assert manual_run.kind == "notebook" and manual_run.status == "succeeded"
    assert manual_run.params["l2"] == "500" and manual_run.metrics["ndcg"] == 0.42
    history = metric_history(int(manual["id"]), "loss", config=config)["loss"]
    assert list(history.steps) == [0, 1, 2, 3, 4]
    assert search_runs(flow="scenario", where="metrics.training_score > 0.5", config=config)
    # ... the command line ...
    code, out, _ = run_cli(capsys, "runs", "scenario", "--where", "metrics.ndcg > 0.4")
    assert code == 0 and f"scenario/{manual['id']}" in out
    # ... and the registry and serving: the sklearn model MLflow logged predicts through /v1
    registry = Registry(config)
    version = registry.get("scenario-model@challenger")
    assert version.run_id == int(seen["autolog"]["id"])
    rng = np.random.default_rng(7)
    X = rng.normal(size=(200, 4))
    expected = registry.load("scenario-model@challenger").predict(X[:5]).tolist()
    handle = serve_in_background({"scenario": "scenario-model@challenger"}, in_process=True)
    try:
        with Client(handle.url) as client:
            assert client.predict("scenario", rows=X[:5].tolist()) == expected
    finally:
        handle.stop()
