"""Datasets: MovieLens in its published formats, any CSV/Parquet of interactions, downloads.

Each dataset is described by a :class:`DatasetSpec` that carries its licence and usage right
(MovieLens: ``research-only``), and the loaded :class:`Interactions` carry them on. Files are
found, in order: at an explicit ``path``, under ``$LIMELIGHT_DATA``, in the download cache
(``$XDG_CACHE_HOME/limelight/datasets`` or ``~/.cache/limelight/datasets``).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NoReturn

import numpy as np

from limelight.core.errors import InvalidInputError, LimelightError, NotFoundError
from limelight.recsys._interactions import Interactions, as_id_array

__all__ = [
    "DATASETS",
    "ChecksumError",
    "DatasetSpec",
    "default_cache_dir",
    "download_dataset",
    "load_dataset",
    "load_interactions",
    "read_movielens",
]

MOVIELENS_LICENSE = (
    "GroupLens MovieLens terms: research use only; no redistribution or commercial use "
    "without permission; cite Harper & Konstan (2015)"
)
_ML = "https://files.grouplens.org/datasets/movielens/"


class ChecksumError(LimelightError):
    """A downloaded archive whose checksum is not the published one."""


@dataclass(frozen=True)
class DatasetSpec:
    """Where a dataset comes from, how its ratings file is laid out and what it may be used for.

    ``format`` is ``"ml-100k"`` (tab-separated ``u.data``), ``"ml-1m"`` (``::``-separated
    ``ratings.dat``) or ``"csv"`` (``userId,movieId,rating,timestamp`` with a header).
    """

    name: str
    folder: str  # the folder the archive unpacks to, and the folder looked for on disk
    ratings_file: str
    format: Literal["ml-100k", "ml-1m", "csv"]
    url: str | None = None
    md5: str | None = None
    license: str = "unknown"
    usage: str = "unknown"


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec("movielens-100k", "ml-100k", "u.data", "ml-100k", _ML + "ml-100k.zip",
                    "0e33842e24a9c977be4e0107933c0723", MOVIELENS_LICENSE, "research-only"),
        DatasetSpec("movielens-1m", "ml-1m", "ratings.dat", "ml-1m", _ML + "ml-1m.zip",
                    "c4d9eecfca2ab87c1945afe126590906", MOVIELENS_LICENSE, "research-only"),
        DatasetSpec("movielens-20m", "ml-20m", "ratings.csv", "csv", _ML + "ml-20m.zip",
                    "cd245b17a1ae2cc31bb14903e1204af3", MOVIELENS_LICENSE, "research-only"),
        DatasetSpec("movielens-25m", "ml-25m", "ratings.csv", "csv", _ML + "ml-25m.zip",
                    "6b51fb2759a8657d3bfcbfc42b592ada", MOVIELENS_LICENSE, "research-only"),
        # The "latest" archives change over time, so they have no fixed checksum.
        DatasetSpec("movielens-latest-small", "ml-latest-small", "ratings.csv", "csv",
                    _ML + "ml-latest-small.zip", None, MOVIELENS_LICENSE, "research-only"),
    )
}  # fmt: skip

_FORMATS = {
    "ml-100k": ("\t", 4, "user<TAB>item<TAB>rating<TAB>timestamp (4 integers)"),
    "ml-1m": ("::", 4, "user::item::rating::timestamp (4 integers)"),
}


def default_cache_dir() -> Path:
    """Where downloads are kept: ``$XDG_CACHE_HOME/limelight/datasets`` or ``~/.cache/...``."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "limelight" / "datasets"


def _spec(name: str | DatasetSpec) -> DatasetSpec:
    if isinstance(name, DatasetSpec):
        return name
    spec = DATASETS.get(name)
    if spec is None:
        raise NotFoundError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}")
    return spec


# -- reading files --------------------------------------------------------------------------


def _open_text(path: Path) -> Any:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="latin-1")
    return path.open("r", encoding="latin-1")


