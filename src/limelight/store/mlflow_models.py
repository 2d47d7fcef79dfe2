"""Models saved in MLflow's format (a folder with an ``MLmodel`` file), as one artifact.

The folder's files are blobs already; :class:`MlflowModelFiles` names them by relative path and
is stored (serializer ``mlflow-model``) as a JSON manifest. Loading reads ``MLmodel`` and
returns the model of the first flavour Limelight can load natively: ``sklearn`` (its skops file,
loading only the types ``MLmodel`` trusts, as MLflow does; or its pickle or cloudpickle file).
MLflow itself is never imported. Other flavours raise a
:class:`~limelight.core.errors.SerializerError` that names them.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, field
from typing import Any

from limelight.core.errors import SerializerError
from limelight.store.blobs import BlobStore

__all__ = [
    "MlflowModelFiles",
    "dump_mlflow_model",
    "load_manifest",
    "load_mlflow_model",
    "manifest_files",
]


@dataclass(frozen=True)
class MlflowModelFiles:
    """The files of an MLflow model folder: relative path -> (blob key, size)."""

    files: dict[str, tuple[str, int]]
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


def _mlmodel(files: dict[str, tuple[str, int]], blobs: BlobStore) -> dict[str, Any]:
    import yaml

    if "MLmodel" not in files:
        raise SerializerError(
            "this MLflow model has no MLmodel file: it was registered before its files were "
            "uploaded, or its source is outside this server's artifacts"
        )
    data = yaml.safe_load(blobs.get(files["MLmodel"][0]))
    if not isinstance(data, dict) or not isinstance(data.get("flavors"), dict):
        raise SerializerError("the MLmodel file has no flavors")
    return data


def load_mlflow_model(files: dict[str, tuple[str, int]], blobs: BlobStore) -> Any:
    """The model object of an MLflow model folder (sklearn flavour: skops, pickle, cloudpickle)."""
    flavors = _mlmodel(files, blobs)["flavors"]
    sklearn = flavors.get("sklearn")
    if isinstance(sklearn, dict):
        name = sklearn.get("pickled_model", "model.pkl")
        fmt = sklearn.get("serialization_format", "cloudpickle")
        if name not in files:
            raise SerializerError(f"the sklearn flavour names {name!r}, which is not in the model")
        data = blobs.get(files[name][0])
        if fmt == "cloudpickle":
            import cloudpickle

            return cloudpickle.loads(data)
        if fmt == "pickle":
            return pickle.loads(data)
        if fmt == "skops":  # the safe format: only the types the MLmodel file trusts load
            try:
                import skops.io
            except ImportError:
                raise SerializerError(
                    "this MLflow model is saved in the skops format: pip install skops"
                ) from None
            return skops.io.loads(data, trusted=sklearn.get("skops_trusted_types"))
        raise SerializerError(
            f"sklearn serialization format {fmt!r} is not supported without MLflow: log the model "
            "with serialization_format='cloudpickle' or 'pickle'"
        )
    raise SerializerError(
        f"MLflow flavours {', '.join(sorted(flavors))} cannot be loaded without MLflow; "
        "Limelight loads the sklearn flavour (log the model with mlflow.sklearn.log_model)"
    )


def dump_mlflow_model(obj: MlflowModelFiles, blobs: BlobStore) -> tuple[str, int]:
    """Store the manifest of ``obj``; (its blob key, the model's total size)."""
    manifest = {"files": {k: list(v) for k, v in sorted(obj.files.items())}, "source": obj.source}
    data = json.dumps(manifest, separators=(",", ":")).encode()
    return blobs.put(data), len(data) + sum(size for _, size in obj.files.values())


def manifest_files(key: str, blobs: BlobStore) -> dict[str, tuple[str, int]]:
    """The files of the stored manifest ``key``: relative path -> (blob key, size)."""
    manifest = json.loads(blobs.get(key))
    return {k: (v[0], int(v[1])) for k, v in manifest["files"].items()}


def load_manifest(key: str, blobs: BlobStore) -> Any:
    return load_mlflow_model(manifest_files(key, blobs), blobs)
