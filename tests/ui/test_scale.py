"""The runs page with 10,000 runs: the server answers each view in under a second.

The runs, their params, tags and five metric values each are bulk-inserted into the metadata
tables (one ``executemany`` per table); the time measured is the server's own, from the
``Server-Timing`` header (queries and template rendering included).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.ui._live import LiveServer

from limelight.core.config import resolve_config
from limelight.store import open_store
from limelight.store.schema import metrics, params, runs, tags

RUNS = 10_000


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    from limelight.ui import create_app

    home: Path = tmp_path_factory.mktemp("ui-big")
    config = resolve_config(home=home, cwd=home, environ={})
    rng = random.Random(7)
    now = time.time() - RUNS
    with open_store(config).metadata.begin() as conn:
        conn.execute(
            runs.insert(),
            [
                {
                    "id": i,
                    "flow": f"Flow{i % 5}",
                    "kind": "flow",
                    "status": "failed" if i % 10 == 0 else "succeeded",
                    "created_at": now + i,
                    "finished_at": now + i + 1,
                }
                for i in range(1, RUNS + 1)
            ],
        )
        conn.execute(
            params.insert(),
            [
                {"run_id": i, "name": "lr", "value": rng.choice([0.01, 0.1])}
                for i in range(1, RUNS + 1)
            ],
        )
        conn.execute(
            tags.insert(), [{"run_id": i, "tag": f"batch{i % 7}"} for i in range(1, RUNS + 1)]
        )
        conn.execute(
            metrics.insert(),
            [
                {"run_id": i, "name": "loss", "step": s, "value": rng.random(), "timestamp": now}
                for i in range(1, RUNS + 1)
                for s in range(5)
            ],
        )
    with LiveServer(create_app(config, token="")) as server:
        yield server


def _server_ms(response: httpx.Response) -> float:
    timing = response.headers["server-timing"]  # app;dur=12.34
    return float(timing.split("dur=")[1])


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?page=200",  # the last page of 50
        "?order=metrics.loss+desc",
        "?where=metrics.loss+%3C+0.5+and+params.lr+%3D+0.1&tag=batch3",
        "?flow=Flow2&status=succeeded&per_page=200",
    ],
)
def test_runs_page_with_10000_runs_is_served_in_under_a_second(big: LiveServer, query: str) -> None:
    with httpx.Client(base_url=big.url) as client:
        client.get("/runs" + query)  # warm the connection pool and the template cache
        response = client.get("/runs" + query)
    assert response.status_code == 200
    took = _server_ms(response)
    assert took < 1000.0, f"/runs{query} took {took:.0f} ms on the server"
    if query == "":
        assert f"{RUNS} matching" in response.text
        assert response.text.count('class="run-link"') == 50
    if query == "?page=200":
        assert "page 200 of 200" in response.text and "Flow1/1<" in response.text
