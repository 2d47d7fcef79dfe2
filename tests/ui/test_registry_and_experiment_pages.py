"""The model page's alias form goes through the usage-rights gate and the page shows the
switch; the experiment page leaves out what another experiment decided.

Requests go to a live dashboard, as from a browser that keeps the CSRF session cookie.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.ui._live import LiveServer

from limelight import Flow, current, step
from limelight.core.config import resolve_config
from limelight.experiments import ExperimentSpec, Variant
from limelight.experiments.store import create_experiment
from limelight.registry import Registry
from limelight.store import open_store
from limelight.ui import create_app

TOKEN = "s3cret"


class Research(Flow):
    @step
    def start(self):
        current.use_dataset("clicks", "v1", license="internal", usage="research-only")
        current.register_model("research", [1.0])
        self.next(self.end)

    @step
    def end(self):
        pass


def _csrf(client: httpx.Client, name: str) -> str:
    """The CSRF token of the model page's form, as a browser gets it."""
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(f"/models/{name}").text)
    assert found, "the model page carries a CSRF token"
    return found.group(1)


def _post_alias(client: httpx.Client, name: str, **form: str) -> httpx.Response:
    """Post the alias form as the page does."""
    data = {**form, "token": TOKEN, "csrf": _csrf(client, name)}
    return client.post(f"/models/{name}/alias", data=data)


def _move(client: httpx.Client, name: str, **form: str) -> str:
    """Post the alias form; the page shown afterwards."""
    return _post_alias(client, name, **form).text


@pytest.fixture
def client(home: Path) -> Iterator[httpx.Client]:
    """A browser-like client (it keeps the CSRF session cookie) of a live dashboard."""
    with (
        LiveServer(create_app(resolve_config(), token=TOKEN)) as server,
        httpx.Client(base_url=server.url, follow_redirects=True) as browser,
    ):
        yield browser


def test_the_form_is_refused_for_research_data_until_the_gate_is_off(client: httpx.Client) -> None:
    Research.run()
    page = _move(client, "research", alias="champion", version="1", why="best offline")
    assert Registry().alias_versions("research") == {}
    assert "usage rights: &#39;champion&#39; needs data usable for" in page
    Registry().set_usage_gate("research", False, why="an internal study", who="ana")
    page = client.get("/models/research").text
    assert "usage rights on <code>champion</code>: OFF</strong>, switched off by ana" in page
    assert "an internal study" in page and "usage-rights gate off" in page
    _move(client, "research", alias="champion", version="1", why="for the study")
    assert Registry().get("research@champion").version == 1


def test_the_form_needs_a_why_for_a_version_without_datasets(client: httpx.Client) -> None:
    Registry().register("m", [1])
    page = _move(client, "m", alias="champion", version="1", why="")
    assert "no dataset in its lineage" in page
    assert Registry().alias_versions("m") == {}
    _move(client, "m", alias="champion", version="1", why="a hand-made baseline")
    assert Registry().get("m@champion").version == 1
    assert "usage rights on <code>champion</code>: on" in client.get("/models/m").text


@pytest.mark.parametrize(
    ("version", "message"),
    [("99999999999999999999", "from 1 to 9223372036854775807"), ("1_0", "digits 0-9 only")],
)
def test_the_form_refuses_impossible_versions(
    client: httpx.Client, version: str, message: str
) -> None:
    Registry().register("m", [1])
    response = _post_alias(client, "m", alias="champion", version=version, why="x")
    assert response.status_code == 400 and message in response.text
    assert Registry().history("m") == []


def test_the_form_cannot_set_an_alias_named_latest(client: httpx.Client) -> None:
    Registry().register("m", [1])
    Registry().register("m", [2])
    response = _post_alias(client, "m", alias="latest", version="1", why="x")
    assert response.status_code == 400 and "&#39;latest&#39; is reserved" in response.text
    assert Registry().alias_versions("m") == {}
    assert Registry().get("m@latest").version == 2


def test_the_experiment_page_counts_impressions_another_experiment_decided(
    client: httpx.Client,
) -> None:
    store = open_store()
    spec = ExperimentSpec(
        name="fuzz-ab",
        salt="fuzz-ab",
        variants=(Variant("control", 0.5, "recs/1"), Variant("treatment", 0.5, "recs/2")),
        status="running",
    )
    create_experiment(store.metadata, spec)
    impressions = store.event_writer("impressions", flush_seconds=3600)
    for i in range(40):
        impressions.append(
            {
                "request_id": f"r{i}",
                "ts": 1000.0 + i,
                "user_id": f"u{i % 20}",
                "items": ["a"],
                "experiments": ["fuzz-ab", "other"],
                "variants": ["control" if i % 2 else "treatment", "x"],
                "decided": [i >= 3, i < 3],
            }
        )
    impressions.close()
    store.event_writer("feedback", flush_seconds=3600).close()
    page = client.get("/experiments/fuzz-ab").text
    assert '<span id="undecided"> · 3 impressions were served a model another experiment' in page
    assert re.search(
        r'id="snapshots">Event log read at: feedback empty \(no snapshot yet\) · '
        r"impressions snapshot \d+<",
        page,
    ), page
