"""Every name a user gives is shown as text on every page, and every response carries the content
security policy, error pages and the OpenAPI document included."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from tests._legacy import store_experiment_unchecked
from tests.ui._live import TOKEN, LiveServer
from tests.ui._seed import NASTY, Nasty

from limelight.core.config import resolve_config
from limelight.experiments import ExperimentSpec, Variant
from limelight.registry import Registry
from limelight.store import open_store
from limelight.tracking import start_run
from limelight.ui._security import CSP

ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
# a run's flow cannot hold "/" (Run("A/B/7") is not a FLOW/RUN path), so the notebook run's name
# is a second kind of markup
IMG = "<img src=x onerror=alert(2)>"
IMG_ESCAPED = "&lt;img src=x onerror=alert(2)&gt;"


@pytest.fixture(scope="module")
def nasty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    """A store where every free-text name is ``NASTY``, behind a live dashboard."""
    from limelight.ui import create_app

    home: Path = tmp_path_factory.mktemp("ui-nasty")
    config = resolve_config(home=home, cwd=home, environ={})
    flow_run = Nasty.run(config=config, executor="inline")  # artifact, tag and metric names
    with start_run(IMG, params={NASTY: IMG, IMG: NASTY}, tags=[NASTY, IMG], config=config) as run:
        run.log_metric(NASTY, 0.5)
        run.log_metric(IMG, 0.5)
    registry = Registry(config)
    registry.register(
        "policy", {"v": 1}, metrics={NASTY: 0.2, f"{NASTY}.low": 0.1, f"{NASTY}.high": 0.3}
    )
    registry.set_alias("policy", "champion", 1, why=NASTY, who=NASTY)
    spec = ExperimentSpec(
        name=NASTY,
        salt="s",
        variants=(Variant(NASTY, 0.5), Variant("b", 0.5)),
        start=time.time() - 3600,
        status="running",
        description=NASTY,
    )
    store_experiment_unchecked(open_store(config).metadata, spec)  # names are checked today
    writer = open_store(config).event_writer("impressions")
    writer.append(
        {
            "request_id": "r1",
            "ts": time.time() - 60,
            "user_id": "u",
            "items": [NASTY],
            "scores": [1.0],
            "artworks": [NASTY],
            "propensities": [0.5],
            "experiments": [NASTY],
            "variants": [NASTY],
            "models": [NASTY],
            "latency_ms": 3.0,
        }
    )
    writer.close()
    pages = {
        "runs": "/runs",
        "flow run": f"/runs/Nasty/{flow_run.id}",
        "notebook run": f"/runs/{quote(IMG, safe='')}/{run.id}",
        "compare": f"/compare?run={flow_run.id}&run={run.id}",
        "models": "/models",
        "model": "/models/policy",
        "experiments": "/experiments",
        "experiment": f"/experiments/{quote(NASTY, safe='')}",
        "bandits": "/bandits",
        "serving": "/serving",
        "filter error": f"/runs?where={quote(NASTY)}",
        "missing model": f"/models/{quote(IMG, safe='')}",
        "no such page": f"/runs/{quote(NASTY, safe='')}",
        "unknown parameter": f"/runs?{quote(NASTY)}=1",
        "bad run": f"/compare?run={quote(NASTY)}",
    }
    with LiveServer(create_app(config, token=TOKEN)) as server:
        yield server, pages


@pytest.mark.parametrize(
    "page",
    [
        "runs",
        "flow run",
        "notebook run",
        "compare",
        "models",
        "model",
        "experiments",
        "experiment",
        "bandits",
        "serving",
        "filter error",
        "missing model",
        "no such page",
        "unknown parameter",
        "bad run",
    ],
)
def test_every_name_is_escaped_on_every_page(
    nasty: tuple[LiveServer, dict[str, str]], page: str
) -> None:
    server, pages = nasty
    response = httpx.get(server.url + pages[page])
    assert response.status_code < 500, response.text[:300]
    assert NASTY not in response.text and IMG not in response.text
    if page != "missing model":
        assert ESCAPED in response.text or "\\u003cscript\\u003e" in response.text, page
    if page in ("runs", "notebook run", "compare", "missing model"):
        assert IMG_ESCAPED in response.text, page
    assert response.headers["content-security-policy"] == CSP
    assert response.headers["x-content-type-options"] == "nosniff"


def test_the_policy_allows_no_inline_script_and_no_other_origin(
    nasty: tuple[LiveServer, dict[str, str]],
) -> None:
    server, _ = nasty
    for path in ("/runs", "/nothing-here", "/openapi.json", "/static/app.css", "/models/nope"):
        response = httpx.get(server.url + path)
        policy = response.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "'unsafe-inline'" not in policy.split("style")[0]
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
        assert response.headers["x-frame-options"] == "DENY"
