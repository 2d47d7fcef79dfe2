"""Loaders on the real MovieLens files, bad files, and downloads from a local HTTP server."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.conftest import ArchiveServer

from limelight.core import data as data_module
from limelight.core.errors import InvalidInputError, NotFoundError
from limelight.recsys import (
    DATASETS,
    ChecksumError,
    DatasetSpec,
    download_dataset,
    load_dataset,
    load_interactions,
    read_movielens,
)


def test_movielens_100k_from_its_folder(movielens_100k_dir: Path) -> None:
    data = load_dataset("movielens-100k", movielens_100k_dir)
    assert (len(data), data.n_users, data.n_items) == (100_000, 943, 1682)
    assert data.rating is not None and set(np.unique(data.rating)) == {1, 2, 3, 4, 5}
    assert data.timestamp is not None and data.timestamp.dtype == np.int64
    assert (data.name, data.usage) == ("movielens-100k", "research-only")
    assert "research use only" in data.license
    # the first line of u.data is "196 242 3 881250949"
    first = (data.user_ids[data.user_index[0]], data.item_ids[data.item_index[0]])
    assert first == (196, 242) and data.rating[0] == 3 and data.timestamp[0] == 881250949


def test_movielens_1m_from_its_folder(movielens_1m_dir: Path) -> None:
    data = load_dataset("movielens-1m", movielens_1m_dir)
    assert (len(data), data.n_users, data.n_items) == (1_000_209, 6040, 3706)
    assert data.user_ids.dtype == np.int64 and data.usage == "research-only"
    if not (movielens_1m_dir / "ratings.dat").is_file():  # the shared copy: pairs only
        assert data.rating is None


def test_movielens_1m_ratings_dat_reads_with_ratings(movielens_1m_dir: Path) -> None:
    partial = movielens_1m_dir / "ratings_first487650.dat.gz"  # in the shared copy
    if partial.is_file():
        part, expected = read_movielens(partial, "ml-1m"), (487_650, 2999)
    else:  # the published archive
        part, expected = (
            read_movielens(movielens_1m_dir / "ratings.dat", "ml-1m"),
            (1_000_209, 6040),
        )
    assert (len(part), part.n_users) == expected
    assert part.rating is not None and set(np.unique(part.rating)) == {1, 2, 3, 4, 5}
    assert part.user_ids[part.user_index[0]] == 1 and part.item_ids[part.item_index[0]] == 1193


def test_csv_with_a_column_mapping(movielens_latest_small_dir: Path) -> None:
    path = movielens_latest_small_dir / "ratings.csv"
    data = load_interactions(
        path,
        user="userId",
        item="movieId",
        rating="rating",
        timestamp="timestamp",
        name="small",
        usage="research-only",
    )
    assert (len(data), data.n_users) == (100_836, 610)
    assert data.rating is not None and float(data.rating.max()) == 5.0
    named = load_dataset("movielens-latest-small", path.parent)
    assert len(named) == len(data) and named.license == DATASETS["movielens-1m"].license


def test_headerless_csv_takes_column_names(tmp_path: Path) -> None:
    path = tmp_path / "plays.tsv"
    path.write_text("a\t10\t1700000000\nb\t11\t1700000001\n")
    data = load_interactions(path, sep="\t", names=["user", "item", "ts"], timestamp="ts")
    assert data.user_ids.tolist() == ["a", "b"] and data.item_ids.tolist() == [10, 11]
    assert data.timestamp is not None and data.timestamp.tolist() == [1700000000, 1700000001]


def test_parquet_string_ids_stay_strings_unless_asked(tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    pq.write_table(pa.table({"u": ["7", "8"], "i": ["1", "2"]}), path)
    assert load_interactions(path, user="u", item="i").user_ids.tolist() == ["7", "8"]
    assert load_interactions(path, user="u", item="i", id_type="int").user_ids.tolist() == [7, 8]


def test_wrong_format_names_the_file_the_line_and_the_layout(tmp_path: Path) -> None:
    bad = tmp_path / "u.data"
    bad.write_text("1\t2\t3\t100\n1\t3\t4.5\t101\n")
    with pytest.raises(InvalidInputError, match=r"u\.data, line 2: expected user<TAB>item"):
        read_movielens(bad, "ml-100k")
    short = tmp_path / "ratings.dat"
    short.write_text("1::2::3::4\n5::6::7\n8::9::1::2::3\n")
    with pytest.raises(InvalidInputError, match=r"ratings\.dat, line 2: expected user::item"):
        read_movielens(short, "ml-1m")
    # a ratings.dat read as u.data is refused too
    with pytest.raises(InvalidInputError, match="line 1"):
        read_movielens(short, "ml-100k")


def test_empty_and_missing_files_and_columns(tmp_path: Path) -> None:
    empty = tmp_path / "u.data"
    empty.write_text("")
    with pytest.raises(InvalidInputError, match="empty"):
        read_movielens(empty, "ml-100k")
    csv = tmp_path / "r.csv"
    csv.write_text("user,item\n")
    with pytest.raises(InvalidInputError, match="no rows"):
        load_interactions(csv)
    csv.write_text("uid,iid\n1,2\n")
    with pytest.raises(InvalidInputError, match=r"no column\(s\) \['user', 'item'\]"):
        load_interactions(csv)
    csv.write_text("user,item\n1,2\n1\n")
    with pytest.raises(InvalidInputError, match=r"r\.csv is not a readable CSV"):
        load_interactions(csv)
    with pytest.raises(NotFoundError, match="does not exist"):
        load_interactions(tmp_path / "nope.csv")
    with pytest.raises(NotFoundError, match="unknown dataset"):
        load_dataset("movielens-5k")


def test_lookup_order_path_then_limelight_data_then_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LIMELIGHT_DATA", raising=False)
    monkeypatch.setattr(data_module, "_project_roots", lambda: [tmp_path / "project"])
    cache = tmp_path / "cache"
    with pytest.raises(NotFoundError, match="LIMELIGHT_DATA") as caught:
        load_dataset("movielens-100k", cache_dir=cache)
    assert "limelight datasets fetch movielens-100k" in str(caught.value)
    (cache / "ml-100k").mkdir(parents=True)
    (cache / "ml-100k" / "u.data").write_text("1\t1\t5\t10\n")
    assert len(load_dataset("movielens-100k", cache_dir=cache)) == 1
    shared = tmp_path / "shared" / "datasets" / "movielens" / "ml-100k"
    shared.mkdir(parents=True)
    (shared / "u.data").write_text("1\t1\t5\t10\n2\t1\t4\t11\n")
    assert len(load_dataset("movielens-100k", cache_dir=cache)) == 2
    root = tmp_path / "data"
    (root / "ml-100k").mkdir(parents=True)
    (root / "ml-100k" / "u.data").write_text("1\t1\t5\t10\n2\t1\t4\t11\n3\t1\t4\t11\n")
    monkeypatch.setenv("LIMELIGHT_DATA", str(root))
    assert len(load_dataset("movielens-100k", cache_dir=cache)) == 3
    assert len(load_dataset("movielens-100k", shared)) == 2  # an explicit path wins
    with pytest.raises(NotFoundError, match=r"no movielens-100k ratings file \(u\.data\) at"):
        load_dataset("movielens-100k", tmp_path / "nowhere")


def _archive(folder: str, files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(f"{folder}/{name}", text)
    return buf.getvalue()


def _spec(server: ArchiveServer, body: bytes, sha256: str | None = None) -> DatasetSpec:
    """movielens-100k, downloaded from the local server."""
    server.files["/ml-100k.zip"] = body
    base = DATASETS["movielens-100k"]
    source = dataclasses.replace(
        base.source,
        url=server.url + "/ml-100k.zip",
        sha256=sha256 or hashlib.sha256(body).hexdigest(),
    )
    return dataclasses.replace(base, source=source)


def test_download_verifies_caches_and_loads(archive_server: ArchiveServer, tmp_path: Path) -> None:
    body = _archive("ml-100k", {"u.data": "1\t10\t5\t100\n2\t10\t3\t200\n", "README": "hi"})
    spec = _spec(archive_server, body)
    with pytest.raises(InvalidInputError, match="accepts its terms: MovieLens is published"):
        download_dataset(spec, cache_dir=tmp_path)
    assert archive_server.requests == [] and list(tmp_path.iterdir()) == []
    folder = download_dataset(spec, cache_dir=tmp_path, accept_licence=True)
    assert folder == tmp_path / "movielens" / "ml-100k" and (folder / "u.data").is_file()
    assert download_dataset(spec, cache_dir=tmp_path, accept_licence=True) == folder
    assert archive_server.requests == ["/ml-100k.zip"]  # cached: no second request
    data = load_dataset(spec, folder)
    assert len(data) == 2 and data.usage == "research-only"
    assert [p.name for p in tmp_path.iterdir()] == ["movielens"]  # no temporary files left
    assert [p.name for p in (tmp_path / "movielens").iterdir()] == ["ml-100k"]


def test_download_with_a_checksum_mismatch_keeps_nothing(
    archive_server: ArchiveServer, tmp_path: Path
) -> None:
    spec = _spec(archive_server, _archive("ml-100k", {"u.data": "1\t1\t1\t1\n"}),
                 DATASETS["movielens-100k"].source.sha256)  # fmt: skip
    with pytest.raises(ChecksumError, match="does not match the pinned"):
        download_dataset(spec, cache_dir=tmp_path, accept_licence=True)
    assert list(tmp_path.iterdir()) == []


def test_load_dataset_can_download_when_missing(
    archive_server: ArchiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LIMELIGHT_DATA", raising=False)
    monkeypatch.setattr(data_module, "_project_roots", lambda: [tmp_path / "project"])
    spec = _spec(archive_server, _archive("ml-100k", {"u.data": "4\t2\t5\t100\n"}))
    with pytest.raises(InvalidInputError, match="accept_licence=True"):
        load_dataset(spec, cache_dir=tmp_path, download=True)
    data = load_dataset(spec, cache_dir=tmp_path, download=True, accept_licence=True)
    assert data.user_ids.tolist() == [4]
