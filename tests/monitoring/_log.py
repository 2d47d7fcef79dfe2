"""Write a synthetic event log in the event log's layout (tests only)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from limelight.store.events import FEEDBACK_SCHEMA, IMPRESSION_SCHEMA

DAY = 86400.0
T0 = datetime(2026, 3, 1, tzinfo=UTC).timestamp()


def write(root: Path, kind: str, rows: dict[str, list[Any]], name: str = "part") -> None:
    """Rows (column lists) into ``<root>/<kind>/date=<day>/<name>.parquet``, split by day."""
    schema = IMPRESSION_SCHEMA if kind == "impressions" else FEEDBACK_SCHEMA
    full = {f: rows.get(f, [None] * len(rows["ts"])) for f in schema.names}
    table = pa.table(full, schema=schema)
    days = np.array([datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d") for t in rows["ts"]])
    for day in np.unique(days):
        folder = root / kind / f"date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.filter(pa.array(days == day)), folder / f"{name}.parquet")


def impressions(
    rng: np.random.Generator,
    n: int,
    start: float,
    span: float,
    *,
    model: str = "recs",
    version: int = 1,
    shift: float = 0.0,
    k: int = 5,
    items: int = 50,
    latency: float = 10.0,
    prefix: str = "r",
) -> dict[str, list[Any]]:
    """``n`` impressions spread over [start, start + span) of ``model/version``."""
    ts = np.sort(start + rng.uniform(0, span, n))
    shown = rng.integers(0, items, size=(n, k))
    return {
        "request_id": [f"{prefix}{version}-{i}" for i in range(n)],
        "ts": ts.tolist(),
        "user_id": [f"u{i % 97}" for i in range(n)],
        "items": [[f"i{j}" for j in row] for row in shown],
        "scores": (rng.normal(shift, 1.0, size=(n, k))).tolist(),
        "artworks": [[None] * k for _ in range(n)],
        "propensities": rng.uniform(0.2, 1.0, size=(n, k)).tolist(),
        "experiments": [[] for _ in range(n)],
        "variants": [[] for _ in range(n)],
        "decided": [[] for _ in range(n)],
        "models": [[f"{model}/{version}"] for _ in range(n)],
        "latency_ms": rng.gamma(4.0, latency / 4.0, n).tolist(),
    }
