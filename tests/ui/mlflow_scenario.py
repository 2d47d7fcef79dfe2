"""An ordinary MLflow 3.17 client script; run in the MLflow peer venv with MLFLOW_TRACKING_URI set.

Nothing here knows it talks to Limelight. It prints one JSON line with what it saw.
"""

import json
import os
import sys
import tempfile
from pathlib import Path

import mlflow
import numpy as np
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from sklearn.linear_model import LogisticRegression

client = MlflowClient()
out = {"tracking_uri": mlflow.get_tracking_uri()}
mlflow.set_experiment("scenario")

with mlflow.start_run(run_name="manual") as run:
    mlflow.log_param("l2", "500")
    mlflow.log_params({"lr": 0.1, "layers": 3})
    for step in range(5):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
    mlflow.log_metrics({"ndcg": 0.42, "recall": 0.3})
    mlflow.set_tag("team", "recs")
    mlflow.set_tags({"owner": "ada", "temp": "x"})
    client.delete_tag(run.info.run_id, "temp")
    client.log_batch(
        run.info.run_id,
        metrics=[Metric("batch", float(i), 1_700_000_000_000 + i, i) for i in range(100)],
        params=[Param("batch_param", "b")],
        tags=[RunTag("batch_tag", "t")],
    )
    folder = tempfile.mkdtemp()
    with open(os.path.join(folder, "notes.txt"), "w") as fh:
        fh.write("hello limelight")
    mlflow.log_artifact(os.path.join(folder, "notes.txt"))
    try:
        mlflow.log_param("l2", "600")
        out["param_change"] = "accepted"
    except mlflow.exceptions.MlflowException as exc:
        out["param_change"] = exc.error_code
    manual_id = run.info.run_id

got = client.get_run(manual_id)
out["manual"] = {
    "id": manual_id,
    "status": got.info.status,
    "name": got.info.run_name,
    "params": dict(got.data.params),
    "metrics": dict(got.data.metrics),
    "tags": {k: v for k, v in got.data.tags.items() if not k.startswith("mlflow.")},
    "loss_history": [(m.step, m.value) for m in client.get_metric_history(manual_id, "loss")],
    "artifacts": [f.path for f in client.list_artifacts(manual_id)],
    "notes": Path(
        mlflow.artifacts.download_artifacts(run_id=manual_id, artifact_path="notes.txt")
    ).read_text(),
}

mlflow.sklearn.autolog(log_models=True)
rng = np.random.default_rng(7)
X = rng.normal(size=(200, 4))
y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
with mlflow.start_run(run_name="autolog") as run:
    fitted = LogisticRegression(C=0.5, max_iter=200).fit(X, y)
    auto_id = run.info.run_id
mlflow.sklearn.autolog(disable=True)
auto = client.get_run(auto_id)
out["autolog"] = {
    "id": auto_id,
    "params": dict(auto.data.params),
    "metrics": sorted(auto.data.metrics),
}

found = mlflow.search_runs(
    experiment_names=["scenario"],
    filter_string="params.l2 = '500' and metrics.ndcg > 0.4 and tags.team = 'recs'",
    output_format="list",
)
out["search"] = [r.info.run_id for r in found]
out["search_like"] = [
    r.info.run_id
    for r in mlflow.search_runs(
        experiment_names=["scenario"],
        filter_string="attributes.run_name LIKE 'auto%'",
        output_format="list",
    )
]
out["ordered"] = [
    r.info.run_id
    for r in mlflow.search_runs(
        experiment_names=["scenario"], order_by=["attributes.start_time ASC"], output_format="list"
    )
]

model_info = mlflow.last_logged_model()
source = f"models:/{model_info.model_id}" if model_info is not None else f"runs:/{auto_id}/model"
version = mlflow.register_model(source, "scenario-model")
client.set_registered_model_alias("scenario-model", "challenger", version.version)
out["version"] = version.version
out["alias_version"] = client.get_model_version_by_alias("scenario-model", "challenger").version
loaded = mlflow.pyfunc.load_model("models:/scenario-model@challenger")
out["prediction_matches"] = bool(
    np.array_equal(np.asarray(loaded.predict(X[:20])), fitted.predict(X[:20]))
)
try:
    client.set_registered_model_alias("scenario-model", "champion", version.version)
    out["champion"] = "moved"
except mlflow.exceptions.MlflowException as exc:
    out["champion"] = {"code": exc.error_code, "message": exc.message}
# older code promotes through stages and loads models:/NAME/STAGE
client.transition_model_version_stage("scenario-model", version.version, "Production")
staged = mlflow.pyfunc.load_model("models:/scenario-model/Production")
out["stage_prediction_matches"] = bool(
    np.array_equal(np.asarray(staged.predict(X[:20])), fitted.predict(X[:20]))
)
second = mlflow.register_model(source, "scenario-model")
client.transition_model_version_stage(
    "scenario-model", second.version, "Production", archive_existing_versions=True
)
out["stages"] = {
    v.version: v.current_stage for v in client.search_model_versions("name = 'scenario-model'")
}
client.delete_model_version("scenario-model", second.version)
out["after_delete"] = sorted(
    v.version for v in client.search_model_versions("name = 'scenario-model'")
)
try:
    client.get_run("999999")
except mlflow.exceptions.MlflowException as exc:
    out["missing_run"] = exc.error_code
sys.stdout.write(json.dumps(out) + "\n")
