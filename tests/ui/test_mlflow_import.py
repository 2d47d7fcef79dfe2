"""``limelight import mlflow`` on stores made by the real MLflow 3.17 (its own venv)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from tests._peers import PEER_INSTALL_TIMEOUT
from tests.cli._run import run_cli

from limelight.registry import Registry
from limelight.store.schema import mlflow_versions
from limelight.tracking import metric_history, search_runs

pytestmark = [pytest.mark.slow, pytest.mark.timeout(PEER_INSTALL_TIMEOUT)]

MAKE_STORE = r"""
import json, sys
import mlflow
import numpy as np
from mlflow import MlflowClient
from sklearn.linear_model import LinearRegression

uri, artifacts = sys.argv[1], sys.argv[2]
mlflow.set_tracking_uri(uri)
mlflow.set_registry_uri(uri)
client = MlflowClient()
exp = client.create_experiment("imported", artifact_location=artifacts, tags={"team": "recs"})
mlflow.set_experiment(experiment_id=exp)
with mlflow.start_run(run_name="first") as run:
    mlflow.log_params({"l2": "500", "k": "10"})
    for step in range(4):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
    mlflow.set_tag("owner", "ada")
    X = np.random.default_rng(0).normal(size=(6, 2))
    model = LinearRegression().fit(X, X @ np.array([2.0, -1.0]) + 3)
    info = mlflow.sklearn.log_model(model, name="model")  # MLflow 3.17's default: skops
with mlflow.start_run(run_name="second") as second:
    mlflow.log_param("l2", "100")
    mlflow.log_metric("loss", 0.9)
version = mlflow.register_model(info.model_uri, "imported-model")
client.set_registered_model_alias("imported-model", "champion", version.version)
client.set_registered_model_tag("imported-model", "domain", "recs")
staged = mlflow.register_model(info.model_uri, "imported-model")
client.transition_model_version_stage("imported-model", staged.version, "Staging")
dropped = mlflow.register_model(info.model_uri, "imported-model")
client.delete_model_version("imported-model", dropped.version)
print(json.dumps({"first": run.info.run_id, "second": second.info.run_id}))
"""


def _make_store(python: Path, uri: str, artifacts: Path, cwd: Path) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(cwd), "MLFLOW_ALLOW_FILE_STORE": "true"}
    done = subprocess.run(
        [str(python), "-c", MAKE_STORE, uri, str(artifacts)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def mlflow_peer() -> Path:
    from benchmarks.mlflow_peer import mlflow_python

    return mlflow_python()


@pytest.mark.parametrize("kind", ["sqlite", "file store"])
def test_import_copies_an_mlflow_store(
    mlflow_peer: Path, home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    where = f"sqlite:///{tmp_path / 'mlflow.db'}" if kind == "sqlite" else str(tmp_path / "mlruns")
    uri = where if kind == "sqlite" else f"file://{where}"
    made = _make_store(mlflow_peer, uri, tmp_path / "artifacts", tmp_path)
    code, out, err = run_cli(capsys, "import", "mlflow", "--from", where)
    assert code == 0, err
    assert "2 runs" in out and "1 models, 2 versions, 1 aliases" in out, "a deleted one is not"
    found = {r.params["l2"]: r for r in search_runs(flow="imported")}
    assert set(found) == {"500", "100"}
    first = found["500"]
    assert first.status == "succeeded" and first.params["k"] == "10"
    history = metric_history(first.id, "loss")["loss"]
    assert list(history.steps) == [0, 1, 2, 3]
    assert list(history.values) == [1.0, 0.5, 1 / 3, 0.25]
    registry = Registry()
    version = registry.get("imported-model@champion")
    assert version.run_id == first.id
    X = np.array([[1.0, 1.0], [2.0, 0.0]])
    assert registry.load("imported-model@champion").predict(X).tolist() == pytest.approx([4.0, 7.0])
    assert registry.history("imported-model")[-1].why == "imported from MLflow"
    with registry.store.metadata.connect() as conn:
        stages = dict(
            conn.execute(
                sa.select(mlflow_versions.c.version, mlflow_versions.c.stage).where(
                    mlflow_versions.c.model == "imported-model", mlflow_versions.c.version > 0
                )
            ).all()
        )
    assert stages == {1: None, 2: "Staging"}, "MLflow's stages come along"
    # a second import copies nothing twice
    code, out, _ = run_cli(capsys, "import", "mlflow", "--from", where)
    assert code == 0 and "0 runs" in out and "2 runs were already imported" in out
    assert len(search_runs(flow="imported")) == 2
    assert made["first"]  # the MLflow ids are kept as a tag on each copied run


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("sqlite:///{tmp}/missing.db", "no MLflow database"),
        ("{tmp}/no-such-folder", "no MLflow file store"),
        ("sqlite:///{tmp}/not-mlflow.db", "not an MLflow tracking database"),
    ],
)
def test_import_refuses_what_is_not_an_mlflow_store(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str, message: str
) -> None:
    import sqlite3

    sqlite3.connect(tmp_path / "not-mlflow.db").execute("create table t (x)").connection.close()
    code, _, err = run_cli(capsys, "import", "mlflow", "--from", where.format(tmp=tmp_path))
    assert code != 0 and message in err
