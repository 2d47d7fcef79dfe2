"""Serializers, chosen by the type of the object being stored.

=========  ==========================================  =========================================
name       objects                                     on load
=========  ==========================================  =========================================
json       None, bool, int, float, str, and lists /    the same Python values
           dicts (str keys) of those
npy        numpy arrays without Python objects,        memory-mapped copy-on-write,
           structured and record arrays included       ``allow_pickle=False``
sparse     scipy sparse matrices and arrays            the same format, arrays memory-mapped
arrow      pyarrow Tables                              a Table over a memory-mapped IPC file
pandas     pandas DataFrames                           a DataFrame (through Arrow)
state      objects with ``get_state()`` and a          ``cls.from_state(state)``, its arrays
           ``from_state(state)`` classmethod           memory-mapped
pickle     anything else                               unpickled, with a warning when the Python
                                                       or library versions differ from the saving
                                                       process
=========  ==========================================  =========================================
"""

from __future__ import annotations

import importlib
import io
import json
import pickle
import sys
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from limelight.core.errors import SerializerError
from limelight.store.blobs import BlobStore

if TYPE_CHECKING:  # numpy is imported on first use: a flow of plain values never needs it
    import numpy as np

__all__ = [
    "SERIALIZERS",
    "ArtifactRef",
    "MlflowModelSerializer",
    "Serializer",
    "VersionMismatchWarning",
    "dump",
    "load",
    "serializer_for",
]


class VersionMismatchWarning(UserWarning):
    """A pickled artifact is loaded by a different Python or library version than saved it."""


@dataclass(frozen=True)
class ArtifactRef:
    """Where a stored object lives: the blob key, the serializer and what it needs to load."""

    key: str
    serializer: str
    size: int
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "serializer": self.serializer,
            "size": self.size,
            "meta": self.meta,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ArtifactRef:
        return cls(data["key"], data["serializer"], int(data["size"]), dict(data.get("meta") or {}))


class Serializer(Protocol):
    name: str

    def handles(self, obj: object) -> bool: ...

    def dump(self, obj: Any, blobs: BlobStore) -> ArtifactRef: ...

    def load(self, ref: ArtifactRef, blobs: BlobStore) -> Any: ...


# -- json -------------------------------------------------------------------------------------
def _is_plain(value: object, depth: int = 0) -> bool:
    if depth > 50:
        return False
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return True
    if kind is float:
        return True
    if kind is list:
        return all(_is_plain(v, depth + 1) for v in value)  # type: ignore[attr-defined]
    if kind is dict:
        return all(
            type(k) is str and _is_plain(v, depth + 1)
            for k, v in value.items()  # type: ignore[attr-defined]
        )
    return False


class JsonSerializer:
    name = "json"

    def handles(self, obj: object) -> bool:
        # NaN and infinities are written as JSON literals that Python reads back
        return _is_plain(obj)

    def dump(self, obj: Any, blobs: BlobStore) -> ArtifactRef:
        data = json.dumps(obj, separators=(",", ":")).encode()
        return ArtifactRef(blobs.put(data), self.name, len(data))

    def load(self, ref: ArtifactRef, blobs: BlobStore) -> Any:
        return json.loads(blobs.get(ref.key))


# -- numpy ------------------------------------------------------------------------------------
def write_array(arr: np.ndarray, blobs: BlobStore) -> tuple[str, int]:
    """Store ``arr`` as an ``.npy`` blob without copying a contiguous array; return (key, size)."""
    import numpy as np

    if arr.dtype.hasobject:
        raise SerializerError("arrays of Python objects cannot be stored without pickle")
    if not (arr.flags.c_contiguous or arr.flags.f_contiguous):
        arr = np.ascontiguousarray(arr)
    header = io.BytesIO()
    header_data = np.lib.format.header_data_from_array_1_0(arr)
    np.lib.format.write_array_header_2_0(header, header_data)
    ordered = arr.T if header_data["fortran_order"] else arr
    with blobs.writer() as writer:
        writer.write(header.getvalue())
        if arr.size:
            writer.write(ordered.reshape(-1).view(np.uint8).data)
    assert writer.key is not None
    return writer.key, writer.size


