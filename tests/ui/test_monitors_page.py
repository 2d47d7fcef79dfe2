"""The monitors page: each monitor's values over time with its threshold, its alerts, and the
rollbacks next to the model's versions, in a real browser and as HTML."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from tests.monitoring._log import DAY, T0, impressions, write
from tests.ui._live import Console, LiveServer

from limelight.core.config import resolve_config
from limelight.monitoring import Monitors
from limelight.registry import Registry
from limelight.store import open_store

NASTY = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    from limelight.ui import create_app

    home = tmp_path_factory.mktemp("monitors-home")
    config = resolve_config(home=home, cwd=home, environ={})
    rng = np.random.default_rng(0)
    write(config, "impressions", impressions(rng, 1500, T0, 7 * DAY), "week")
    bad = impressions(rng, 400, T0 + 7 * DAY, DAY, version=2, shift=1.5, prefix="b")
    write(config, "impressions", bad, "bad")
    registry = Registry(config)
    registry.register("recs", {"v": 1})
    registry.register("recs", {"v": 2})
    registry.set_alias("recs", "champion", 1, why="first")
    registry.set_alias("recs", "champion", 2, why=NASTY)
    monitors = Monitors(open_store(config))
    monitors.create("drift", model="recs", check="psi(scores)", alert_above=0.2, action="rollback")
    monitors.create("latency", model="recs", check="p99(latency_ms)", alert_above=1000.0)
    monitors.create("never-checked", model="recs", check="ks(scores)")
    for day in range(2, 9):
        monitors.check(["drift", "latency"], at=T0 + day * DAY)
    with LiveServer(create_app(config)) as server:
        yield server


def test_the_page_lists_values_alerts_and_rollbacks(watched: LiveServer) -> None:
    html = httpx.get(watched.url + "/monitors").text
    assert "drift" in html and "psi(scores)" in html and "rolls recs@champion back" in html
    assert "rolled-back" in html and "monitor:drift" in html
    assert "not checked yet" in html
    assert NASTY not in html  # the alias's why is text


def test_the_page_draws_each_monitors_values_and_threshold(
    watched: LiveServer, page: tuple[Any, Console]
) -> None:
    browser_page, console = page
    response = browser_page.goto(watched.url + "/monitors")
    assert response is not None and response.status == 200
    browser_page.wait_for_function(
        "() => [...document.querySelectorAll('div.chart')].every(el => el.dataset.rendered === '1')"
    )
    charts = browser_page.locator("div.chart")
    assert charts.count() == 2
    first = charts.nth(0)
    names = first.evaluate(
        "el => [...el.querySelectorAll('g.trace.scatter')].map(t => t.querySelectorAll('path.point').length)"
    )
    # v1 in the six windows it served, v2 on its one day, and the threshold's two ends
    assert sorted(names) == [1, 2, 6]
    assert browser_page.locator("table.rollbacks tr").count() == 2
    assert console.errors == []
