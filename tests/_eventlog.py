"""An event log on disk for the tests of the analyses over it: known edge cases, by day."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from limelight.experiments import ExperimentSpec, Variant, allocate_many
from limelight.store.events import FEEDBACK_SCHEMA, IMPRESSION_SCHEMA

DAY = 86400.0
T0 = 1_700_006_400.0  # a midnight UTC


def spec_of(
    variants: int = 2, *, start: float | None = T0, stop: float | None = None
) -> ExperimentSpec:
    names = ["control", "treatment", "third"][:variants]
    return ExperimentSpec(
        name="ab",
        salt="ab",
        variants=tuple(Variant(n, 1 / variants, f"recs/{i + 1}") for i, n in enumerate(names)),
        start=start,
        stop=stop if stop is not None else (T0 + 5 * DAY if start is not None else None),
        status="running",
        secondary_metrics=("impressions_per_user", "play_value_per_user"),
    )


def write_log(
    root: Path,
    spec: ExperimentSpec,
    *,
    seed: int,
    users: int,
    n: int,
    old_files: bool = True,
) -> None:
    """Impressions over a pre-period and the experiment's days, as Parquet segments by day.

    Some impressions were decided by another experiment, some files predate ``decided`` (null:
    unattributed), a few users are logged in two variants, a few name an unknown variant.
    """
    rng = np.random.default_rng(seed)
    ids = np.array([f"u{i:05d}" for i in range(users)])
    arm = allocate_many(ids.tolist(), spec.salt, spec.shares)
    names = np.array((*spec.variant_names, "ghost"))
    who = rng.integers(0, users, n)
    ts = T0 + rng.uniform(-10 * DAY, 6 * DAY, n)
    code = arm[who].copy()
    code[rng.random(n) < 0.004] = len(spec.variants)  # unknown variant
    flip = rng.random(n) < 0.002  # a conflicting user
    code[flip] = (code[flip] + 1) % len(spec.variants)
    decided = rng.random(n) > 0.2
    played = rng.random(n) < 0.2 + 0.05 * arm[who]
    item_count = rng.integers(0, 4, n)
    items = [[f"i{j}" for j in range(k)] for k in item_count]
    artworks = [
        [None if rng.random() < 0.3 else f"a{rng.integers(3)}" for _ in row] for row in items
    ]
    props = [[float(rng.uniform(0.05, 1.0)) for _ in row] for row in items]
    imp = pa.table(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "ts": ts,
            "user_id": ids[who],
            "items": items,
            "scores": [[1.0] * len(row) for row in items],
            "artworks": pa.array(artworks, pa.list_(pa.string())),
            "propensities": props,
            "experiments": [["other", spec.name]] * n,
            "variants": [["x", str(v)] for v in names[code]],
            "decided": [[not d, bool(d)] for d in decided],
            "models": [["recs/1"] if c == 0 else ["recs/2"] for c in code],
            "latency_ms": rng.gamma(2.0, 3.0, n),
            "context": [None] * n,
        },
        schema=IMPRESSION_SCHEMA,
    )
    k = int(played.sum())
    first_item = [row[0] if row else "none" for row in items]
    fb = pa.table(
        {
            "request_id": [f"r{i}" for i in np.flatnonzero(played)],
            "ts": ts[played] + rng.uniform(1, 3000, k),
            "user_id": ids[who][played],
            "item_id": [first_item[i] for i in np.flatnonzero(played)],
            "event": np.where(rng.random(k) < 0.9, "play", "pause"),
            "value": pa.array(
                [None if rng.random() < 0.1 else float(v) for v in rng.exponential(30, k)],
                pa.float64(),
            ),
        },
        schema=FEEDBACK_SCHEMA,
    )
    for kind, table in (("impressions", imp), ("feedback", fb)):
        day = np.floor(table["ts"].to_numpy() / DAY).astype(np.int64)
        for d in np.unique(day):
            part = table.filter(pa.array(day == d))
            folder = root / kind / f"date={np.datetime64(int(d), 'D')}"
            folder.mkdir(parents=True, exist_ok=True)
            half = part.num_rows // 2
            for i, piece in enumerate((part.slice(0, half), part.slice(half))):
                if kind == "impressions" and old_files and i == 0 and d % 2 == 0:
                    piece = piece.drop_columns(["decided"])  # written before 'decided' existed
                pq.write_table(piece, folder / f"{i:06d}-host-1-{i:06d}.parquet")


def same(a: Any, b: Any, path: str = "") -> None:
    """Equal to 1e-9 (relative) field by field, NaN equal to NaN."""
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        assert type(a) is type(b), path
        for f in dataclasses.fields(a):
            if f.name not in ("snapshots", "user_ids", "spec"):
                same(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    elif isinstance(a, dict):
        assert sorted(a) == sorted(b), path
        for key in a:
            same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{path}[{i}]")
    elif isinstance(a, np.ndarray):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, err_msg=path)
    elif isinstance(a, float) and isinstance(b, float):
        assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-9, abs=1e-12), (
            path,
            a,
            b,
        )
    else:
        assert a == b, (path, a, b)