def read_array(key: str, blobs: BlobStore) -> np.ndarray:
    """Load an ``.npy`` blob memory-mapped (copy-on-write), never unpickling."""
    import numpy as np

    path = blobs.local_path(key)
    try:
        mapped = np.load(path, mmap_mode="c", allow_pickle=False)
    except ValueError:  # an empty array cannot be mapped
        return np.load(path, allow_pickle=False)
    # a plain ndarray over the same pages (it keeps the map open): np.memmap's Python-level
    # __getitem__ and __array_finalize__ ran on every row a served model read
    return np.asarray(mapped)


class NumpySerializer:
    name = "npy"

    def handles(self, obj: object) -> bool:
        np = sys.modules.get("numpy")
        return np is not None and isinstance(obj, np.ndarray) and not obj.dtype.hasobject

    def dump(self, obj: Any, blobs: BlobStore) -> ArtifactRef:
        import numpy as np

        key, size = write_array(obj, blobs)
        meta: dict[str, Any] = {"dtype": str(obj.dtype), "shape": list(obj.shape)}
        if isinstance(obj, np.recarray):
            meta["recarray"] = True
        return ArtifactRef(key, self.name, size, meta)

    def load(self, ref: ArtifactRef, blobs: BlobStore) -> Any:
        import numpy as np

        arr = read_array(ref.key, blobs)
        return arr.view(np.recarray) if ref.meta.get("recarray") else arr


# -- manifests of several arrays (sparse matrices, model states) --------------------------------
def _dump_manifest(manifest: dict[str, Any], blobs: BlobStore) -> tuple[str, int]:
    data = json.dumps(manifest, separators=(",", ":"), sort_keys=True).encode()
    return blobs.put(data), len(data)


def _dump_arrays(arrays: dict[str, np.ndarray], blobs: BlobStore) -> tuple[dict[str, str], int]:
    import numpy as np

    keys: dict[str, str] = {}
    total = 0
    for name, arr in arrays.items():
        keys[name], size = write_array(np.asarray(arr), blobs)
        total += size
    return keys, total


class SparseSerializer:
    name = "sparse"
    _PARTS: ClassVar[dict[str, tuple[str, ...]]] = {
        "csr": ("data", "indices", "indptr"),
        "csc": ("data", "indices", "indptr"),
        "coo": ("data", "row", "col"),
    }

    def handles(self, obj: object) -> bool:
        module = sys.modules.get("scipy.sparse")
        return module is not None and module.issparse(obj)

    def dump(self, obj: Any, blobs: BlobStore) -> ArtifactRef:
        original = obj.format
        stored = obj if original in self._PARTS else obj.tocsr()
        fmt = stored.format
        parts = {name: getattr(stored, name) for name in self._PARTS[fmt]}
        keys, total = _dump_arrays(parts, blobs)
        manifest = {
            "format": fmt,
            "original": original,
            "shape": list(stored.shape),
            "is_array": type(obj).__name__.endswith("_array"),
            "arrays": keys,
        }
        key, size = _dump_manifest(manifest, blobs)
        return ArtifactRef(
            key, self.name, total + size, {"format": original, "shape": list(stored.shape)}
        )

    def load(self, ref: ArtifactRef, blobs: BlobStore) -> Any:
        import scipy.sparse as sp

        manifest = json.loads(blobs.get(ref.key))
        arrays = {name: read_array(key, blobs) for name, key in manifest["arrays"].items()}
        shape = tuple(manifest["shape"])
        fmt = manifest["format"]
        suffix = "array" if manifest["is_array"] else "matrix"
        cls = getattr(sp, f"{fmt}_{suffix}")
        if fmt == "coo":
            matrix = cls((arrays["data"], (arrays["row"], arrays["col"])), shape=shape)
        else:
            matrix = cls((arrays["data"], arrays["indices"], arrays["indptr"]), shape=shape)
        return matrix if manifest["original"] == fmt else matrix.asformat(manifest["original"])


