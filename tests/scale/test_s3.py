"""The artifact store on S3 (a local S3 server on 127.0.0.1), and flows whose artifacts live there.

The artifact-store suite of ``tests/store/test_artifacts.py`` runs here again with its ``store``
fixture pointing at a bucket; its two tests that look into the local folder have S3 versions
below.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.store.test_artifacts import *  # noqa: F403 - the same suite, on S3

from limelight.core.errors import CorruptBlobError
from limelight.flows import Flow, Param, step
from limelight.store import ArtifactStore

del test_same_content_is_stored_once  # noqa: F821 - looks into the local folder; S3 version below
del test_corrupted_blob_is_never_returned  # noqa: F821 - same
del test_unwritable_folder_is_a_config_error  # noqa: F821 - about local folders only
del test_any_fsspec_url_works  # noqa: F821 - takes no store: nothing new to run


@pytest.fixture
def store(s3_bucket: str, tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(f"s3://{s3_bucket}/team/artifacts", cache_dir=tmp_path / "cache")


def _objects(store: ArtifactStore) -> list[str]:
    return sorted(store.blobs.fs.find(f"{store.blobs.root}/blobs"))


def test_same_content_is_stored_once_in_the_bucket(store: ArtifactStore, tmp_path: Path) -> None:
    a = np.arange(1000, dtype=np.float32)
    first, second = store.save(a), store.save(a.copy())
    assert first.key == second.key
    objects = _objects(store)
    assert len(objects) == 1 and objects[0].endswith(f"/blobs/{first.key[:2]}/{first.key}")
    assert not list((tmp_path / "cache" / "tmp").iterdir()), "temp files left behind"


@pytest.mark.parametrize("obj", [np.arange(50.0), {"x": [1, 2]}], ids=["mapped", "bytes"])
def test_a_corrupted_object_is_never_returned(
    store: ArtifactStore, tmp_path: Path, obj: object
) -> None:
    ref = store.save(obj)
    store.blobs.fs.pipe_file(f"{store.blobs.root}/blobs/{ref.key[:2]}/{ref.key}", b"garbage")
    fresh = ArtifactStore(store.url, cache_dir=tmp_path / "other-cache")  # nothing cached
    with pytest.raises(CorruptBlobError, match=ref.key):
        fresh.load(ref)


class Embeds(Flow):
    """Arrays made in a foreach and joined: every artifact goes through the bucket."""

    n = Param(default=3)

    @step
    def start(self):
        self.items = list(range(self.n))
        self.next(self.embed, foreach="items")

    @step
    def embed(self):
        self.vector = np.full(1000, float(self.input))
        self.next(self.join)

    @step
    def join(self, inputs):
        self.matrix = np.stack([i.vector for i in inputs])
        self.next(self.end)

    @step
    def end(self):
        self.total = float(self.matrix.sum())


def _check_run_on_s3(run: Any, bucket: str) -> None:
    import boto3

    assert run.data.total == 1000.0 * (0 + 1 + 2)
    keys = {
        o["Key"]
        for o in boto3.client("s3").list_objects_v2(Bucket=bucket)["Contents"]
        if "/blobs/" in o["Key"]
    }
    ref = run["join"].task.artifacts["matrix"]
    assert f"team/artifacts/blobs/{ref.key[:2]}/{ref.key}" in keys
    assert len(keys) >= 5  # items, three vectors, the matrix


def test_a_flow_keeps_its_artifacts_on_s3(
    home: Path, s3_bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Run from the command line, in its own process, as a user runs it.

    In-process, the local executor forks its workers from this test process, which by now
    holds the threads of the Dask cluster and of S3 clients of earlier tests; in two full CI
    runs such a run hung (a worker never answered), never when run alone.
    """
    import inspect
    import os
    import subprocess
    import sys

    from limelight.flows import Flow as FlowClient

    monkeypatch.setenv("LIMELIGHT_ARTIFACTS", f"s3://{s3_bucket}/team/artifacts")
    flow_file = tmp_path / "embeds.py"
    flow_file.write_text(
        "import numpy as np\nfrom limelight import Flow, Param, step\n\n\n"
        + inspect.getsource(Embeds)
    )
    done = subprocess.run(
        [str(Path(sys.executable).parent / "limelight"), "run", str(flow_file), "--max-workers=2"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    run = FlowClient("Embeds").latest_run
    assert run is not None
    _check_run_on_s3(run, s3_bucket)


@pytest.mark.postgres
def test_a_team_setup_dask_postgres_and_s3(
    on_dask: Path, s3_bucket: str, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIMELIGHT_ARTIFACTS", f"s3://{s3_bucket}/team/artifacts")
    monkeypatch.setenv("LIMELIGHT_DB", postgres_url)
    run = Embeds.run()
    assert run.refresh().status == "succeeded"
    _check_run_on_s3(run, s3_bucket)
