"""The dashboard's parts on tiny inputs with known answers: graph layout, SVG escaping, arm
statistics, serving percentiles and off-policy rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from limelight.core.config import resolve_config
from limelight.registry import Registry
from limelight.store import open_store
from limelight.ui._events import ArmStats, arm_stats, bandit_stats, ope_rows, serving_stats
from limelight.ui._svg import GanttBar, gantt_svg, graph_layout, graph_svg

BRANCHES = {
    "start": {"next": ["a", "b"], "kind": "branch"},
    "a": {"next": ["join"], "kind": "linear"},
    "b": {"next": ["c"], "kind": "linear"},
    "c": {"next": ["join"], "kind": "linear"},
    "join": {"next": ["end"], "kind": "join"},
    "end": {"next": [], "kind": "end"},
}


def test_graph_layout_puts_each_step_below_its_longest_path() -> None:
    assert graph_layout(BRANCHES) == {
        "start": (0, 0),
        "a": (1, 0),
        "b": (1, 1),
        "c": (2, 0),
        "join": (3, 0),  # below c, the longer branch
        "end": (4, 0),
    }


def test_graph_layout_survives_a_cycle() -> None:
    placed = graph_layout({"x": {"next": ["y"]}, "y": {"next": ["x"]}})
    assert set(placed) == {"x", "y"}


def test_graph_svg_draws_every_step_and_edge_and_escapes_names() -> None:
    graph = {**BRANCHES, "<b>": {"next": [], "kind": "linear"}}
    svg = graph_svg(graph, {"start": "succeeded", "a": "failed"})
    assert svg.count('class="node"') == 7 and svg.count('class="edge"') == 6
    assert "&lt;b&gt;" in svg and "<b>" not in svg
    assert 'data-step="a" data-status="failed"' in svg
    assert 'data-step="end" data-status="not run"' in svg


def test_gantt_bars_scale_to_the_run_and_escape_labels() -> None:
    bars = [
        GanttBar("<i>start</i>", "succeeded", 100.0, 101.0),
        GanttBar("fit[0]", "failed", 101.0, 103.0),
        GanttBar("end", "pending", None, None),
        GanttBar("fit[1]", "running", 102.0, None),
    ]
    svg = gantt_svg(bars, now=104.0)
    assert svg.count('class="bar"') == 3  # the pending task has no bar
    assert "&lt;i&gt;start&lt;/i&gt;" in svg and "<i>" not in svg
    # 4 seconds over 640 pixels: the failed task starts 160 px in and is 320 px wide
    assert 'data-status="failed" x="380.0"' in svg and 'width="320.0"' in svg
    assert "2.000 s so far" in svg
    assert "no task has started" in gantt_svg([GanttBar("x", "pending", None, None)], 1.0)


def _write_events(config: object, impressions: list[dict], feedback: list[dict]) -> None:
    store = open_store(config)  # type: ignore[arg-type]
    for kind, rows in (("impressions", impressions), ("feedback", feedback)):
        writer = store.event_writer(kind)
        for row in rows:
            writer.append(row)
        writer.close()


def _impression(request: str, ts: float, arts: list[str], props: list[float], ms: float) -> dict:
    return {
        "request_id": request,
        "ts": ts,
        "user_id": "u",
        "items": [f"i{k}" for k in range(len(arts))],
        "scores": [1.0] * len(arts),
        "artworks": arts,
        "propensities": props,
        "experiments": [],
        "variants": [],
        "models": ["recs/1"],
        "latency_ms": ms,
    }


def test_arm_stats_count_impressions_plays_and_propensities(tmp_path: Path) -> None:
    config = resolve_config(home=tmp_path, cwd=tmp_path, environ={})
    impressions = [
        _impression("r1", 10.0, ["x", "y"], [0.5, 0.25], 10.0),
        _impression("r2", 11.0, ["x", "x"], [0.5, 0.75], 20.0),
    ]
    play = {"ts": 12.0, "user_id": "u", "event": "play", "value": 1.0}
    feedback = [
        {**play, "request_id": "r1", "item_id": "i1"},  # y in r1
        {**play, "request_id": "r1", "item_id": "i1"},  # the same play twice counts once
        {**play, "request_id": "r2", "item_id": "i0"},  # x in r2
        {**play, "request_id": "r2", "item_id": "i0", "event": "skip"},  # not a play
        {**play, "request_id": "r9", "item_id": "i0"},  # no such impression
    ]
    _write_events(config, impressions, feedback)
    arms, histogram = arm_stats(open_store(config))
    assert [(a.arm, a.impressions, a.plays) for a in arms] == [("x", 3, 1), ("y", 1, 1)]
    assert arms[0].mean_propensity == pytest.approx(1.75 / 3)
    assert arms[0].take_rate == pytest.approx(1 / 3)
    assert histogram[5] == 1 and histogram[10] == 2 and histogram[15] == 1  # 0.25, 0.5, 0.75
    assert sum(histogram) == 4


def test_bandit_stats_bin_the_propensities_on_the_server(tmp_path: Path) -> None:
    config = resolve_config(home=tmp_path, cwd=tmp_path, environ={})
    props = [0.0, 0.04, 0.05, 0.5, 0.99, 1.0, 1.2]  # 1.2 is out of range: counted in the last bin
    _write_events(config, [_impression("r1", 10.0, ["x"] * len(props), props, 1.0)], [])
    stats = bandit_stats(open_store(config), bins=20)
    assert stats.choices == 7 and len(stats.bins) == len(stats.counts) == 20
    assert stats.bins[0] == "0.00-0.05" and stats.bins[-1] == "0.95-1.00"
    assert stats.counts[0] == 2 and stats.counts[1] == 1 and stats.counts[10] == 1
    assert stats.counts[-1] == 3 and sum(stats.counts) == 7


def test_wilson_interval_matches_the_formula() -> None:
    low, high = ArmStats("a", 100, 20, 0.5).interval
    assert (low, high) == pytest.approx((0.1333, 0.2888), abs=1e-4)
    assert all(np.isnan(ArmStats("a", 0, 0, 0.5).interval))


def test_serving_stats_rate_and_percentiles(tmp_path: Path) -> None:
    config = resolve_config(home=tmp_path, cwd=tmp_path, environ={})
    latencies = [float(v) for v in range(1, 101)]  # 1..100 ms, one request each 0.5 s
    impressions = [
        _impression(f"r{i}", 1000.0 + i * 0.5, ["x"], [1.0], ms) for i, ms in enumerate(latencies)
    ]
    impressions[3]["items"] = []
    impressions[3]["artworks"] = []
    impressions[3]["propensities"] = []
    _write_events(config, impressions, [])
    stats = serving_stats(open_store(config))
    assert stats.requests == 100 and stats.empty == 1
    assert stats.bucket == 1.0 and len(stats.times) == 50  # 49.5 s in 1 s buckets
    assert stats.rate[0] == 2.0 and sum(stats.rate) == 100.0
    assert stats.percentiles["p50"] == pytest.approx(np.percentile(latencies, 50))
    assert stats.percentiles["p99"] == pytest.approx(np.percentile(latencies, 99))
    assert stats.model_traffic == {"recs/1": 100}


def test_serving_stats_of_an_empty_log(tmp_path: Path) -> None:
    stats = serving_stats(open_store(resolve_config(home=tmp_path, cwd=tmp_path, environ={})))
    assert stats.requests == 0 and stats.times == [] and np.isnan(stats.percentiles["p50"])


def test_ope_rows_pair_each_estimate_with_its_interval(tmp_path: Path) -> None:
    config = resolve_config(home=tmp_path, cwd=tmp_path, environ={})
    registry = Registry(config)
    registry.register("policy", 1, metrics={"dr": 0.2, "dr.low": 0.1, "dr.high": 0.3, "ips": 0.2})
    registry.register("other", 2, metrics={"ndcg": 0.4})
    rows = ope_rows(registry)
    assert [(r.model, r.version, r.estimator, r.estimate, r.low, r.high) for r in rows] == [
        ("policy", 1, "dr", 0.2, 0.1, 0.3)
    ]


def test_thin_keeps_short_curves_and_thins_long_ones_evenly() -> None:
    from limelight.ui._charts import thin

    assert thin(np.arange(5), np.arange(5) * 2.0) == ([0, 1, 2, 3, 4], [0.0, 2.0, 4.0, 6.0, 8.0])
    x, y = thin(np.arange(10_001), np.arange(10_001) * 1.0, limit=101)
    assert len(x) == 101 and x[0] == 0 and x[-1] == 10_000 and x[1] == 100 and y == x


def test_the_bandit_page_computes_once_until_new_events_arrive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx
    from tests.ui._live import LiveServer

    from limelight.ui import _events, create_app

    config = resolve_config(home=tmp_path, cwd=tmp_path, environ={})
    _write_events(config, [_impression("r1", 10.0, ["art-x"], [0.5], 1.0)], [])
    calls: list[int] = []
    real = _events.bandit_stats

    def counted(store: object) -> object:
        calls.append(1)
        return real(store)  # type: ignore[arg-type]

    monkeypatch.setattr(_events, "bandit_stats", counted)
    with LiveServer(create_app(config)) as server, httpx.Client(base_url=server.url) as client:
        first, second = client.get("/bandits"), client.get("/bandits")
        assert first.status_code == second.status_code == 200
        assert len(calls) == 1 and "art-x" in second.text and "art-y" not in second.text
        _write_events(config, [_impression("r2", 11.0, ["art-y"], [0.5], 1.0)], [])
        third = client.get("/bandits")
        assert len(calls) == 2 and "art-y" in third.text


@pytest.mark.parametrize(
    ("environ", "verdict"),
    [
        ({}, "skip"),
        ({"CI": "0"}, "skip"),
        ({"CI": "false"}, "skip"),
        ({"CI": "1"}, "fail"),
        ({"CI": "true"}, "fail"),
    ],
)
def test_browser_tests_skip_without_chromium_but_fail_under_ci(
    tmp_path: Path, environ: dict[str, str], verdict: str
) -> None:
    from tests.ui._live import browser_verdict

    found = browser_verdict(environ, chromium=str(tmp_path / "no-chromium"))
    assert found is not None and found[0] == verdict and "chromium is not installed" in found[1]
    chromium = tmp_path / "chromium"
    chromium.write_text("")
    assert browser_verdict(environ, chromium=str(chromium)) is None  # playwright is in the venv