# -- Arrow and pandas -------------------------------------------------------------------------
def _write_ipc(table: Any, blobs: BlobStore) -> tuple[str, int]:
    import pyarrow as pa

    with (
        blobs.writer() as writer,
        pa.ipc.new_file(pa.PythonFile(writer, mode="w"), table.schema) as ipc,
    ):
        ipc.write_table(table)
    assert writer.key is not None
    return writer.key, writer.size


def _read_ipc(key: str, blobs: BlobStore) -> Any:
    import pyarrow as pa

    source = pa.memory_map(str(blobs.local_path(key)), "r")
    return pa.ipc.open_file(source).read_all()


class ArrowSerializer:
    name = "arrow"

    def handles(self, obj: object) -> bool:
        module = sys.modules.get("pyarrow")
        return module is not None and isinstance(obj, module.Table)

    def dump(self, obj: Any, blobs: BlobStore) -> ArtifactRef:
        key, size = _write_ipc(obj, blobs)
        return ArtifactRef(
            key, self.name, size, {"rows": obj.num_rows, "columns": obj.column_names}
        )

    def load(self, ref: ArtifactRef, blobs: BlobStore) -> Any:
        return _read_ipc(ref.key, blobs)


class PandasSerializer:
    name = "pandas"

    def handles(self, obj: object) -> bool:
        module = sys.modules.get("pandas")
        return module is not None and isinstance(obj, module.DataFrame)

    def dump(self, obj: Any, blobs: BlobStore) -> ArtifactRef:
        import pyarrow as pa

        try:
            table = pa.Table.from_pandas(obj, preserve_index=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            raise SerializerError(f"this DataFrame cannot be stored as Arrow: {exc}") from exc
        key, size = _write_ipc(table, blobs)
        return ArtifactRef(
            key, self.name, size, {"rows": len(obj), "columns": [str(c) for c in obj.columns]}
        )

    def load(self, ref: ArtifactRef, blobs: BlobStore) -> Any:
        return _read_ipc(ref.key, blobs).to_pandas()


# -- objects that describe their own state ----------------------------------------------------
def _class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _import_class(path: str) -> Any:
    module_name, _, qualname = path.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise SerializerError(f"cannot import {path} to load a stored object: {exc}") from exc
    return obj


class StateSerializer:
    """Objects exposing ``get_state() -> dict`` of arrays and JSON values, and ``from_state``."""

    name = "state"

    def handles(self, obj: object) -> bool:
        return callable(getattr(obj, "get_state", None)) and callable(
            getattr(type(obj), "from_state", None)
        )

    def dump(self, obj: Any, blobs: BlobStore) -> ArtifactRef:
        import numpy as np

        state = obj.get_state()
        arrays = {k: v for k, v in state.items() if isinstance(v, np.ndarray)}
        values = {k: v for k, v in state.items() if k not in arrays}
        if not _is_plain(values):
            bad = sorted(k for k, v in values.items() if not _is_plain(v))
            raise SerializerError(
                f"{type(obj).__name__}.get_state() returned values that are neither arrays nor "
                f"JSON values: {', '.join(bad)}"
            )
        keys, total = _dump_arrays(arrays, blobs)
        manifest = {"class": _class_path(type(obj)), "arrays": keys, "values": values}
        key, size = _dump_manifest(manifest, blobs)
        return ArtifactRef(key, self.name, total + size, {"class": manifest["class"]})

    def load(self, ref: ArtifactRef, blobs: BlobStore) -> Any:
        manifest = json.loads(blobs.get(ref.key))
        cls = _import_class(manifest["class"])
        state = dict(manifest["values"])
        state.update({name: read_array(key, blobs) for name, key in manifest["arrays"].items()})
        return cls.from_state(state)


# -- pickle -----------------------------------------------------------------------------------
def _library_versions(obj: object) -> dict[str, str]:
    from importlib import metadata as importlib_metadata

    versions: dict[str, str] = {}
    for cls in type(obj).__mro__:
        top = cls.__module__.split(".")[0]
        if top in ("builtins", "__main__") or top in versions:
            continue
        try:
            versions[top] = importlib_metadata.version(top)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions


def _python_version() -> str:
    return ".".join(map(str, sys.version_info[:3]))


class PickleSerializer:
    name = "pickle"

    def handles(self, obj: object) -> bool:
        return True

    def dump(self, obj: Any, blobs: BlobStore) -> ArtifactRef:
        try:
            data = pickle.dumps(obj, protocol=5)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise SerializerError(
                f"cannot store an object of type {type(obj).__qualname__}: it cannot be pickled "
                f"({exc}). Store its parts instead, or give it get_state()/from_state()."
            ) from exc
        meta = {
            "python": _python_version(),
            "libraries": _library_versions(obj),
            "type": _class_path(type(obj)),
        }
        return ArtifactRef(blobs.put(data), self.name, len(data), meta)

    def load(self, ref: ArtifactRef, blobs: BlobStore) -> Any:
        from importlib import metadata as importlib_metadata

        saved_python = ref.meta.get("python")
        if saved_python and saved_python.rsplit(".", 1)[0] != _python_version().rsplit(".", 1)[0]:
            warnings.warn(
                f"artifact {ref.key[:12]} was pickled by Python {saved_python}; this is "
                f"{_python_version()}",
                VersionMismatchWarning,
                stacklevel=3,
            )
        for library, saved in (ref.meta.get("libraries") or {}).items():
            try:
                current = importlib_metadata.version(library)
            except importlib_metadata.PackageNotFoundError:
                current = "not installed"
            if current != saved:
                warnings.warn(
                    f"artifact {ref.key[:12]} was pickled with {library} {saved}; this process "
                    f"has {current}",
                    VersionMismatchWarning,
                    stacklevel=3,
                )
        return pickle.loads(blobs.get(ref.key))


class MlflowModelSerializer:
    """A model folder in MLflow's format (see :mod:`limelight.store.mlflow_models`)."""

    name = "mlflow-model"

    def handles(self, obj: object) -> bool:
        from limelight.store.mlflow_models import MlflowModelFiles

        return isinstance(obj, MlflowModelFiles)

    def dump(self, obj: Any, blobs: BlobStore) -> ArtifactRef:
        from limelight.store.mlflow_models import dump_mlflow_model

        key, size = dump_mlflow_model(obj, blobs)
        return ArtifactRef(key, self.name, size, {"source": obj.source})

    def load(self, ref: ArtifactRef, blobs: BlobStore) -> Any:
        from limelight.store.mlflow_models import load_manifest

        return load_manifest(ref.key, blobs)


SERIALIZERS: dict[str, Serializer] = {
    s.name: s
    for s in (
        JsonSerializer(),
        NumpySerializer(),
        SparseSerializer(),
        ArrowSerializer(),
        PandasSerializer(),
        StateSerializer(),
        MlflowModelSerializer(),
        PickleSerializer(),
    )
}


def serializer_for(obj: object) -> Serializer:
    """The first serializer, in the table's order, that handles ``obj``."""
    for serializer in SERIALIZERS.values():
        if serializer.handles(obj):
            return serializer
    raise SerializerError(f"no serializer for {type(obj).__qualname__}")  # pragma: no cover


def dump(obj: object, blobs: BlobStore, *, serializer: str | None = None) -> ArtifactRef:
    """Store ``obj`` with its serializer (or the one named); return its reference."""
    if serializer is None:
        return serializer_for(obj).dump(obj, blobs)
    if serializer not in SERIALIZERS:
        raise SerializerError(f"unknown serializer {serializer!r}; known: {', '.join(SERIALIZERS)}")
    chosen = SERIALIZERS[serializer]
    if not chosen.handles(obj):
        raise SerializerError(f"serializer {serializer!r} cannot store a {type(obj).__qualname__}")
    return chosen.dump(obj, blobs)


def load(ref: ArtifactRef, blobs: BlobStore) -> Any:
    """Load the object behind ``ref``."""
    serializer = SERIALIZERS.get(ref.serializer)
    if serializer is None:
        raise SerializerError(
            f"artifact {ref.key} was written with serializer {ref.serializer!r}, which this "
            f"version of Limelight does not know (known: {', '.join(SERIALIZERS)}). Upgrade "
            "Limelight to read it."
        )
    return serializer.load(ref, blobs)
