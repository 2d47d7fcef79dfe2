import json
import mmap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import scipy.sparse as sp

from limelight.core.errors import BlobNotFoundError, ConfigError, CorruptBlobError, SerializerError
from limelight.store import ArtifactRef, ArtifactStore, VersionMismatchWarning


def memory_mapped(array: np.ndarray) -> bool:
    """True when ``array`` reads its values from a file mapping (through any chain of views)."""
    base: object = array
    while base is not None:
        if isinstance(base, np.memmap | mmap.mmap):
            return True
        base = getattr(base, "base", None)
    return False


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "artifacts")


def blob_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "blobs").rglob("*") if p.is_file())


def test_same_content_is_stored_once(store: ArtifactStore, tmp_path: Path) -> None:
    a = np.arange(1000, dtype=np.float32)
    first, second = store.save(a), store.save(a.copy())
    assert first.key == second.key
    assert len(blob_files(tmp_path / "artifacts")) == 1
    assert not list((tmp_path / "artifacts" / "tmp").iterdir()), "temp files left behind"


def test_arrays_load_memory_mapped_without_pickle(store: ArtifactStore) -> None:
    a = np.random.default_rng(0).random((300, 7)).astype(np.float32)
    loaded = store.load(store.save(a))
    assert memory_mapped(loaded)
    np.testing.assert_array_equal(loaded, a)
    loaded[0, 0] = -1  # copy-on-write: the caller may change its copy...
    np.testing.assert_array_equal(store.load(store.save(a)), a)  # ...the blob stays


@pytest.mark.parametrize(
    "array",
    [
        np.asfortranarray(np.arange(12).reshape(3, 4)),
        np.arange(20)[::3],
        np.zeros((0, 3)),
        np.array([(1, 2.5, b"ab")], dtype=[("a", "i4"), ("b", "f8"), ("c", "S2")]),
        np.rec.fromrecords([(1, "x")], names="n,s"),
        np.array(["2024-01-01"], dtype="datetime64[D]"),
    ],
    ids=["fortran", "strided", "empty", "structured", "recarray", "datetime"],
)
def test_array_kinds_round_trip(store: ArtifactStore, array: np.ndarray) -> None:
    ref = store.save(array)
    assert ref.serializer == "npy"
    loaded = store.load(ref)
    assert type(loaded) is type(array)
    assert loaded.dtype == array.dtype
    np.testing.assert_array_equal(loaded, array)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "lil", "dok"])
@pytest.mark.parametrize("kind", ["matrix", "array"])
def test_sparse_round_trips_in_its_format(store: ArtifactStore, fmt: str, kind: str) -> None:
    dense = sp.random(40, 30, density=0.1, format="csr", random_state=1)
    obj = getattr(sp, f"{fmt}_{kind}")(dense)
    ref = store.save(obj)
    assert ref.serializer == "sparse"
    loaded = store.load(ref)
    assert type(loaded) is type(obj)
    np.testing.assert_array_equal(loaded.toarray(), obj.toarray())


def test_arrow_and_pandas(store: ArtifactStore) -> None:
    table = pa.table({"user": ["a", "b"], "score": [0.5, 1.5], "items": [[1, 2], []]})
    ref = store.save(table)
    assert ref.serializer == "arrow"
    assert store.load(ref).equals(table)
    frame = pd.DataFrame({"x": [1, 2, 3], "y": ["u", "v", "w"]}, index=[10, 20, 30])
    ref = store.save(frame)
    assert ref.serializer == "pandas"
    pd.testing.assert_frame_equal(store.load(ref), frame)


def test_plain_values_are_json_and_round_trip_exactly(store: ArtifactStore) -> None:
    value = {"a": [1, 2.5, None, True, "s"], "nan": float("nan")}
    ref = store.save(value)
    assert ref.serializer == "json"
    loaded = store.load(ref)
    assert loaded["a"] == value["a"] and np.isnan(loaded["nan"])
    assert store.save((1, 2)).serializer == "pickle"  # a tuple would come back a list in JSON
    assert store.load(store.save((1, 2))) == (1, 2)


class WithState:
    def __init__(self, weights: np.ndarray, name: str) -> None:
        self.weights, self.name = weights, name

    def get_state(self) -> dict[str, object]:
        return {"weights": self.weights, "name": self.name}

    @classmethod
    def from_state(cls, state: dict[str, object]) -> "WithState":
        return cls(state["weights"], state["name"])  # type: ignore[arg-type]


def test_objects_with_state_store_their_arrays_mapped(store: ArtifactStore) -> None:
    obj = WithState(np.ones((5, 2), dtype=np.float32), "ease")
    ref = store.save(obj)
    assert ref.serializer == "state"
    loaded = store.load(ref)
    assert isinstance(loaded, WithState) and loaded.name == "ease"
    assert memory_mapped(loaded.weights)


def test_unpicklable_object_is_a_clear_error(store: ArtifactStore) -> None:
    with pytest.raises(SerializerError, match="cannot be pickled"):
        store.save(lambda x: x)


def test_pickle_records_versions_and_warns_when_they_differ(store: ArtifactStore) -> None:
    ref = store.save(pd.Series([1, 2]))
    assert ref.serializer == "pickle"
    assert ref.meta["libraries"]["pandas"] == pd.__version__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        store.load(ref)  # same versions: silent
    older = ArtifactRef(ref.key, "pickle", ref.size, {**ref.meta, "libraries": {"pandas": "0.1"}})
    with pytest.warns(VersionMismatchWarning, match="pandas 0.1"):
        store.load(older)


def test_unknown_serializer(store: ArtifactStore) -> None:
    ref = store.save([1])
    with pytest.raises(SerializerError, match=r"serializer 'parquet9'.*does not know"):
        store.load(ArtifactRef(ref.key, "parquet9", ref.size))
    with pytest.raises(SerializerError, match="unknown serializer 'zip'"):
        store.save([1], serializer="zip")


def test_missing_blob_names_the_key(store: ArtifactStore) -> None:
    key = "0" * 64
    with pytest.raises(BlobNotFoundError, match=f"blob {key} is not in the artifact store"):
        store.load(ArtifactRef(key, "npy", 0))
    with pytest.raises(BlobNotFoundError, match="not a blob key"):
        store.load(ArtifactRef("../../etc/passwd", "json", 0))


@pytest.mark.parametrize("obj", [np.arange(100.0), {"a": 1}, (1, 2)], ids=["npy", "json", "pickle"])
def test_corrupted_blob_is_never_returned(
    store: ArtifactStore, tmp_path: Path, obj: object
) -> None:
    ref = store.save(obj)
    path = tmp_path / "artifacts" / "blobs" / ref.key[:2] / ref.key
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptBlobError, match=f"blob {ref.key} .* is corrupted"):
        ArtifactStore(tmp_path / "artifacts").load(ref)


def test_unwritable_folder_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")  # even root cannot make a folder inside a file
    with pytest.raises(ConfigError, match="cannot create the artifact folder"):
        ArtifactStore(blocker / "artifacts").save([1])


def test_any_fsspec_url_works(tmp_path: Path) -> None:
    store = ArtifactStore("memory://limelight-test")
    a = np.arange(10)
    ref = store.save(a)
    np.testing.assert_array_equal(store.load(ref), a)
    assert json.loads(json.dumps(ref.to_json())) == ref.to_json()
    assert ArtifactRef.from_json(ref.to_json()) == ref
