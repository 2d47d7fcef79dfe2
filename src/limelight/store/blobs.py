"""Content-addressed blobs over fsspec.

A blob's key is the BLAKE3 hash of its bytes, so the same bytes are stored once. Writes go to a
temporary file and are renamed into place (atomic on a local disk); remote filesystems such as
S3 publish an object in one put. Reads check the bytes against the key and raise
:class:`CorruptBlobError` naming the key when they differ.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import fsspec

from limelight.core.errors import BlobNotFoundError, ConfigError, CorruptBlobError, StorageError
from limelight.core.hashing import Hasher, hash_bytes

__all__ = ["BlobStore", "BlobWriter"]

_CHUNK = 1 << 24  # 16 MiB


def _check_key(key: str) -> str:
    if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
        raise BlobNotFoundError(f"{key!r} is not a blob key (64 hex digits)")
    return key


class BlobWriter:
    """Streams bytes into a temporary file while hashing them; :meth:`commit` publishes the blob."""

    def __init__(self, store: BlobStore) -> None:
        self._store = store
        self._hasher = Hasher()
        self._size = 0
        tmp_dir = store._tmp_dir()
        fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="blob-")
        self._path = Path(name)
        self._file: IO[bytes] = os.fdopen(fd, "wb", buffering=0)
        self.key: str | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B") if not isinstance(data, bytes) else memoryview(data)
        self._hasher.update(view)
        # unbuffered writes of large views avoid an extra copy in the io layer
        offset = 0
        while offset < len(view):
            written = self._file.write(view[offset : offset + _CHUNK])
            offset += written or 0
        self._size += len(view)

    # the file protocol, so that writers such as Arrow's IPC stream straight into the blob
    closed = False

    def flush(self) -> None:
        return None

    def writable(self) -> bool:
        return True

    def commit(self) -> str:
        self._file.close()
        key = self._hasher.hexdigest()
        self._store._publish(self._path, key)
        self.key = key
        return key

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        self._path.unlink(missing_ok=True)

    @property
    def size(self) -> int:
        return self._size


class BlobStore:
    """Blobs under ``url`` (a local path or any fsspec URL), laid out as ``blobs/ab/abcdef...``."""

    def __init__(
        self, url: str | os.PathLike[str], *, cache_dir: str | os.PathLike[str] | None = None
    ):
        self.url = os.fspath(url)
        fs, root = fsspec.core.url_to_fs(self.url)
        self.fs: Any = fs
        self.root: str = root.rstrip("/")
        self.is_local = "file" in (
            fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
        )
        self._cache_dir = Path(cache_dir) if cache_dir else None
        self._verified: set[tuple[str, int, float]] = set()
        self._lock = threading.Lock()

    # -- layout ---------------------------------------------------------------------------------
    def _path(self, key: str) -> str:
        return f"{self.root}/blobs/{key[:2]}/{key}"

    def _tmp_dir(self) -> str:
        if self.is_local:
            tmp = Path(self.root) / "tmp"
        else:
            tmp = (self._cache_dir or Path(tempfile.gettempdir()) / "limelight-blobs") / "tmp"
        try:
            tmp.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot create the artifact folder {tmp}: {exc.strerror}. Point LIMELIGHT_HOME or "
                "LIMELIGHT_ARTIFACTS at a folder you can write to."
            ) from exc
        return str(tmp)

    def _publish(self, tmp_path: Path, key: str) -> None:
        final = self._path(key)
        try:
            if self.is_local:
                Path(final).parent.mkdir(parents=True, exist_ok=True)
                if os.path.exists(final):
                    tmp_path.unlink()  # same content already stored
                else:
                    os.replace(tmp_path, final)
            else:
                if not self.fs.exists(final):
                    self.fs.put_file(str(tmp_path), final)
                tmp_path.unlink()
        except OSError as exc:
            tmp_path.unlink(missing_ok=True)
            raise StorageError(f"could not store blob {key} under {self.url}: {exc}") from exc

    # -- writing --------------------------------------------------------------------------------
    @contextmanager
    def writer(self) -> Iterator[BlobWriter]:
        """Write a blob in pieces: ``with store.writer() as w: w.write(...)``; ``w.key`` after."""
        writer = BlobWriter(self)
        try:
            yield writer
        except BaseException:
            writer.abort()
            raise
        writer.commit()

    def put(self, data: bytes | bytearray | memoryview) -> str:
        """Store ``data``; return its key."""
        with self.writer() as w:
            w.write(data)
        assert w.key is not None
        return w.key

    # -- reading --------------------------------------------------------------------------------
    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self._path(_check_key(key))))

    def size(self, key: str) -> int:
        try:
            return int(self.fs.size(self._path(_check_key(key))))
        except FileNotFoundError as exc:
            raise self._missing(key) from exc

    def _missing(self, key: str) -> BlobNotFoundError:
        return BlobNotFoundError(
            f"blob {key} is not in the artifact store at {self.url}; it was deleted or the store "
            "points elsewhere (check LIMELIGHT_ARTIFACTS)"
        )

    def _corrupt(self, key: str, actual: str) -> CorruptBlobError:
        return CorruptBlobError(
            f"blob {key} in {self.url} is corrupted: its content hashes to {actual}. "
            "Delete the blob and re-run the step that wrote it."
        )

    def get(self, key: str, *, verify: bool = True) -> bytes:
        """The bytes of blob ``key``, checked against the key."""
        try:
            data: bytes = self.fs.cat_file(self._path(_check_key(key)))
        except FileNotFoundError as exc:
            raise self._missing(key) from exc
        if verify:
            actual = hash_bytes(data)
            if actual != key:
                raise self._corrupt(key, actual)
        return data

    def local_path(self, key: str, *, verify: bool = True) -> Path:
        """A local file holding blob ``key`` (the blob itself on a local store; a cached copy else).

        The file is checked against the key once per process and file version.
        """
        _check_key(key)
        if self.is_local:
            path = Path(self._path(key))
            if not path.exists():
                raise self._missing(key)
        else:
            cache = (self._cache_dir or Path(tempfile.gettempdir()) / "limelight-blobs") / "cache"
            path = cache / key[:2] / key
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                try:
                    self.fs.get_file(self._path(key), str(tmp))
                except FileNotFoundError as exc:
                    raise self._missing(key) from exc
                os.replace(tmp, path)
        if verify:
            self._verify_file(key, path)
        return path

    def _verify_file(self, key: str, path: Path) -> None:
        stat = path.stat()
        stamp = (key, stat.st_size, stat.st_mtime)
        if stamp in self._verified:
            return
        hasher = Hasher()
        hasher.update_file(str(path))
        actual = hasher.hexdigest()
        if actual != key:
            raise self._corrupt(key, actual)
        with self._lock:
            self._verified.add(stamp)

    def delete(self, key: str) -> None:
        """Remove blob ``key`` (used by retention; a missing blob is not an error)."""
        path = self._path(_check_key(key))
        if self.is_local:
            Path(path).unlink(missing_ok=True)
        elif self.fs.exists(path):
            self.fs.rm_file(path)

    def copy_to(self, key: str, destination: str | os.PathLike[str]) -> None:
        """Copy blob ``key`` to a local file."""
        shutil.copyfile(self.local_path(key), destination)
