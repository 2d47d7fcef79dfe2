"""A run's and a logged model's artifacts as MLflow's tracking API and web UI read them.

``artifacts/list`` lists a run's artifact folder (paths relative to the run's artifact root,
as MLflow's server gives them), and ``logged-models/ID/artifacts/directories`` and ``/files``
list and download a logged model's; ``/get-artifact`` and ``/model-versions/get-artifact`` are
the web UI's downloads of one file of a run, and of one file of a registered version (the files
the version captured when it was registered, not the run's folder as it is now). All of them
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
from limelight.ui._mlflow._logged_models import _row as logged_model_row
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


def _logged_model_root(conn: sa.Connection, f: Fields) -> tuple[str, str]:
    """(the logged model's artifact URI, its folder in this server's artifacts)."""
    uri = str(logged_model_row(conn, f.string("model_id", required=True)).artifact_location)
    if not uri.startswith(_PROXIED):
        raise bad(
            f"The logged model's artifact location {uri} is not served by this server (only "
            f"{_PROXIED} locations are): read it from where it is"
        )
    return uri, artifact_dir(uri)


def _listing(conn: sa.Connection, uri: str, folder: str, relative: str) -> dict[str, Any]:
    found = list_files(conn, posixpath.join(folder, relative) if relative else folder)
    for item in found:
        item["path"] = posixpath.join(relative, item["path"]) if relative else item["path"]
    out: dict[str, Any] = {"root_uri": uri}
    if found:
        out["files"] = found
    return out


def _download(p: Protocol, folder: str, relative: str, owner: str) -> Response:
    with p.store.metadata.connect() as conn:
        key = conn.execute(
            sa.select(mlflow_files.c.key).where(mlflow_files.c.path == f"{folder}/{relative}")
        ).scalar()
    if key is None:
        raise MlflowError(
            "RESOURCE_DOES_NOT_EXIST", f"No such file or directory: '{relative}' in the {owner}"
        )
    return file_response(p.store.artifacts.blobs.get(key), relative, attachment=True)


def list_artifacts(p: Protocol, f: Fields) -> dict[str, Any]:
    relative = _relative(f, required=False)
    with p.store.metadata.connect() as conn:
        return _listing(conn, *_run_root(conn, f), relative)


def get_artifact(p: Protocol, f: Fields) -> Response:
    if not (f.string("run_id") or f.string("run_uuid")):
        raise missing("run_id")
    relative = _relative(f, required=True)
    if not relative:
        raise missing("path")
    with p.store.metadata.connect() as conn:
        _, folder = _run_root(conn, f)
    return _download(p, folder, relative, "run")


def list_logged_model_artifacts(p: Protocol, f: Fields) -> dict[str, Any]:
    """``logged-models/ID/artifacts/directories`` (MLflow's web UI): a logged model's files."""
    relative = safe_path(f.string("artifact_directory_path", max_length=1000) or "")
    with p.store.metadata.connect() as conn:
        return _listing(conn, *_logged_model_root(conn, f), relative)


def get_logged_model_artifact(p: Protocol, f: Fields) -> Response:
    """``logged-models/ID/artifacts/files?artifact_file_path=...``: one file of a logged model."""
    relative = safe_path(f.string("artifact_file_path", max_length=1000) or "")
    if not relative:
        raise missing("artifact_file_path")
    with p.store.metadata.connect() as conn:
        _, folder = _logged_model_root(conn, f)
    return _download(p, folder, relative, "logged model")


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


HANDLERS = {
    ("artifacts/list", "GET"): list_artifacts,
    ("logged-models/{model_id}/artifacts/directories", "GET"): list_logged_model_artifacts,
    ("logged-models/{model_id}/artifacts/files", "GET"): get_logged_model_artifact,
}
WEB_UI_HANDLERS = {
    "/get-artifact": get_artifact,
    "/model-versions/get-artifact": get_version_artifact,
}
