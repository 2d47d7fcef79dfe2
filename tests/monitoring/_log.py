"""Write a synthetic event log into the event log's tables (tests only)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from limelight.core.config import Config
from limelight.store.events import FEEDBACK_SCHEMA, IMPRESSION_SCHEMA

DAY = 86400.0
T0 = datetime(2026, 3, 1, tzinfo=UTC).timestamp()


def write(root: Path | Config, kind: str, rows: dict[str, list[Any]], name: str = "part") -> None:
    """Rows (column lists) committed to the ``kind`` table of the event log at ``root`` (a
    folder, or a configuration: its catalog is in its metadata database), as serving's writer
    commits them (``name`` is kept for the callers' readability only)."""
    from limelight.store._event_table import open_event_log

    schema = IMPRESSION_SCHEMA if kind == "impressions" else FEEDBACK_SCHEMA
    full = {f: rows.get(f, [None] * len(rows["ts"])) for f in schema.names}
    where = root if isinstance(root, Config) else str(root)
    open_event_log(where).append(kind, pa.table(full, schema=schema))


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
