"""A run's artifacts as MLflow's tracking API and web UI read them.

``artifacts/list`` lists a run's artifact folder (paths relative to the run's artifact root,
as MLflow's server gives them); ``/get-artifact`` and ``/model-versions/get-artifact`` are the
web UI's downloads of one file of a run, and of one file of a registered version (the files
the version captured when it was registered, not the run's folder as it is now). All three
read what :mod:`._artifacts` stored; a root outside this server's artifacts is refused, naming
it, because this server holds no other files.
"""

from __future__ import annotations

import posixpath
from typing import Any

import sqlalchemy as sa
from starlette.responses import Response

from limelight.store.mlflow_models import manifest_files
from limelight.store.schema import mlflow_files
from limelight.ui._mlflow._artifacts import artifact_dir, file_response, list_files, safe_path
from limelight.ui._mlflow._protocol import Fields, MlflowError, Protocol, bad, missing
from limelight.ui._mlflow._registry import _model_row, _name, _version_number, _version_row
from limelight.ui._mlflow._runs import _info, _row

__all__ = ["HANDLERS", "WEB_UI_HANDLERS"]

_PROXIED = "mlflow-artifacts:"


def _run_root(conn: sa.Connection, f: Fields) -> tuple[str, str]:
    """(the run's artifact URI, its folder in this server's artifacts)."""
    uri = str(_info(_row(conn, f.run_id()))["artifact_uri"])
    if not uri.startswith(_PROXIED):
        raise bad(
            f"The run's artifact root {uri} is not served by this server (only {_PROXIED} roots "
            "are): read it from where it is"
        )
    return uri, artifact_dir(uri)


def _relative(f: Fields, *, required: bool) -> str:
    path = f.string("path", required=required, max_length=1000)
    return safe_path(path or "")


def list_artifacts(p: Protocol, f: Fields) -> dict[str, Any]:
    relative = _relative(f, required=False)
    with p.store.metadata.connect() as conn:
        uri, folder = _run_root(conn, f)
        found = list_files(conn, posixpath.join(folder, relative) if relative else folder)
    for item in found:
        item["path"] = posixpath.join(relative, item["path"]) if relative else item["path"]
    out: dict[str, Any] = {"root_uri": uri}
    if found:
        out["files"] = found
    return out


def get_artifact(p: Protocol, f: Fields) -> Response:
    if not (f.string("run_id") or f.string("run_uuid")):
        raise missing("run_id")
    relative = _relative(f, required=True)
    if not relative:
        raise missing("path")
    with p.store.metadata.connect() as conn:
        _, folder = _run_root(conn, f)
        full = f"{folder}/{relative}"
        key = conn.execute(
            sa.select(mlflow_files.c.key).where(mlflow_files.c.path == full)
        ).scalar()
    if key is None:
        raise MlflowError(
            "RESOURCE_DOES_NOT_EXIST", f"No such file or directory: '{relative}' in the run"
        )
    return file_response(p.store.artifacts.blobs.get(key), relative, attachment=True)


def get_version_artifact(p: Protocol, f: Fields) -> Response:
    name = _name(f)
    version = _version_number(f)
    relative = _relative(f, required=True)
    if not relative:
        raise missing("path")
    with p.store.metadata.connect() as conn:
        _model_row(conn, name)
        artifact = _version_row(conn, name, version).artifact
    if artifact.get("serializer") != "mlflow-model":
        raise MlflowError(
            "RESOURCE_DOES_NOT_EXIST",
            f"Model Version (name={name}, version={version}) holds no MLflow model files",
        )
    files = manifest_files(artifact["key"], p.store.artifacts.blobs)
    if relative not in files:
        raise MlflowError(
            "RESOURCE_DOES_NOT_EXIST",
            f"No such file or directory: '{relative}' in model version {name}/{version}",
        )
    return file_response(p.store.artifacts.blobs.get(files[relative][0]), relative, attachment=True)


HANDLERS = {("artifacts/list", "GET"): list_artifacts}
WEB_UI_HANDLERS = {
    "/get-artifact": get_artifact,
    "/model-versions/get-artifact": get_version_artifact,
}