def read_movielens(
    path: str | Path,
    format: Literal["ml-100k", "ml-1m"],
    *,
    name: str = "movielens",
    license: str = MOVIELENS_LICENSE,
    usage: str = "research-only",
) -> Interactions:
    """Read ``u.data`` (``format="ml-100k"``) or ``ratings.dat`` (``"ml-1m"``, ``.gz`` too).

    A malformed line is an error that names the file, the line and the expected layout.
    """
    path = Path(path)
    if format not in _FORMATS:
        raise InvalidInputError(f"format must be 'ml-100k' or 'ml-1m', got {format!r}")
    sep, width, expected = _FORMATS[format]
    if not path.is_file():
        raise NotFoundError(f"{path} does not exist; expected a MovieLens {format} ratings file")
    with _open_text(path) as fh:
        text = fh.read()
    lines = [line for line in text.splitlines() if line.strip()]
    if any(line.count(sep) != width - 1 for line in lines):
        _raise_bad_line(path, text, sep, width, expected)
    try:
        values = np.array(" ".join(lines).replace(sep, " ").split(), dtype=np.int64)
    except ValueError:
        _raise_bad_line(path, text, sep, width, expected)
    if len(values) != width * len(lines):
        _raise_bad_line(path, text, sep, width, expected)
    table = values.reshape(-1, width)
    if len(table) == 0:
        raise InvalidInputError(f"{path} is empty: expected lines of {expected}")
    return Interactions.from_arrays(
        table[:, 0], table[:, 1], table[:, 2].astype(np.float32), table[:, 3],
        name=name, license=license, usage=usage,
    )  # fmt: skip


def _raise_bad_line(path: Path, text: str, sep: str, width: int, expected: str) -> NoReturn:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.strip().split(sep)
        ok = len(fields) == width and all(f.strip().lstrip("-").isdigit() for f in fields)
        if not ok:
            raise InvalidInputError(
                f"{path}, line {number}: expected {expected}, got {line[:80]!r}"
            )
    raise InvalidInputError(f"{path}: expected lines of {expected}")


def load_interactions(
    path: str | Path,
    *,
    user: str = "user",
    item: str = "item",
    rating: str | None = None,
    timestamp: str | None = None,
    sep: str = ",",
    names: list[str] | None = None,
    id_type: Literal["auto", "int", "str"] = "auto",
    name: str | None = None,
    license: str = "unknown",
    usage: str = "unknown",
) -> Interactions:
    """Interactions from a CSV or Parquet file, given which column is which.

    A CSV without a header row takes its column ``names``; ``id_type="int"`` turns string
    ids such as ``"1193"`` into integers.
    """
    import pyarrow as pa

    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"{path} does not exist")
    columns = [c for c in (user, item, rating, timestamp) if c is not None]
    suffixes = [s.lower() for s in path.suffixes]
    try:
        if ".parquet" in suffixes or ".pq" in suffixes:
            import pyarrow.parquet as pq

            schema = pq.read_schema(path)
            _check_columns(path, columns, schema.names)
            table = pq.read_table(path, columns=columns)
        else:
            import pyarrow.csv as pcsv

            table = pcsv.read_csv(
                path,
                read_options=pcsv.ReadOptions(column_names=names),
                parse_options=pcsv.ParseOptions(delimiter=sep),
            )
            _check_columns(path, columns, table.column_names)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInputError(
            f"{path} is not a readable {'Parquet' if '.parquet' in suffixes else 'CSV'} file "
            f"of interactions with columns {columns}: {exc}"
        ) from exc
    if table.num_rows == 0:
        raise InvalidInputError(f"{path} has no rows: the dataset is empty")

    def ids(col: str) -> np.ndarray:
        column = table[col]
        if column.null_count:
            raise InvalidInputError(f"{path}: column {col!r} has {column.null_count} empty values")
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            if id_type == "int":
                import pyarrow.compute as pc

                try:
                    return np.asarray(pc.cast(column, pa.int64()).to_numpy(), dtype=np.int64)
                except pa.ArrowInvalid as exc:
                    raise InvalidInputError(
                        f"{path}: column {col!r} holds ids that are not integers ({exc}); "
                        "use id_type='str'"
                    ) from exc
            return column.to_numpy(zero_copy_only=False).astype(str)
        arr = as_id_array(column.to_numpy(zero_copy_only=False), f"{path}: column {col!r}")
        return arr.astype(str) if id_type == "str" else arr

    def numbers(col: str | None, kind: str) -> np.ndarray | None:
        if col is None:
            return None
        try:
            return np.asarray(table[col].to_numpy(zero_copy_only=False), dtype=kind)
        except (ValueError, TypeError) as exc:
            raise InvalidInputError(f"{path}: column {col!r} is not numeric: {exc}") from exc

    return Interactions.from_arrays(
        ids(user), ids(item), numbers(rating, "float32"), numbers(timestamp, "int64"),
        name=name or path.stem, license=license, usage=usage,
    )  # fmt: skip


def _check_columns(path: Path, wanted: list[str], present: list[str]) -> None:
    missing = [c for c in wanted if c not in present]
    if missing:
        raise InvalidInputError(
            f"{path} has no column(s) {missing}; it has {present}. Pass user=, item=, "
            "rating=, timestamp= with its column names"
        )


