"""Impressions' ``decided`` column: written when given, null when an old segment lacks it."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from limelight.experiments import ExperimentSpec, Variant, exposure_log
from limelight.store.events import FEEDBACK_SCHEMA, IMPRESSION_SCHEMA, EventWriter, read_events


def _impression(i: int, **extra: object) -> dict[str, object]:
    return {
        "request_id": f"r{i}",
        "ts": 100.0 + i,
        "user_id": f"u{i}",
        "items": ["a"],
        "experiments": ["ab", "other"],
        "variants": ["control", "x"],
        **extra,
    }


def test_decided_sits_after_variants_and_round_trips(tmp_path: Path) -> None:
    names = IMPRESSION_SCHEMA.names
    assert names[names.index("variants") + 1] == "decided"
    assert IMPRESSION_SCHEMA.field("decided").type == pa.list_(pa.bool_())
    writer = EventWriter(str(tmp_path), "impressions", flush_seconds=60)
    writer.append(_impression(0, decided=[True, False]))
    writer.append(_impression(1))  # a writer that does not fill it in: null
    writer.close()
    table = read_events(str(tmp_path), "impressions")
    assert table["decided"].to_pylist() == [[True, False], None]


def test_segments_written_before_the_column_still_read(tmp_path: Path) -> None:
    old_schema = pa.schema([f for f in IMPRESSION_SCHEMA if f.name != "decided"])
    folder = tmp_path / "impressions" / "date=2026-01-01"
    folder.mkdir(parents=True)
    old = pa.Table.from_pylist([_impression(0), _impression(1)], schema=old_schema)
    pq.write_table(old, folder / "000000-old-1-000001.parquet")
    writer = EventWriter(str(tmp_path), "impressions", flush_seconds=60)
    writer.append(_impression(2, decided=[False, True]))
    writer.close()
    table = read_events(str(tmp_path), "impressions")
    assert table.schema == IMPRESSION_SCHEMA
    assert sorted(table["decided"].to_pylist(), key=str) == [None, None, [False, True]]
    spec = ExperimentSpec(
        name="ab",
        salt="ab",
        variants=(Variant("control", 0.5, "recs/1"), Variant("treatment", 0.5, "recs/2")),
    )
    log = exposure_log(table, FEEDBACK_SCHEMA.empty_table(), spec)
    assert (log.unattributed_exposures, log.undecided_exposures) == (2, 1)
    assert log.exposure_ts.size == 2, "the old impressions are kept, the undecided one dropped"
