"""The deployments page in the browser: deployments, next firing, firings, what triggered what."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.scheduling._flows import write_flow
from tests.ui._live import TOKEN, Console, LiveServer

from limelight.core.config import Config, resolve_config


@pytest.fixture(scope="module")
def fired(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """A home with three deployments, one event published and the chain it fired."""
    from limelight.scheduling import SchedulerLoop, deploy
    from limelight.store.published import publish_event

    home = tmp_path_factory.mktemp("deployments-home")
    config = resolve_config(home=home, cwd=home, environ={}).with_(executor="inline")
    folder = Path(home)
    deploy(write_flow(folder, "Ingest", '@trigger(event="new_data")'), config=config)
    deploy(write_flow(folder, "Train", '@trigger_on_finish(flow="Ingest")'), config=config)
    deploy(
        write_flow(folder, "Nightly", '@schedule(cron="0 3 * * *", timezone="Europe/Amsterdam")'),
        config=config,
    )
    publish_event("new_data", {"day": "2026-12-01"}, config=config)
    loop = SchedulerLoop(config, inline=True, name="ui-test")
    loop.acquire()
    loop.run_once()
    loop.run_once()
    loop.release()
    return config


@pytest.fixture(scope="module")
def live_deployments(fired: Config) -> Iterator[LiveServer]:
    from limelight.ui import create_app

    with LiveServer(create_app(fired, token=TOKEN)) as server:
        yield server


def test_deployments_page_shows_next_firing_firings_and_the_chain(
    live_deployments: LiveServer, page: tuple[Any, Console]
) -> None:
    browser_page, console = page
    response = browser_page.goto(live_deployments.url + "/deployments")
    assert response is not None and response.status == 200
    rows = browser_page.locator("#deployments tr").all_inner_texts()
    assert [r.split("\t")[0] for r in rows[1:]] == ["Ingest", "Nightly", "Train"]
    nightly = next(r for r in rows if r.startswith("Nightly"))
    assert "0 3 * * *" in nightly and "Europe/Amsterdam" in nightly
    assert "20" in nightly.split("\t")[3]  # a next firing date is shown
    chain = browser_page.locator("#chain tr").all_inner_texts()
    assert len(chain) == 2 and chain[1].startswith("Ingest/") and "Train/" in chain[1]
    firings = browser_page.locator("#firings tr").all_inner_texts()
    assert len(firings) == 3 and all("succeeded" in f for f in firings[1:])
    browser_page.click("#chain a >> nth=1")  # the run that the chain started
    browser_page.wait_for_url("**/runs/Train/**")
    assert console.errors == []
