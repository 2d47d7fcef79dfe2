"""Loaders on the real MovieLens files, bad files, and downloads from a local HTTP server."""

from __future__ import annotations

import hashlib
import http.server
import io
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

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


def test_movielens_100k_from_its_folder(datasets_dir: Path) -> None:
    data = load_dataset("movielens-100k", datasets_dir / "movielens" / "ml-100k")
    assert (len(data), data.n_users, data.n_items) == (100_000, 943, 1682)
    assert data.rating is not None and set(np.unique(data.rating)) == {1, 2, 3, 4, 5}
    assert data.timestamp is not None and data.timestamp.dtype == np.int64
    assert (data.name, data.usage) == ("movielens-100k", "research-only")
    assert "research use only" in data.license
    # the first line of u.data is "196 242 3 881250949"
    first = (data.user_ids[data.user_index[0]], data.item_ids[data.item_index[0]])
    assert first == (196, 242) and data.rating[0] == 3 and data.timestamp[0] == 881250949


def test_movielens_1m_pairs_from_parquet_and_ratings_dat_gz(datasets_dir: Path) -> None:
    folder = datasets_dir / "movielens" / "ml-1m"
    pairs = load_dataset("movielens-1m", folder)
    assert (len(pairs), pairs.n_users, pairs.n_items) == (1_000_209, 6040, 3706)
    assert pairs.user_ids.dtype == np.int64 and pairs.rating is None
    assert pairs.usage == "research-only"
    part = read_movielens(folder / "ratings_first487650.dat.gz", "ml-1m")
    assert (len(part), part.n_users) == (487_650, 2999)
    assert part.user_ids[part.user_index[0]] == 1 and part.item_ids[part.item_index[0]] == 1193


def test_csv_with_a_column_mapping(datasets_dir: Path) -> None:
    path = datasets_dir / "movielens" / "ml-latest-small" / "ratings.csv"
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
    cache = tmp_path / "cache"
    with pytest.raises(NotFoundError, match="LIMELIGHT_DATA"):
        load_dataset("movielens-100k", cache_dir=cache)
    (cache / "ml-100k").mkdir(parents=True)
    (cache / "ml-100k" / "u.data").write_text("1\t1\t5\t10\n")
    assert len(load_dataset("movielens-100k", cache_dir=cache)) == 1
    root = tmp_path / "data"
    (root / "ml-100k").mkdir(parents=True)
    (root / "ml-100k" / "u.data").write_text("1\t1\t5\t10\n2\t1\t4\t11\n")
    monkeypatch.setenv("LIMELIGHT_DATA", str(root))
    assert len(load_dataset("movielens-100k", cache_dir=cache)) == 2


def _archive(folder: str, files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(f"{folder}/{name}", text)
    return buf.getvalue()


@pytest.fixture
def server() -> Iterator[tuple[str, dict[str, bytes], list[str]]]:
    """A local HTTP server on 127.0.0.1 serving the bytes in a dict, stopped after the test."""
    files: dict[str, bytes] = {}
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            body = files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", files, requests
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _spec(url: str, md5: str | None) -> DatasetSpec:
    base = DATASETS["movielens-100k"]
    return DatasetSpec(
        "movielens-100k-test",
        base.folder,
        base.ratings_file,
        base.format,
        url,
        md5,
        base.license,
        base.usage,
    )


def test_download_verifies_caches_and_loads(
    server: tuple[str, dict[str, bytes], list[str]], tmp_path: Path
) -> None:
    url, files, requests = server
    body = _archive("ml-100k", {"u.data": "1\t10\t5\t100\n2\t10\t3\t200\n", "README": "hi"})
    files["/ml-100k.zip"] = body
    spec = _spec(url + "/ml-100k.zip", hashlib.md5(body).hexdigest())
    folder = download_dataset(spec, cache_dir=tmp_path)
    assert folder == tmp_path / "ml-100k" and (folder / "u.data").is_file()
    assert download_dataset(spec, cache_dir=tmp_path) == folder  # cached: no second request
    assert requests == ["/ml-100k.zip"]
    data = load_dataset(spec, cache_dir=tmp_path)
    assert len(data) == 2 and data.usage == "research-only"
    assert [p.name for p in tmp_path.iterdir()] == ["ml-100k"]  # no temporary files left


def test_download_with_a_checksum_mismatch_keeps_nothing(
    server: tuple[str, dict[str, bytes], list[str]], tmp_path: Path
) -> None:
    url, files, _ = server
    files["/ml-100k.zip"] = _archive("ml-100k", {"u.data": "1\t1\t1\t1\n"})
    spec = _spec(url + "/ml-100k.zip", DATASETS["movielens-100k"].md5)
    with pytest.raises(ChecksumError, match="does not match the published"):
        download_dataset(spec, cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []
    missing = _spec(url + "/gone.zip", None)
    with pytest.raises(Exception, match="failed"):
        download_dataset(missing, cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_load_dataset_can_download_when_missing(
    server: tuple[str, dict[str, bytes], list[str]], tmp_path: Path
) -> None:
    url, files, _ = server
    body = _archive("ml-100k", {"u.data": "4\t2\t5\t100\n"})
    files["/a.zip"] = body
    spec = _spec(url + "/a.zip", hashlib.md5(body).hexdigest())
    data = load_dataset(spec, cache_dir=tmp_path, download=True)
    assert data.user_ids.tolist() == [4]