# -- finding, downloading and loading named datasets ----------------------------------------


def _candidates(spec: DatasetSpec, path: str | Path | None, cache_dir: Path | None) -> list[Path]:
    if path is not None:
        p = Path(path)
        return [p] if p.is_file() else [p, p / spec.folder]
    found = []
    data_root = os.environ.get("LIMELIGHT_DATA")
    if data_root:
        root = Path(data_root)
        found += [root / spec.folder, root / "movielens" / spec.folder]
    found.append((cache_dir or default_cache_dir()) / spec.folder)
    return found


def _read_spec_file(spec: DatasetSpec, file: Path) -> Interactions:
    meta: dict[str, Any] = {"name": spec.name, "license": spec.license, "usage": spec.usage}
    if file.suffix == ".parquet":
        # Some ml-1m copies ship only (userID, movieID) pairs as strings in Parquet.
        return load_interactions(file, user="userID", item="movieID", id_type="int", **meta)
    if spec.format == "csv":
        return load_interactions(
            file, user="userId", item="movieId", rating="rating", timestamp="timestamp", **meta
        )
    return read_movielens(file, spec.format, name=spec.name, license=spec.license, usage=spec.usage)


def load_dataset(
    name: str | DatasetSpec,
    path: str | Path | None = None,
    *,
    cache_dir: str | Path | None = None,
    download: bool = False,
) -> Interactions:
    """A named dataset (see :data:`DATASETS`) as :class:`Interactions` with its licence.

    ``path`` is the ratings file or its folder; otherwise ``$LIMELIGHT_DATA`` and then the
    cache are searched, and with ``download=True`` a missing dataset is downloaded. For
    ``movielens-1m`` a folder without ``ratings.dat`` but with ``ratings.parquet`` (pairs
    only) is read too.
    """
    spec = _spec(name)
    cache = Path(cache_dir) if cache_dir is not None else None
    names = [spec.ratings_file, spec.ratings_file + ".gz"]
    if spec.format == "ml-1m":
        names.append("ratings.parquet")
    looked: list[str] = []
    for place in _candidates(spec, path, cache):
        if place.is_file():
            return _read_spec_file(spec, place)
        for file_name in names:
            looked.append(str(place / file_name))
            if (place / file_name).is_file():
                return _read_spec_file(spec, place / file_name)
    if download and path is None:
        folder = download_dataset(spec, cache_dir=cache)
        return _read_spec_file(spec, folder / spec.ratings_file)
    raise NotFoundError(
        f"dataset {spec.name!r} not found; looked for {', '.join(looked)}. Pass path=, set "
        f"LIMELIGHT_DATA, or download it (download=True or `limelight datasets download "
        f"{spec.name}`)"
    )


def download_dataset(
    name: str | DatasetSpec,
    *,
    cache_dir: str | Path | None = None,
    force: bool = False,
    timeout: float = 60.0,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Download the dataset's official archive, verify its MD5, unpack it into the cache.

    Returns the unpacked folder. Nothing is kept when the checksum does not match.
    """
    spec = _spec(name)
    if spec.url is None:
        raise InvalidInputError(f"dataset {spec.name!r} has no download URL")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache / spec.folder
    if target.is_dir() and not force:
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".download-") as tmp:
        archive = Path(tmp) / "archive.zip"
        digest = hashlib.md5(usedforsecurity=False)
        try:
            with (
                urllib.request.urlopen(spec.url, timeout=timeout) as response,
                archive.open("wb") as out,
            ):
                while chunk := response.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
                    if progress is not None:
                        progress(len(chunk))
        except OSError as exc:
            raise LimelightError(f"downloading {spec.url} failed: {exc}") from exc
        if spec.md5 is not None and digest.hexdigest() != spec.md5:
            raise ChecksumError(
                f"{spec.url}: MD5 {digest.hexdigest()} does not match the published "
                f"{spec.md5}; the download was discarded. Retry, or check the source"
            )
        unpacked = Path(tmp) / "unpacked"
        try:
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():
                    dest = (unpacked / member).resolve()
                    if not dest.is_relative_to(unpacked.resolve()):
                        raise ChecksumError(f"{spec.url}: archive entry {member!r} escapes")
                zf.extractall(unpacked)
        except zipfile.BadZipFile as exc:
            raise ChecksumError(f"{spec.url} is not a zip archive: {exc}") from exc
        source = unpacked / spec.folder
        if not source.is_dir():
            raise InvalidInputError(f"{spec.url} does not hold the folder {spec.folder}/")
        if target.exists():
            shutil.rmtree(target)
        source.rename(target)
    return target
