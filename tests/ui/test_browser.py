"""The dashboard in a real browser: pages load cleanly, filters and links work, charts draw the
points that were logged, user text stays text, and actions need the token and the CSRF token.

Set ``LIMELIGHT_UI_SCREENSHOTS=docs/screenshots`` to refresh the README's screenshots.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.ui._live import TOKEN, Console, LiveServer
from tests.ui._seed import LOSS_STEPS, NASTY

ALL_CHARTS_DRAWN = (
    "() => [...document.querySelectorAll('div.chart')].every(el => el.dataset.rendered === '1')"
)


def _open(page: Any, url: str) -> None:
    response = page.goto(url)
    assert response is not None and response.status == 200, f"{url}: {response and response.status}"
    page.wait_for_function(ALL_CHARTS_DRAWN)


def _points(page: Any, chart: Any) -> list[int]:
    """Drawn markers per trace of one chart."""
    return chart.evaluate(
        "el => [...el.querySelectorAll('g.trace.scatter')].map(t => t.querySelectorAll("
        "'path.point').length)"
    )


def test_every_page_loads_without_console_errors(
    live: LiveServer, seeded: Any, page: tuple[Any, Console], tmp_path: Path
) -> None:
    browser_page, console = page
    info = seeded[1]
    shots = Path(os.environ.get("LIMELIGHT_UI_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    pages = {
        "runs": "/runs",
        "run": f"/runs/Train/{info['train'].id}",
        "compare": "/compare?" + "&".join(f"run={i}" for i in info["notebooks"]),
        "models": "/models",
        "model": "/models/recs",
        "experiments": "/experiments",
        "experiment": "/experiments/button",
        "bandits": "/bandits",
        "serving": "/serving",
    }
    for name, path in pages.items():
        _open(browser_page, live.url + path)
        assert browser_page.locator("main h1").count() == 1, name
        browser_page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    assert console.errors == []
    assert (shots / "serving.png").stat().st_size > 10_000
    response = browser_page.goto(live.url + "/")
    assert response is not None and browser_page.url.endswith("/runs")


def test_filters_sorting_pagination_and_links(live: LiveServer, page: tuple[Any, Console]) -> None:
    browser_page, console = page
    _open(browser_page, live.url + "/runs")
    browser_page.select_option("select[name=flow]", "sweep")
    browser_page.click("#filters button")
    browser_page.wait_for_url("**flow=sweep**")
    assert browser_page.locator("#runs tbody tr").count() == 3
    # the final auc of the three sweep runs is 0.567, 0.633 and 0.7
    browser_page.fill("input[name=where]", "metrics.auc > 0.6")
    browser_page.click("#filters button")
    browser_page.wait_for_url("**where=**")
    assert browser_page.locator("#runs tbody tr").count() == 2
    browser_page.click("th a:text('auc')")  # sort by the metric, highest first
    values = browser_page.locator("#runs tbody tr td.num:last-of-type").all_inner_texts()
    assert values == sorted(values, reverse=True)
    _open(browser_page, live.url + "/runs?tag=demo")
    assert browser_page.locator("#runs tbody tr").count() == 1
    _open(browser_page, live.url + "/runs?per_page=25&status=succeeded")
    total = int(browser_page.inner_text("#total").split()[0])
    assert browser_page.locator("#runs tbody tr").count() == min(total, 25)
    bad = browser_page.goto(live.url + "/runs?where=metrics.auc+%3E")
    assert bad is not None and bad.status == 400
    assert "expected" in browser_page.inner_text("pre.error-message")
    _open(browser_page, live.url + "/runs?flow=Train")
    browser_page.click("a.run-link")
    browser_page.wait_for_url("**/runs/Train/*")
    assert browser_page.inner_text("h1").startswith("Train/")
    assert console.errors == [] or all("400" in e for e in console.errors)


def test_run_page_draws_graph_timeline_and_metric_points(
    live: LiveServer, seeded: Any, page: tuple[Any, Console]
) -> None:
    browser_page, console = page
    run = seeded[1]["train"]
    _open(browser_page, f"{live.url}/runs/Train/{run.id}")
    nodes = browser_page.locator("svg.flow-graph g.node")
    assert sorted(nodes.evaluate_all("ns => ns.map(n => n.dataset.step)")) == [
        "end",
        "fit",
        "join",
        "start",
    ]
    assert set(nodes.evaluate_all("ns => ns.map(n => n.dataset.status)")) == {"succeeded"}
    assert browser_page.locator("svg.flow-graph path.edge").count() == 3
    assert browser_page.locator("svg.gantt rect.bar").count() == 5  # start, 2 x fit, join, end
    assert _points(browser_page, browser_page.locator("div.chart").first) == [LOSS_STEPS]
    logs = browser_page.locator("pre.log").all_text_contents()
    assert "fitting with rate 0.1\n" in logs and "fitting with rate 0.3\n" in logs
    assert browser_page.locator("#params").inner_text().count("optimizer") == 1
    artifacts = browser_page.inner_text("#artifacts")
    assert "weights" in artifacts and "npy float64 4" in artifacts
    assert console.errors == []


def test_compare_overlays_one_curve_per_run(
    live: LiveServer, seeded: Any, page: tuple[Any, Console]
) -> None:
    browser_page, console = page
    _open(browser_page, live.url + "/runs?flow=sweep")
    boxes = browser_page.locator("#runs input[type=checkbox]")
    boxes.nth(0).check()
    boxes.nth(2).check()
    browser_page.click("#compare-form > button")
    browser_page.wait_for_url("**/compare?run=*")
    browser_page.wait_for_function(ALL_CHARTS_DRAWN)
    assert browser_page.locator("#compare tr.param").count() == 1  # lr
    assert _points(browser_page, browser_page.locator("div.chart").first) == [5, 5]
    assert console.errors == []


def test_resume_lineage_links_both_ways(
    live: LiveServer, seeded: Any, page: tuple[Any, Console]
) -> None:
    browser_page, _ = page
    failed, resumed = seeded[1]["failed"], seeded[1]["resumed"]
    _open(browser_page, f"{live.url}/runs/Flaky/{resumed.id}")
    browser_page.click(f"#lineage a:text('Flaky/{failed.id}')")
    browser_page.wait_for_url(f"**/runs/Flaky/{failed.id}")
    assert "failed" in browser_page.inner_text("h1")
    assert browser_page.locator(f"#lineage a:text('Flaky/{resumed.id}')").count() == 1
    assert "not yet" in browser_page.inner_text("body")


def test_user_text_is_escaped_and_never_runs(
    live: LiveServer, seeded: Any, page: tuple[Any, Console]
) -> None:
    browser_page, console = page
    nasty = seeded[1]["nasty"]
    _open(browser_page, f"{live.url}/runs/Nasty/{nasty.id}")
    assert NASTY in browser_page.inner_text("p .tag")
    assert NASTY in browser_page.locator("td.artifact-name").all_inner_texts()
    assert NASTY in browser_page.locator("div.chart .gtitle").text_content()
    _open(browser_page, f"{live.url}/runs?flow=Nasty")
    assert NASTY in browser_page.inner_text("#runs .tag")
    assert browser_page.locator("script:not([src]):not([type='application/json'])").count() == 0
    assert console.dialogs == [] and console.errors == []


def test_moving_an_alias_needs_the_token_and_the_csrf_token(
    live: LiveServer, page: tuple[Any, Console]
) -> None:
    browser_page, _ = page
    _open(browser_page, live.url + "/models/recs")
    browser_page.fill("input[name=alias]", "staging")
    browser_page.fill("input[name=version]", "1")
    browser_page.fill("input[name=token]", "wrong")
    browser_page.click("form.action button")
    assert "wrong token" in browser_page.inner_text("pre.error-message")
    _open(browser_page, live.url + "/models/recs")
    assert "staging" not in browser_page.inner_text("#aliases")
    browser_page.fill("input[name=alias]", "staging")
    browser_page.fill("input[name=version]", "1")
    browser_page.fill("input[name=why]", "from the dashboard")
    browser_page.fill("input[name=token]", TOKEN)
    browser_page.click("form.action button")
    browser_page.wait_for_url("**/models/recs")
    assert "staging\tv1" in browser_page.inner_text("#aliases")
    assert "from the dashboard" in browser_page.inner_text("#history")
    # a forged post: right token, but no CSRF cookie / a cookie that does not match
    form = {"alias": "staging", "version": "2", "token": TOKEN, "csrf": "x" * 43}
    forged = httpx.post(live.url + "/models/recs/alias", data=form)
    assert forged.status_code == 403 and "CSRF" in forged.text
    other_site = httpx.post(
        live.url + "/models/recs/alias",
        data=form,
        cookies={"limelight_csrf": "x" * 43},
        headers={"origin": "https://evil.example"},
    )
    assert other_site.status_code == 403 and "another origin" in other_site.text
    _open(browser_page, live.url + "/models/recs")
    assert "staging\tv1" in browser_page.inner_text("#aliases")


def test_stopping_an_experiment_needs_the_token(
    live: LiveServer, page: tuple[Any, Console]
) -> None:
    browser_page, _ = page
    _open(browser_page, live.url + "/experiments/draft-exp")
    browser_page.fill("input[name=token]", TOKEN)
    browser_page.click("form.action button")
    browser_page.wait_for_url("**/experiments/draft-exp")
    assert "stopped" in browser_page.inner_text("h1")
    assert browser_page.locator("form.action").count() == 0


def test_read_only_without_a_token(seeded: Any, page: tuple[Any, Console]) -> None:
    from limelight.ui import create_app

    browser_page, _ = page
    with LiveServer(create_app(seeded[0], token="")) as server:
        _open(browser_page, server.url + "/models/recs")
        assert browser_page.locator("form.action").count() == 0
        assert "read-only" in browser_page.inner_text("nav")
        refused = httpx.post(server.url + "/models/recs/alias", data={"alias": "x"})
    assert refused.status_code == 403 and "read-only" in refused.text


def test_experiment_bandit_and_serving_numbers(live: LiveServer, page: tuple[Any, Console]) -> None:
    browser_page, console = page
    _open(browser_page, live.url + "/experiments/button")
    assert browser_page.locator("#allocation tr").count() == 3  # header + 2 arms
    assert "no mismatch" in browser_page.inner_text("#srm")
    days = _points(browser_page, browser_page.locator("div.chart").first)
    assert days[0] == 3 and len(days) == 5  # estimate and 4 bounds, one point a day
    _open(browser_page, live.url + "/experiments")
    assert "ease vs popularity" in browser_page.inner_text("#interleaving")
    _open(browser_page, live.url + "/bandits")
    assert browser_page.locator("#arms tr").count() == 4  # header + art-a, art-b, art-c
    assert browser_page.locator("#ope tr").count() == 3  # header + 2 policy versions
    _open(browser_page, live.url + "/serving")
    assert "champion → v2" in browser_page.inner_text("#served")
    assert console.errors == []


@pytest.mark.parametrize("path", ["/runs/Train/999999", "/models/nope", "/experiments/nope"])
def test_missing_things_are_404_pages(live: LiveServer, path: str) -> None:
    response = httpx.get(live.url + path)
    assert response.status_code == 404
    assert "<h1>That did not work</h1>" in response.text
