"""Datasets: MovieLens in its published formats, any CSV/Parquet of interactions, downloads.

Each dataset is described by a :class:`DatasetSpec`: how its ratings file is laid out, and the
:class:`~limelight.core.data.DataSource` that says where it is found, where it is downloaded
from, its licence and usage right (MovieLens: ``research-only``), which the loaded
:class:`Interactions` carry on. Files are found at an explicit ``path``, else where
:func:`limelight.core.data.find_data` looks: ``$LIMELIGHT_DATA``, ``../shared/datasets``
beside the project, the cache (``$XDG_CACHE_HOME/limelight/datasets``).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NoReturn

import numpy as np

from limelight.core.data import (
    SOURCES,
    DataSource,
    Progress,
    default_cache_dir,
    fetch_data,
    find_data,
)
from limelight.core.errors import (
    ChecksumError,
    DatasetNotFoundError,
    InvalidInputError,
    NotFoundError,
)
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

MOVIELENS_LICENSE = SOURCES["movielens-100k"].licence


@dataclass(frozen=True)
class DatasetSpec:
    """A ratings dataset: its name, its ratings file and layout, and where it comes from.

    ``format`` is ``"ml-100k"`` (tab-separated ``u.data``), ``"ml-1m"`` (``::``-separated
    ``ratings.dat``) or ``"csv"`` (``userId,movieId,rating,timestamp`` with a header).
    """

    name: str
    ratings_file: str
    format: Literal["ml-100k", "ml-1m", "csv"]
    source: DataSource

    @property
    def license(self) -> str:
        return self.source.licence

    @property
    def usage(self) -> str:
        return self.source.usage


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec("movielens-100k", "u.data", "ml-100k", SOURCES["movielens-100k"]),
        DatasetSpec("movielens-1m", "ratings.dat", "ml-1m", SOURCES["movielens-1m"]),
        DatasetSpec("movielens-20m", "ratings.csv", "csv", SOURCES["movielens-20m"]),
        DatasetSpec("movielens-25m", "ratings.csv", "csv", SOURCES["movielens-25m"]),
        DatasetSpec("movielens-latest-small", "ratings.csv", "csv",
                    SOURCES["movielens-latest-small"]),
    )
}  # fmt: skip

_FORMATS = {
    "ml-100k": ("\t", 4, "user<TAB>item<TAB>rating<TAB>timestamp (4 integers)"),
    "ml-1m": ("::", 4, "user::item::rating::timestamp (4 integers)"),
}


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


def _ratings_file(spec: DatasetSpec, place: Path) -> Path | None:
    """The ratings file at ``place`` (a file, or a folder holding one), or None."""
    if place.is_file():
        return place
    names = [spec.ratings_file, spec.ratings_file + ".gz"]
    if spec.format == "ml-1m":
        names.append("ratings.parquet")
    return next((place / n for n in names if (place / n).is_file()), None)


def load_dataset(
    name: str | DatasetSpec,
    path: str | Path | None = None,
    *,
    cache_dir: str | Path | None = None,
    download: bool = False,
    accept_licence: bool = False,
) -> Interactions:
    """A named dataset (see :data:`DATASETS`) as :class:`Interactions` with its licence.

    ``path`` is the ratings file or its folder; otherwise the dataset is looked for where
    :func:`~limelight.core.data.find_data` looks (the error lists those places), and with
    ``download=True`` a missing dataset is downloaded into the cache (MovieLens only with
    ``accept_licence=True``, accepting the GroupLens terms). For ``movielens-1m`` a
    folder without ``ratings.dat`` but with ``ratings.parquet`` (pairs only) is read too.
    """
    spec = _spec(name)
    if path is not None:
        given = Path(path)
        places = [given, given / spec.source.folder.rsplit("/", 1)[-1]]
        for place in places:
            if (file := _ratings_file(spec, place)) is not None:
                return _read_spec_file(spec, file)
        raise NotFoundError(
            f"no {spec.name} ratings file ({spec.ratings_file}) at {given}; pass the file or "
            "the folder that holds it, or leave path out to look in the usual places"
        )
    try:
        folder = find_data(spec.source, cache_dir=cache_dir)
    except DatasetNotFoundError:
        if not download:
            raise
        folder = download_dataset(spec, cache_dir=cache_dir, accept_licence=accept_licence)
    file = _ratings_file(spec, folder)
    if file is None:  # find_data only returns folders that hold a marker file
        raise NotFoundError(f"{folder} holds no {spec.ratings_file}")
    return _read_spec_file(spec, file)


def download_dataset(
    name: str | DatasetSpec,
    *,
    cache_dir: str | Path | None = None,
    accept_licence: bool = False,
    force: bool = False,
    timeout: float = 60.0,
    progress: Progress | None = None,
) -> Path:
    """Download the dataset's official archive, verify its SHA-256, unpack it into the cache.

    Returns the unpacked folder; see :func:`limelight.core.data.fetch_data`. Nothing is kept
    when the download is cut short or its checksum does not match.
    """
    spec = _spec(name)
    return fetch_data(
        spec.source, cache_dir=cache_dir, accept_licence=accept_licence, force=force,
        timeout=timeout, progress=progress,
    )  # fmt: skip
