"""Public datasets on this machine: where each is looked for, and a verified download.

A dataset's folder is looked for, in order, under ``$LIMELIGHT_DATA``, inside an installed
package that ships it (the Open Bandit Dataset sample comes with ``obp``), in
``../shared/datasets`` beside the project, and in the user's cache
(``$XDG_CACHE_HOME/limelight/datasets``, by default ``~/.cache/limelight/datasets``). Every
place may hold the dataset in the shared layout (``movielens/ml-100k``) or flat (``ml-100k``).
When nothing is found, :class:`~limelight.core.errors.DatasetNotFoundError` lists the places
and the command that gets it: ``limelight datasets fetch NAME``.

:func:`fetch_data` downloads a dataset's official archive, checks its pinned SHA-256 and its
length, and unpacks it into the cache; a mismatch or a cut-short download leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import http.client
import importlib.util
import os
import tarfile
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from limelight.core.errors import (
    ChecksumError,
    DatasetNotFoundError,
    DownloadError,
    InvalidInputError,
    NotFoundError,
)

__all__ = [
    "BASE_URL_ENV",
    "DATA_ENV",
    "SOURCES",
    "DataSource",
    "data_roots",
    "default_cache_dir",
    "fetch_command",
    "fetch_data",
    "find_data",
    "holds_data",
    "source",
]

DATA_ENV = "LIMELIGHT_DATA"
BASE_URL_ENV = "LIMELIGHT_DATASETS_URL"  # replaces the folder part of every official URL

Progress = Callable[[int, int | None], None]  # (bytes received so far, total or None)


@dataclass(frozen=True)
class DataSource:
    """Where a public dataset lives under a data root, and where its official archive is.

    ``markers`` are files (relative to the dataset's folder), any one of which makes a folder a
    usable copy. ``member`` is the folder inside the archive that becomes the dataset's folder.
    ``package`` is ``"<package>/<folder inside it>"`` for a copy shipped in an installed package.
    """

    name: str
    folder: str
    markers: tuple[str, ...]
    url: str | None = None
    sha256: str | None = None
    member: str = ""
    licence: str = "unknown"
    usage: str = "unknown"
    terms: str = ""
    needs_acceptance: bool = False
    package: str | None = None


_ML = "https://files.grouplens.org/datasets/movielens/"
_ML_TERMS = (
    "MovieLens is published by GroupLens Research (University of Minnesota) for research use "
    "only: no redistribution and no commercial use without GroupLens's permission, and cite "
    "F. M. Harper and J. A. Konstan, 'The MovieLens Datasets: History and Context' (2015) in "
    "publications. Full terms: the README in each archive, and https://grouplens.org/datasets/movielens/"
)
_ML_LICENCE = (
    "GroupLens MovieLens terms: research use only; no redistribution or commercial use "
    "without permission; cite Harper & Konstan (2015)"
)
_OBP = (
    "https://files.pythonhosted.org/packages/5c/c8/"
    "3b511884a171091638d00a4255f11a635f33e0600094c255ec820f7a052f/obp-0.5.7.tar.gz"
)


def _movielens(name: str, folder: str, markers: tuple[str, ...], sha256: str) -> DataSource:
    return DataSource(
        name, f"movielens/{folder}", markers, _ML + f"{folder}.zip", sha256, folder,
        _ML_LICENCE, "research-only", _ML_TERMS, needs_acceptance=True,
    )  # fmt: skip


# SHA-256 of the archives as GroupLens and PyPI publish them (the MovieLens ones as pinned by
# TensorFlow Datasets' url_checksums/movielens.txt; the obp sdist's as PyPI lists it).
SOURCES: dict[str, DataSource] = {
    s.name: s
    for s in (
        _movielens("movielens-100k", "ml-100k", ("u.data",),
                   "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229"),
        _movielens("movielens-1m", "ml-1m", ("ratings.dat", "ratings.dat.gz", "ratings.parquet"),
                   "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20"),
        _movielens("movielens-20m", "ml-20m", ("ratings.csv",),
                   "96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3"),
        _movielens("movielens-25m", "ml-25m", ("ratings.csv",),
                   "8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa"),
        # The 2018-09 release that GroupLens still serves as "latest-small".
        _movielens("movielens-latest-small", "ml-latest-small", ("ratings.csv",),
                   "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436"),
        DataSource(
            "obd", "obd", ("random/all/all.csv",), _OBP,
            "3060d67fedfcfadf1e7a6f2608987f74412b5eb74d2c567edeb147595c68f2a0",
            "obp-0.5.7/obp/dataset/obd", "CC-BY-4.0", "production",
            "The Open Bandit Dataset (ZOZO, Inc.) is published under CC BY 4.0: any use, "
            "commercial too, with attribution; cite Saito et al., 'Open Bandit Dataset and "
            "Pipeline' (arXiv:2008.07146). This 10,000-row sample is taken from the Apache-2.0 "
            "obp 0.5.7 source archive on PyPI.",
            package="obp/dataset/obd",
        ),
    )
}  # fmt: skip


def source(name: str) -> DataSource:
    """The :class:`DataSource` called ``name``; an unknown name lists the known ones."""
    found = SOURCES.get(name)
    if found is None:
        raise NotFoundError(f"unknown dataset {name!r}; known: {', '.join(sorted(SOURCES))}")
    return found


def default_cache_dir() -> Path:
    """Where fetched datasets go: ``$XDG_CACHE_HOME/limelight/datasets`` or ``~/.cache/...``."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "limelight" / "datasets"


def _project_roots() -> list[Path]:
    """The project the user is in (nearest ``pyproject.toml`` above the working directory) and
    the checkout this Limelight is imported from, when it runs from one."""
    roots = []
    try:
        cwd = Path.cwd().resolve()
    except OSError:  # the working directory was removed
        cwd = None
    if cwd is not None:
        above = (p for p in (cwd, *cwd.parents) if (p / "pyproject.toml").is_file())
        roots.append(next(above, cwd))
    checkout = Path(__file__).resolve().parents[3]  # <checkout>/src/limelight/core/data.py
    if (checkout / "pyproject.toml").is_file() and (checkout / "src" / "limelight").is_dir():
        roots.append(checkout)
    return list(dict.fromkeys(roots))


def data_roots(cache_dir: str | Path | None = None) -> list[Path]:
    """The folders datasets are looked for under, in order: ``$LIMELIGHT_DATA``,
    ``../shared/datasets`` beside the project, then the cache (installed packages aside)."""
    roots = []
    env = os.environ.get(DATA_ENV)
    if env:
        roots.append(Path(env).expanduser())
    roots += [project.parent / "shared" / "datasets" for project in _project_roots()]
    roots.append(Path(cache_dir) if cache_dir is not None else default_cache_dir())
    return list(dict.fromkeys(roots))


def _package_folder(spec: DataSource) -> Path | None:
    """The copy inside an installed package, located without importing the package."""
    if spec.package is None:
        return None
    package, _, inner = spec.package.partition("/")
    try:
        found = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    return Path(next(iter(found.submodule_search_locations))) / inner


def holds_data(spec: DataSource, folder: Path) -> bool:
    """Whether ``folder`` holds a usable copy of the dataset (one of its marker files)."""
    return any((folder / marker).is_file() for marker in spec.markers)


def _places(spec: DataSource, cache_dir: str | Path | None) -> list[Path]:
    """Every folder that may hold the dataset, in the order they are tried.

    An explicit ``$LIMELIGHT_DATA`` comes first; a copy shipped in an installed package comes
    before copied files (beside the project, in the cache).
    """
    flat = spec.folder.rsplit("/", 1)[-1]
    subs = list(dict.fromkeys((spec.folder, flat)))
    roots = data_roots(cache_dir)
    explicit = roots[:1] if os.environ.get(DATA_ENV) else []
    places = [root / sub for root in explicit for sub in subs]
    package = _package_folder(spec)
    if package is not None:
        places.append(package)
    places += [root / sub for root in roots[len(explicit) :] for sub in subs]
    return list(dict.fromkeys(places))


def find_data(spec: DataSource | str, *, cache_dir: str | Path | None = None) -> Path:
    """The folder of a usable copy of the dataset, from the first place that has one.

    Raises :class:`DatasetNotFoundError` naming every place looked in and how to get it.
    """
    spec = source(spec) if isinstance(spec, str) else spec
    places = _places(spec, cache_dir)
    for place in places:
        if holds_data(spec, place):
            return place
    raise DatasetNotFoundError(
        spec.name, [str(p) for p in places], spec.folder, fetch_command(spec)
    )


def fetch_command(spec: DataSource) -> str:
    """The command that downloads the dataset (accepting its terms where it has to)."""
    accept = " --accept-licence" if spec.needs_acceptance else ""
    return f"limelight datasets fetch {spec.name}{accept}"


def _official_url(spec: DataSource, base_url: str | None) -> str:
    if spec.url is None:
        raise InvalidInputError(f"dataset {spec.name!r} has no official download URL")
    base = base_url if base_url is not None else os.environ.get(BASE_URL_ENV)
    if not base:
        return spec.url
    return base.rstrip("/") + "/" + spec.url.rsplit("/", 1)[-1]


def _download(url: str, out: Path, timeout: float, progress: Progress | None) -> str:
    """Stream ``url`` into ``out``; the SHA-256 of what arrived. A short body is an error."""
    digest = hashlib.sha256()
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, out.open("wb") as fh:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                fh.write(chunk)
                received += len(chunk)
                if progress is not None:
                    progress(received, total)
    except (OSError, http.client.HTTPException) as exc:
        raise DownloadError(f"downloading {url} failed: {exc}; nothing was kept") from exc
    if total is not None and received != total:
        raise DownloadError(
            f"downloading {url} was cut short: received {received:,} of {total:,} bytes; "
            "nothing was kept. Retry"
        )
    return digest.hexdigest()


def _unpack(archive: Path, member: str, into: Path, url: str) -> Path:
    """Unpack the entries under ``member/`` (zip or tar) into ``into``; refuse escaping paths."""
    prefix = member.rstrip("/") + "/"
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            names = [n for n in zf.namelist() if n.startswith(prefix)]
            for name in names:
                if not (into / name).resolve().is_relative_to(into.resolve()):
                    raise ChecksumError(f"{url}: archive entry {name!r} escapes its folder")
            zf.extractall(into, members=names)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            members = [m for m in tf.getmembers() if m.name.startswith(prefix)]
            try:
                tf.extractall(into, members=members, filter="data")
            except tarfile.FilterError as exc:
                raise ChecksumError(f"{url}: unsafe archive entry: {exc}") from exc
    else:
        raise ChecksumError(f"{url} is neither a zip nor a tar archive")
    folder = into / member
    if not folder.is_dir():
        raise DownloadError(f"{url} does not hold the folder {member}/")
    return folder


def fetch_data(
    spec: DataSource | str,
    *,
    cache_dir: str | Path | None = None,
    base_url: str | None = None,
    accept_licence: bool = False,
    force: bool = False,
    timeout: float = 60.0,
    progress: Progress | None = None,
) -> Path:
    """Download the dataset's official archive, check it, and unpack it into the cache.

    A dataset whose terms must be accepted (MovieLens) is only downloaded with
    ``accept_licence=True``: whoever passes it has read ``spec.terms`` and accepts them.

    The archive must have the pinned SHA-256 and the length the server announced; the files
    are unpacked next to their destination and renamed into place only when all is well, so a
    refused download leaves nothing behind. A copy already in the cache is kept unless
    ``force``. ``base_url`` (or ``$LIMELIGHT_DATASETS_URL``) replaces the official folder, for
    a mirror. Returns the dataset's folder.
    """
    spec = source(spec) if isinstance(spec, str) else spec
    url = _official_url(spec, base_url)
    if spec.needs_acceptance and not accept_licence:
        raise InvalidInputError(
            f"{spec.name} is only downloaded by someone who accepts its terms: {spec.terms}. "
            "Pass accept_licence=True (or --accept-licence) to accept them; nothing was downloaded"
        )
    if spec.sha256 is None:
        raise InvalidInputError(f"dataset {spec.name!r} has no pinned SHA-256 to verify")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache / spec.folder
    if holds_data(spec, target) and not force:
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".fetch-") as tmp:  # same file system
        archive = Path(tmp) / "archive"
        digest = _download(url, archive, timeout, progress)
        if digest != spec.sha256:
            raise ChecksumError(
                f"{url}: SHA-256 {digest} does not match the pinned {spec.sha256}; the download "
                "was discarded. Retry, or check the source"
            )
        unpacked = _unpack(archive, spec.member, Path(tmp) / "unpacked", url)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            target.rename(Path(tmp) / "previous")  # removed with the temporary folder
        unpacked.rename(target)
    return target
