"""Where public datasets are looked for, and fetching them from a local HTTP server."""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
import zipfile
from pathlib import Path

import pytest
from tests.conftest import ArchiveServer, find_dataset

from limelight.core import data
from limelight.core.data import DataSource, fetch_data, find_data, holds_data
from limelight.core.errors import (
    ChecksumError,
    DatasetNotFoundError,
    DownloadError,
    InvalidInputError,
    NotFoundError,
)

TOY = DataSource("toy", "toys/toy", ("a.csv",), package="toypkg/data")


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No $LIMELIGHT_DATA, a cache under tmp_path, and a project at tmp_path/project whose
    ../shared/datasets is tmp_path/shared/datasets (the checkout's own ../shared aside)."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text("")
    monkeypatch.chdir(project)
    monkeypatch.delenv("LIMELIGHT_DATA", raising=False)
    monkeypatch.delenv("LIMELIGHT_DATASETS_URL", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(data, "_project_roots", lambda: [project])
    return tmp_path


def _put(folder: Path, text: str = "x") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.csv").write_text(text)
    return folder


def test_lookup_order_env_then_package_then_shared_then_cache(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = _put(isolated / "xdg" / "limelight" / "datasets" / "toys" / "toy")
    assert find_data(TOY) == cache
    shared = _put(isolated / "shared" / "datasets" / "toys" / "toy")
    assert find_data(TOY) == shared
    package = _put(isolated / "site" / "toypkg" / "data")
    # importing the package would fail: it is located, never imported
    (package.parent / "__init__.py").write_text("raise RuntimeError('imported')\n")
    monkeypatch.syspath_prepend(str(isolated / "site"))
    assert find_data(TOY) == package
    flat = _put(isolated / "mine" / "toy")  # $LIMELIGHT_DATA may hold it flat
    monkeypatch.setenv("LIMELIGHT_DATA", str(isolated / "mine"))
    assert find_data(TOY) == flat


def test_a_removed_working_directory_is_no_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = _put(tmp_path / "mine" / "toys" / "toy")
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    monkeypatch.setenv("LIMELIGHT_DATA", str(tmp_path / "mine"))
    assert find_data(TOY) == mine


def test_a_folder_without_the_marker_file_does_not_count(isolated: Path) -> None:
    (isolated / "shared" / "datasets" / "toys" / "toy").mkdir(parents=True)
    assert not holds_data(TOY, isolated / "shared" / "datasets" / "toys" / "toy")
    with pytest.raises(DatasetNotFoundError):
        find_data(TOY)


def test_not_found_names_the_dataset_every_place_and_the_command(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIMELIGHT_DATA", str(isolated / "mine"))
    with pytest.raises(DatasetNotFoundError) as caught:
        find_data(TOY)
    message = str(caught.value)
    assert "dataset 'toy' is not on this machine" in message
    assert "`limelight datasets fetch toy`" in message and "toys/toy/" in message
    for place in (
        isolated / "mine" / "toys" / "toy",
        isolated / "shared" / "datasets" / "toys" / "toy",
        isolated / "xdg" / "limelight" / "datasets" / "toys" / "toy",
    ):
        assert str(place) in caught.value.looked and str(place) in message
    assert caught.value.dataset == "toy"
    # it crosses process boundaries (a flow's worker) intact
    assert str(pickle.loads(pickle.dumps(caught.value))) == message
    with pytest.raises(DatasetNotFoundError, match="fetch movielens-1m --accept-licence`"):
        find_data("movielens-1m", cache_dir=isolated / "empty")
    with pytest.raises(NotFoundError, match=r"unknown dataset 'nope'; known: .*movielens-100k"):
        find_data("nope")


def test_the_test_fixture_skips_with_the_reason_and_fails_when_data_is_required(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(data.SOURCES, "toy", TOY)
    monkeypatch.delenv("LIMELIGHT_REQUIRE_DATA", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"'toy'.*looked in.*datasets fetch toy"):
        find_dataset("toy")
    monkeypatch.setenv("LIMELIGHT_REQUIRE_DATA", "1")
    with pytest.raises(pytest.fail.Exception, match=r"LIMELIGHT_REQUIRE_DATA=1.*fails"):
        find_dataset("toy")
    shared = _put(isolated / "shared" / "datasets" / "toys" / "toy")
    assert find_dataset("toy") == shared


def _zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buf.getvalue()


def _tar(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, text in files.items():
            raw = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tf.addfile(info, io.BytesIO(raw))
    return buf.getvalue()


def _source(server: ArchiveServer, path: str, body: bytes, member: str = "toy") -> DataSource:
    server.files[path] = body
    return DataSource(
        "toy", "toys/toy", ("a.csv",), "https://example.invalid/official" + path,
        hashlib.sha256(body).hexdigest(), member,
    )  # fmt: skip


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_fetch_verifies_unpacks_and_keeps_what_is_there(
    archive_server: ArchiveServer, tmp_path: Path
) -> None:
    body = _zip({"toy/a.csv": "1,2\n", "other/b": "no"})
    spec = _source(archive_server, "/toy.zip", body)
    seen: list[tuple[int, int | None]] = []
    folder = fetch_data(
        spec, cache_dir=tmp_path, base_url=archive_server.url,
        progress=lambda received, total: seen.append((received, total)),
    )  # fmt: skip
    assert seen and seen[-1] == (len(body), len(body))
    assert folder == tmp_path / "toys" / "toy"
    assert (folder / "a.csv").read_text() == "1,2\n"
    assert _files(tmp_path) == ["toys/toy/a.csv"]  # only the member, no temporary files
    assert fetch_data(spec, cache_dir=tmp_path, base_url=archive_server.url) == folder
    assert archive_server.requests == ["/toy.zip"]  # already there: not downloaded again


def test_fetch_unpacks_a_nested_folder_of_a_tar_archive(
    archive_server: ArchiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = _tar({"pkg-1.0/pkg/data/a.csv": "x", "pkg-1.0/setup.py": ""})
    spec = _source(archive_server, "/pkg-1.0.tar.gz", body, member="pkg-1.0/pkg/data")
    monkeypatch.setenv("LIMELIGHT_DATASETS_URL", archive_server.url + "/")
    folder = fetch_data(spec, cache_dir=tmp_path)
    assert _files(tmp_path) == ["toys/toy/a.csv"] and folder == tmp_path / "toys" / "toy"


def test_a_wrong_checksum_is_refused_and_nothing_is_kept(
    archive_server: ArchiveServer, tmp_path: Path
) -> None:
    spec = _source(archive_server, "/toy.zip", _zip({"toy/a.csv": "1"}))
    archive_server.files["/toy.zip"] = _zip({"toy/a.csv": "tampered"})
    with pytest.raises(ChecksumError, match=r"SHA-256 [0-9a-f]{64} does not match the pinned"):
        fetch_data(spec, cache_dir=tmp_path, base_url=archive_server.url)
    assert list(tmp_path.iterdir()) == []  # not even an empty folder


def test_a_truncated_download_is_refused_and_nothing_is_kept(
    archive_server: ArchiveServer, tmp_path: Path
) -> None:
    body = _zip({"toy/a.csv": "1"})
    spec = _source(archive_server, "/toy.zip", body)
    archive_server.truncated.add("/toy.zip")
    with pytest.raises(DownloadError, match=rf"cut short: received {len(body)} of {2 * len(body)}"):
        fetch_data(spec, cache_dir=tmp_path, base_url=archive_server.url)
    assert list(tmp_path.iterdir()) == []  # not even an empty folder


def test_fetch_refuses_bad_archives_missing_files_and_unpinned_sources(
    archive_server: ArchiveServer, tmp_path: Path
) -> None:
    cases = [
        (_source(archive_server, "/a.zip", b"not an archive"), ChecksumError, "neither a zip"),
        (_source(archive_server, "/b.zip", _zip({"x/a.csv": "1"})), DownloadError,
         "does not hold the folder toy/"),
        (_source(archive_server, "/c.zip", _zip({"toy/../../evil": "1"})), ChecksumError,
         "escapes"),
        (_source(archive_server, "/d.tar.gz", _tar({"toy/../../evil": "1"})), ChecksumError,
         "unsafe archive entry"),
    ]  # fmt: skip
    for spec, error, message in cases:
        with pytest.raises(error, match=message):
            fetch_data(spec, cache_dir=tmp_path, base_url=archive_server.url)
    gone = DataSource("toy", "toys/toy", ("a.csv",), "https://x.invalid/gone.zip", "0" * 64)
    with pytest.raises(DownloadError, match=r"gone\.zip failed: HTTP Error 404"):
        fetch_data(gone, cache_dir=tmp_path, base_url=archive_server.url)
    with pytest.raises(InvalidInputError, match="no pinned SHA-256"):
        fetch_data(DataSource("toy", "t", ("a",), "https://x.invalid/t.zip"), cache_dir=tmp_path)
    with pytest.raises(InvalidInputError, match="no official download URL"):
        fetch_data(DataSource("toy", "t", ("a",)), cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == [] and not (tmp_path.parent / "evil").exists()


def test_every_known_source_pins_a_sha256_and_an_official_https_url() -> None:
    for spec in data.SOURCES.values():
        assert spec.url is not None and spec.url.startswith("https://"), spec.name
        assert spec.sha256 is not None and len(spec.sha256) == 64, spec.name
        assert spec.licence != "unknown" and spec.terms, spec.name
    assert data.SOURCES["movielens-100k"].needs_acceptance
    assert not data.SOURCES["obd"].needs_acceptance and data.SOURCES["obd"].package
