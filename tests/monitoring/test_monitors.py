"""Monitors end to end: declared (and refused) from the command line, checked per version and
window over an event log on disk, alerts recorded, posted and published, aliases rolled back."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from tests.cli._run import run_cli
from tests.monitoring._log import DAY, T0, impressions, write

from limelight.core import hooks
from limelight.core.config import resolve_config
from limelight.core.errors import InvalidInputError
from limelight.monitoring import Monitors
from limelight.registry import Registry
from limelight.store import open_store


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LIMELIGHT_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "home"


@pytest.fixture
def served(home: Path) -> Registry:
    """A week of version 1 as champion, then a day on which version 2 (scores shifted) serves."""
    rng = np.random.default_rng(0)
    events = home / "events"
    write(events, "impressions", impressions(rng, 2000, T0, 7 * DAY), "week")
    write(
        events,
        "impressions",
        impressions(rng, 600, T0 + 7 * DAY, DAY, version=2, shift=1.5, prefix="b"),
        "bad",
    )
    registry = Registry()
    registry.register("recs", {"v": 1})
    registry.register("recs", {"v": 2})
    registry.set_alias("recs", "champion", 1, why="first")
    registry.set_alias("recs", "champion", 2, why="the new one")
    return registry


def monitors() -> Monitors:
    return Monitors(open_store(resolve_config()))


def test_cli_creates_lists_shows_checks_and_deletes(
    served: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(
        capsys, "monitors", "create", "drift", "--model", "recs", "--check", "psi(scores)",
        "--window", "1d", "--reference", "previous 7d", "--alert-above", "0.2",
        "--action", "rollback",
    )  # fmt: skip
    assert code == 0, err
    assert "alert above 0.2" in out and "roll recs@champion back" in out
    code, out, _ = run_cli(capsys, "monitors", "list")
    assert "drift" in out and "psi(scores)" in out
    code, out, _ = run_cli(capsys, "monitors", "check", "--json", "--at", str(T0 + 8 * DAY))
    assert code == 1  # an alert: scripts see it in the exit status
    [result] = json.loads(out)
    assert result["version"] == 2 and result["status"] == "alert" and result["value"] > 0.2
    assert result["alert"]["outcome"] == "rolled-back"
    assert served.alias_versions("recs") == {"champion": 1}
    last = served.history("recs")[-1]
    assert (last.from_version, last.to_version, last.who) == (2, 1, "monitor:drift")
    assert "psi(scores)" in (last.why or "") and "2026-03-08 00:00:00 UTC" in (last.why or "")
    code, out, _ = run_cli(capsys, "monitors", "show", "drift")
    assert "alert" in out and "rolled-back" in out
    code, out, _ = run_cli(capsys, "monitors", "delete", "drift")
    assert code == 0
    code, _, err = run_cli(capsys, "monitors", "show", "drift")
    assert code == 2 and "there is no monitor 'drift'" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--check", "psi(colour)"], "there is no column 'colour'"),
        (["--check", "sparkle(scores)"], "unknown check"),
        (["--check", "error_rate"], "error_rate() has no default threshold"),
        (["--check", "psi(scores)", "--alert-above", "high"], "must be a number, not 'high'"),
        (["--check", "psi(scores)", "--alert-above", "nan"], "finite"),
        (["--check", "psi(scores)", "--window", "a while"], "not a duration"),
        (["--check", "psi(scores)", "--reference", "last tuesday"], "reference 'last tuesday'"),
        (["--check", "p99(latency_ms)"], "no default threshold"),
        (["--check", "psi(scores)", "--webhook", "ftp://x"], "not an http"),
        (["--check", "take_rate(first)"], "takes a position"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(
    home: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = run_cli(capsys, "monitors", "create", "m", "--model", "recs", *args)
    assert code == 2, out
    assert message in err
    assert monitors().all() == []  # nothing half-made


def test_a_name_taken_twice_and_a_bad_at_are_refused(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monitors().create("m", model="recs", check="psi(scores)")
    with pytest.raises(InvalidInputError, match="already a monitor 'm'"):
        monitors().create("m", model="recs", check="ks(scores)")
    code, _, err = run_cli(capsys, "monitors", "check", "--at", "yesterday-ish")
    assert code == 2 and "--at 'yesterday-ish'" in err


def test_an_empty_window_says_so_and_does_not_alert(served: Registry) -> None:
    m = monitors()
    m.create("drift", model="recs", check="psi(scores)", alert_above=0.0001, action="rollback")
    m.create("slow", model="recs", check="p99(latency_ms)", alert_above=0.0)
    results = m.check(at=T0 + 30 * DAY)
    assert [r.status for r in results] == ["empty", "empty"]
    assert all(r.value is None and "no impressions of recs" in r.message for r in results)
    assert m.alerts() == []
    assert served.alias_versions("recs") == {"champion": 2}
    assert [v["status"] for v in m.values("drift")] == ["empty"]  # recorded all the same


def test_a_window_longer_than_the_data_is_said(served: Registry) -> None:
    m = monitors()
    m.create("long", model="recs", check="requests()", window="30d", alert_above=1e9)
    results = m.check(at=T0 + 8 * DAY)
    assert {r.version for r in results} == {1, 2}
    assert all(
        "before the event log's first impression" in n for r in results for n in r.detail["notes"]
    )
    assert sum(r.value or 0 for r in results) == 2600


def test_reference_with_no_data_is_no_alert(served: Registry) -> None:
    m = monitors()
    m.create(
        "d", model="recs", check="psi(scores)", reference="2025-01-01..2025-01-02", alert_above=0.0
    )
    [result] = m.check(at=T0 + 8 * DAY)
    assert result.status == "no-reference" and result.value is None and m.alerts() == []


def test_champion_first_days_as_reference(served: Registry) -> None:

    from limelight.store.schema import alias_events

    with served.store.metadata.begin() as conn:  # version 2 became champion on day 7
        conn.execute(
            alias_events.update().where(alias_events.c.to_version == 2).values(at=T0 + 7 * DAY)
        )
    m = monitors()
    m.create("d", model="recs", check="psi(scores)", reference="champion first 1d", alert_above=0.2)
    [result] = m.check(at=T0 + 8 * DAY)  # champion is version 2: it is its own reference
    assert result.version == 2 and result.status == "ok" and result.value < 0.2


def test_rollback_with_no_earlier_version_is_recorded(home: Path) -> None:
    rng = np.random.default_rng(1)
    write(home / "events", "impressions", impressions(rng, 500, T0, DAY), "a")
    write(
        home / "events",
        "impressions",
        impressions(rng, 500, T0 + DAY, DAY, shift=2.0, prefix="b"),
        "b",
    )
    registry = Registry()
    registry.register("recs", {"v": 1})
    registry.set_alias("recs", "champion", 1, why="only one")
    m = monitors()
    m.create("d", model="recs", check="psi(scores)", alert_above=0.2, action="rollback")
    [result] = m.check(at=T0 + 2 * DAY)
    assert result.alert is not None and result.alert.outcome == "no-earlier-version"
    assert "nothing to roll back to" in result.alert.detail["rollback"]
    assert registry.alias_versions("recs") == {"champion": 1}


def test_two_monitors_rolling_back_one_alias_at_once_move_it_once(served: Registry) -> None:
    m = monitors()
    m.create(
        "a",
        model="recs",
        check="psi(scores)",
        alert_above=0.2,
        action="rollback",
        reference="previous 7d",
    )
    m.create(
        "b",
        model="recs",
        check="wasserstein(scores)",
        alert_above=0.2,
        action="rollback",
        reference="previous 7d",
    )
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def run(name: str) -> None:
        start.wait()
        [result] = monitors().check([name], at=T0 + 8 * DAY)
        assert result.alert is not None
        outcomes.append(result.alert.outcome)

    threads = [threading.Thread(target=run, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["already-rolled-back", "rolled-back"]
    moves = [e for e in served.history("recs") if e.outcome == "moved"]
    assert [(e.from_version, e.to_version) for e in moves] == [(None, 1), (1, 2), (2, 1)]
    assert served.alias_versions("recs") == {"champion": 1}


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Hook.received = []
    yield f"http://127.0.0.1:{server.server_port}/alerts"
    server.shutdown()
    server.server_close()


def test_alert_is_posted_to_the_webhook_and_published_as_an_event(
    served: Registry, webhook: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    published: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setitem(
        hooks._hooks,
        "publish_event",
        lambda name, payload, **where: published.append((name, payload)),
    )
    m = monitors()
    m.create(
        "d",
        model="recs",
        check="psi(scores)",
        alert_above=0.2,
        webhook=webhook,
        reference="previous 7d",
    )
    [result] = m.check(at=T0 + 8 * DAY)
    assert result.alert is not None and result.alert.outcome == "none"
    [posted] = _Hook.received
    assert (
        posted["event"] == "monitor_alert" and posted["monitor"] == "d" and posted["version"] == 2
    )
    [(name, payload)] = published
    assert name == "monitor_alert"
    assert {"monitor", "model", "version", "value", "threshold", "window"} <= set(payload)
    assert payload["window"] == [T0 + 7 * DAY, T0 + 8 * DAY]
    [alert] = m.alerts("d")
    assert alert.detail["webhook"] == "posted: HTTP 204" and alert.detail["event"] == "published"
    assert served.alias_versions("recs") == {"champion": 2}  # no action asked for


def test_an_alert_is_an_event_a_deployed_trigger_can_fire_on(served: Registry) -> None:
    """With the real hook (the scheduler's events table), each alert is one ``monitor_alert``
    event in the monitors' store, whatever retries publish it again."""
    import sqlalchemy as sa

    from limelight.store.schema import published_events

    m = monitors()
    m.create("d", model="recs", check="psi(scores)", alert_above=0.2, reference="previous 7d")
    m.check(at=T0 + 8 * DAY)
    [alert] = m.alerts("d")
    assert alert.detail["event"] == "published"
    with m.store.metadata.connect() as conn:
        rows = conn.execute(
            sa.select(published_events).where(published_events.c.name == "monitor_alert")
        ).all()
    assert len(rows) == 1 and rows[0].payload["monitor"] == "d" and rows[0].payload["version"] == 2
    assert rows[0].source == "monitor d" and rows[0].dedup_key.startswith("monitor_alert:")


def test_without_a_publish_hook_or_reachable_webhook_the_alert_is_still_recorded(
    served: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(hooks._hooks, "publish_event", raising=False)
    m = monitors()
    m.create(
        "d",
        model="recs",
        check="psi(scores)",
        alert_above=0.2,
        webhook="http://127.0.0.1:9/x",
        reference="previous 7d",
    )
    m.check(at=T0 + 8 * DAY)
    [alert] = m.alerts("d")
    assert alert.detail["event"].startswith("skipped")
    assert alert.detail["webhook"].startswith("failed")


def test_outcome_checks_read_feedback(home: Path) -> None:
    rng = np.random.default_rng(2)
    rows = impressions(rng, 100, T0, 3600, k=3)
    rows["request_id"][1] = rows["request_id"][0]  # a duplicate
    write(home / "events", "impressions", rows, "a")
    first = [row[0] for row in rows["items"]]
    write(home / "events", "feedback", {
        "request_id": [rows["request_id"][i] for i in (2, 3, 4)] + [rows["request_id"][5]],
        "ts": [T0 + 4000.0] * 3 + [T0 + 2 * DAY],
        "user_id": ["u"] * 4,
        "item_id": [first[2], first[3], rows["items"][4][1], first[5]],
        "event": ["play"] * 4,
        "value": [1.0] * 4,
    }, "f")  # fmt: skip
    m = monitors()
    for name, check in [("tr0", "take_rate(0)"), ("tr", "take_rate()"), ("ppi", "plays_per_impression()"),
                        ("fs", "feedback_share()"), ("dup", "duplicate_share()"), ("late", "late_share()")]:  # fmt: skip
        m.create(name, model="recs", check=check, alert_above=1e9, window="3d")
    values = {r.monitor: r.value for r in m.check(at=T0 + 3 * DAY)}
    assert values["tr0"] == pytest.approx(3 / 100)
    assert values["tr"] == pytest.approx(4 / 300)
    assert values["ppi"] == pytest.approx(4 / 100)
    assert values["fs"] == pytest.approx(4 / 100)
    assert values["dup"] == pytest.approx(1 / 100)
    assert values["late"] == pytest.approx(1 / 4)


def test_registry_rollback_is_compare_and_set(served: Registry) -> None:
    """Many concurrent rollbacks of the same bad version: exactly one moves the alias."""
    from limelight.registry import AliasMoved

    results: list[str] = []
    start = threading.Barrier(4)

    def run() -> None:
        start.wait()
        try:
            Registry().rollback("recs", "champion", 2, who="t", why="race")
            results.append("moved")
        except AliasMoved:
            results.append("already")

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == ["already", "already", "already", "moved"]
    assert served.alias_versions("recs") == {"champion": 1}


def test_a_breaching_version_that_is_not_behind_the_alias_is_left_alone(served: Registry) -> None:
    served.set_alias("recs", "champion", 1, why="back by hand")
    served.register("recs", {"v": 3})
    served.set_alias("recs", "champion", 3, why="another")
    m = monitors()
    m.create(
        "d",
        model="recs",
        check="psi(scores)",
        alert_above=0.2,
        action="rollback",
        reference="previous 7d",
    )
    [result] = m.check(at=T0 + 8 * DAY)
    assert result.version == 2 and result.alert is not None
    assert result.alert.outcome == "already-rolled-back"  # version 2 was moved off by hand
    assert served.alias_versions("recs") == {"champion": 3}


def test_a_rollback_is_not_refused_by_gates_comparing_with_the_bad_holder(home: Path) -> None:
    from limelight.registry import MetricGate

    registry = Registry()
    registry.register("recs", {"v": 1}, metrics={"ndcg@10": 0.30})
    registry.register("recs", {"v": 2}, metrics={"ndcg@10": 0.40})  # better offline, bad online
    registry.set_gates("recs", [MetricGate("ndcg@10")])
    registry.set_alias("recs", "champion", 1, why="first")
    registry.set_alias("recs", "champion", 2, why="better offline")
    with pytest.raises(Exception, match="refused by"):
        registry.set_alias("recs", "champion", 1, why="by hand: the gate compares with v2")
    event = registry.rollback("recs", "champion", 2, who="monitor:m", why="psi too high")
    assert (event.from_version, event.to_version, event.outcome) == (2, 1, "moved")
    assert event.gates[0]["gate"] == "rollback"
    assert all(g["passed"] for g in event.gates)
    assert registry.alias_versions("recs") == {"champion": 1}
