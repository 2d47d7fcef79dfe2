"""``limelight runs | metrics | models | experiments | datasets``, as a user types them."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import zipfile
from pathlib import Path

import pytest
from tests.cli._run import run_cli
from tests.conftest import ArchiveServer

from limelight.core.data import SOURCES
from limelight.registry import Registry
from limelight.tracking import start_run

_cli = run_cli


def _seed() -> list[int]:
    ids = []
    for i, l2 in enumerate([10, 100, 500]):
        with start_run(experiment="grid", params={"l2": l2}) as run:
            for step in range(3):
                run.log_metric("ndcg", 0.1 * i + 0.01 * step)
        ids.append(run.id)
    return ids


def test_runs_filters_and_sorts(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ids = _seed()
    code, out, _ = _cli(
        capsys,
        "runs",
        "--flow",
        "grid",
        "--where",
        "metrics.ndcg > 0.1",
        "--sort",
        "metrics.ndcg desc",
    )
    assert code == 0
    lines = [line for line in out.splitlines() if line.startswith("grid/")]
    assert [line.split()[0] for line in lines] == [f"grid/{ids[2]}", f"grid/{ids[1]}"]
    code, _, err = _cli(capsys, "runs", "--where", "metrics.ndcg >> 1")
    assert code == 2 and "error:" in err and "^" in err


def test_metrics_table_and_plot(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = _seed()[0]
    plot = tmp_path / "m.png"
    code, out, _ = _cli(capsys, "metrics", f"grid/{run_id}", "--plot", str(plot))
    assert code == 0 and out.count("ndcg") == 3
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, _, err = _cli(capsys, "metrics", f"grid/{run_id}", "--plot", str(tmp_path / "m.gif"))
    assert code == 2 and "must end in .png or .svg" in err
    code, _, err = _cli(capsys, "metrics", "grid/999")
    assert code == 2 and "there is no run 999" in err


def test_models_register_alias_history(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    registry = Registry()
    registry.register("recs", [1], metrics={"ndcg": 0.3})
    registry.register("recs", [2], metrics={"ndcg": 0.2})
    code, _, _ = _cli(capsys, "models", "gates", "recs", "--metric", "ndcg", "--margin", "0.01")
    assert code == 0
    code, out, _ = _cli(capsys, "models", "alias", "recs", "1", "champion", "--why", "launch")
    assert code == 0 and "-> 1" in out
    code, _, err = _cli(capsys, "models", "alias", "recs", "2", "champion", "--why", "worse")
    assert code == 2 and "refused by metric ndcg" in err
    code, out, _ = _cli(capsys, "models", "history", "recs")
    assert "moved" in out and "refused" in out and "launch" in out
    code, out, _ = _cli(capsys, "models", "show", "recs")
    assert "champion" in out and "ndcg=0.3" in out
    code, _, err = _cli(capsys, "models", "show", "nope")
    assert code == 2 and "there is no model 'nope'" in err
    code, _, err = _cli(capsys, "models", "alias", "recs", "7", "champion", "--why", "x")
    assert code == 2 and "has no version 7" in err
    code, _, err = _cli(capsys, "models", "register", "Flow/1/start/2", "--name", "x")
    assert code == 2 and "is not FLOW/RUN/STEP/TASK:artifact" in err


def test_experiments_lifecycle_and_bad_input(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Registry().register("recs", [1])
    Registry().set_alias("recs", "champion", 1, why="no data lineage: a test model")
    args = [
        "experiments",
        "create",
        "ab",
        "--variant",
        "control=recs@champion:0.5",
        "--variant",
        "treatment=recs/1:0.5",
    ]
    assert _cli(capsys, *args)[0] == 0
    code, out, _ = _cli(capsys, "experiments", "list")
    assert "ab" in out and "draft" in out
    assert _cli(capsys, "experiments", "start", "ab")[0] == 0
    code, out, _ = _cli(capsys, "experiments", "show", "ab")
    assert '"status": "running"' in out
    code, _, err = _cli(capsys, "experiments", "analyze", "ab")
    assert code == 2 and "has no exposures" in err
    assert _cli(capsys, "experiments", "stop", "ab")[0] == 0
    bad = [
        (
            ["--variant", "control=recs@gold:0.5", "--variant", "t=recs/1:0.5"],
            "has no alias 'gold'",
        ),
        (["--variant", "control=recs/1:0.6", "--variant", "t=recs/1:0.5"], "sum to 1.1"),
        (["--variant", "control=recs/1", "--variant", "t=recs/1:0.5"], "NAME=VALUE:SHARE"),
        (["--variant", "c=x:0.5", "--variant", "t=nope/3:0.5"], "there is no model 'nope'"),
    ]
    for i, (variants, message) in enumerate(bad):
        code, _, err = _cli(capsys, "experiments", "create", f"bad{i}", *variants)
        assert code == 2 and message in err, err


def _ml_100k(server: ArchiveServer, monkeypatch: pytest.MonkeyPatch, sha256: str = "") -> bytes:
    """movielens-100k served by the local server, pinned to its SHA-256 (or ``sha256``)."""
    payload = io.BytesIO()
    with zipfile.ZipFile(payload, "w") as archive:
        archive.writestr("ml-100k/u.data", "1\t1\t5\t881250949\n2\t1\t3\t881250950\n")
    body = payload.getvalue()
    server.files["/ml-100k.zip"] = body
    pinned = dataclasses.replace(
        SOURCES["movielens-100k"], sha256=sha256 or hashlib.sha256(body).hexdigest()
    )
    monkeypatch.setitem(SOURCES, "movielens-100k", pinned)
    return body


def test_datasets_fetch_prints_the_licence_and_needs_it_accepted(
    archive_server: ArchiveServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _ml_100k(archive_server, monkeypatch)
    into = tmp_path / "data"
    base = ["--into", str(into), "--base-url", archive_server.url]
    code, out, err = _cli(capsys, "datasets", "fetch", "movielens-100k", *base)
    assert code == 2 and "research use only" in out and "--accept-licence" in err
    assert not into.exists() and archive_server.requests == []  # nothing downloaded or written
    code, out, err = _cli(capsys, "datasets", "fetch", "movielens-100k", "--accept-licence", *base)
    assert code == 0, err
    assert out.index("GroupLens") < out.index("SHA-256 verified")  # the licence comes first
    assert (into / "movielens" / "ml-100k" / "u.data").is_file()
    assert f"LIMELIGHT_DATA={into}" in out
    code, out, _ = _cli(capsys, "datasets", "fetch", "movielens-100k", "--accept-licence", *base)
    assert code == 0 and "already at" in out and archive_server.requests == ["/ml-100k.zip"]
    monkeypatch.setenv("LIMELIGHT_DATA", str(into))
    code, out, _ = _cli(capsys, "datasets", "where", "movielens-100k")
    assert code == 0 and out.strip() == str(into / "movielens" / "ml-100k")


def test_datasets_fetch_refuses_a_bad_download_and_keeps_nothing(
    archive_server: ArchiveServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _ml_100k(archive_server, monkeypatch, sha256="0" * 64)
    monkeypatch.setenv("LIMELIGHT_DATASETS_URL", archive_server.url)
    into = ["--into", str(tmp_path / "d"), "--accept-licence"]
    code, _, err = _cli(capsys, "datasets", "fetch", "movielens-100k", *into)
    assert code == 2 and "does not match the pinned" in err
    _ml_100k(archive_server, monkeypatch)
    archive_server.truncated.add("/ml-100k.zip")
    code, _, err = _cli(capsys, "datasets", "fetch", "movielens-100k", *into)
    assert code == 2 and "cut short" in err
    assert [p for p in (tmp_path / "d").rglob("*") if p.is_file()] == []
    code, _, err = _cli(capsys, "datasets", "fetch", "movielens-5k", *into)
    assert code == 2 and "'movielens-5k' is not one of" in err
    code, _, err = _cli(capsys, "datasets", "fetch", *into)
    assert code == 2 and "Missing argument" in err


def test_datasets_list_and_where_a_dataset_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = _cli(capsys, "datasets", "list")
    assert code == 0 and "obd" in out and "CC-BY-4.0" in out and "research-only" in out
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    code, _, err = _cli(capsys, "datasets", "where", "movielens-25m")
    assert code == 2 and "looked in" in err and "limelight datasets fetch movielens-25m" in err
