import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest

from limelight.core.errors import InvalidInputError
from limelight.store.events import EventWriter, read_events


def impression(i: int) -> dict[str, object]:
    return {
        "request_id": f"r{i}",
        "latency_ms": 1.5,
        "ts": 1000.0 + i,
        "user_id": f"u{i % 7}",
        "items": ["a", "b"],
        "scores": [0.9, 0.1],
        "artworks": ["a1", None],
        "propensities": [0.25, None],
        "experiments": ["exp"],
        "variants": ["control"],
        "models": ["recs/1"],
    }


def test_events_are_committed_to_the_table_and_read_back(tmp_path: Path) -> None:
    writer = EventWriter(str(tmp_path), "impressions", flush_seconds=60)
    for i in range(100):
        writer.append(impression(i))
    assert read_events(str(tmp_path), "impressions").num_rows == 0, "nothing until a flush"
    writer.close()
    table = read_events(str(tmp_path), "impressions")
    assert table.num_rows == 100
    assert table.column("request_id").to_pylist() == [f"r{i}" for i in range(100)]
    assert table.column("artworks")[0].as_py() == ["a1", None]
    assert table.column("latency_ms")[0].as_py() == 1.5
    window = read_events(str(tmp_path), "impressions", since=1010, until=1020)
    assert window.column("ts").to_pylist() == [1010.0 + i for i in range(10)]


def test_background_thread_flushes_while_appends_go_on(tmp_path: Path) -> None:
    writer = EventWriter(str(tmp_path), "feedback", flush_seconds=0.05)
    stop = threading.Event()

    def produce() -> None:
        i = 0
        while not stop.is_set():
            writer.append(
                {
                    "request_id": f"r{i}",
                    "ts": float(i),
                    "user_id": "u",
                    "item_id": "x",
                    "event": "play",
                    "value": None,
                }
            )
            i += 1
            time.sleep(0.0005)

    thread = threading.Thread(target=produce)
    thread.start()
    deadline = time.time() + 10
    while read_events(str(tmp_path), "feedback").num_rows == 0 and time.time() < deadline:
        time.sleep(0.05)
    seen_while_running = read_events(str(tmp_path), "feedback").num_rows
    stop.set()
    thread.join()
    writer.close()
    total = read_events(str(tmp_path), "feedback").num_rows
    assert 0 < seen_while_running <= total
    assert total == writer.written, "every appended event is written exactly once"
    assert not list((tmp_path / ".eventbuf").glob("*.log")), "no buffer is left behind"


def test_bad_kind_and_bad_record(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="unknown event kind 'clicks'"):
        EventWriter(str(tmp_path), "clicks")
    writer = EventWriter(str(tmp_path), "feedback", flush_seconds=60)
    writer.append({"request_id": "r1", "ts": 1.0})
    writer.append({"request_id": "bad", "ts": "yesterday"})
    writer.append({"request_id": "r2", "ts": 2.0})
    assert writer.flush() == 2, "the events that fit are written"
    assert writer.pending() == 0 and writer.rejected == 1
    assert read_events(str(tmp_path), "feedback").column("request_id").to_pylist() == ["r1", "r2"]
    (kept,) = (tmp_path / ".eventbuf" / "rejected").glob("*.jsonl")
    assert kept.read_text().splitlines() == ['{"request_id":"bad","ts":"yesterday"}']
    writer.append({"request_id": "r3", "ts": 3.0})
    assert writer.flush() == 1, "a rejected event does not block later flushes"
    assert read_events(str(tmp_path), "feedback").num_rows == 3


def test_a_failed_write_keeps_the_events_for_the_next_flush(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = EventWriter(str(tmp_path), "feedback", flush_seconds=60)
    writer.append({"request_id": "r1", "ts": 1.0})

    def full_disk(table: pa.Table, name: str, replay: bool) -> bool:
        raise OSError("no space left on device")

    monkeypatch.setattr(writer, "_commit", full_disk)
    with pytest.raises(OSError, match="no space"):
        writer.flush()
    assert writer.pending() == 1, "the event stays in the durable buffer"
    monkeypatch.undo()
    assert writer.flush() == 1
    assert read_events(str(tmp_path), "feedback").num_rows == 1


def test_a_value_json_cannot_hold_is_refused_at_append_and_nothing_is_queued(
    tmp_path: Path,
) -> None:
    writer = EventWriter(str(tmp_path), "feedback", flush_seconds=60)
    with pytest.raises(TypeError, match="not JSON serializable"):
        writer.append({"request_id": "r", "ts": 1.0, "value": object()})
    assert writer.pending() == 0


def test_numpy_values_and_unknown_fields_are_accepted(tmp_path: Path) -> None:
    import numpy as np

    writer = EventWriter(str(tmp_path), "impressions", flush_seconds=60)
    record = impression(0) | {"scores": np.array([0.5, 0.25]), "ts": np.float64(7.5), "x": 1}
    writer.append(record)
    writer.close()
    row = read_events(str(tmp_path), "impressions").to_pylist()[0]
    assert row["scores"] == [0.5, 0.25] and row["ts"] == 7.5 and "x" not in row
