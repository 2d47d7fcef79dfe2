"""The dashboard reads what it is sent strictly: numbers are ASCII digits within int64, a page
takes only the parameters it lists, ``/compare`` honours the flow, the alias form parses its
version strictly and shows a gate's refusal, and the filter grammar's errors are 400 pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.ui._live import TOKEN, LiveServer

from limelight.core.config import Config, resolve_config
from limelight.registry import MetricGate, Registry

BIG = "9223372036854775808"  # 2**63: one past the largest id


@pytest.fixture(scope="module")
def client(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url) as test_client:
        yield test_client


def _message(response: Any) -> str:
    found = re.search(r'<pre class="error-message">(.*?)</pre>', response.text, re.S)
    assert found is not None, response.text[:500]
    return unescape(found.group(1))


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/runs?page=9223372036854775807", 404, "there is no page 9223372036854775807"),
        (f"/runs?page={BIG}", 400, "at most 9223372036854775807"),
        ("/runs?page=\u0663", 400, "written with the digits 0-9"),
        ("/runs?page=%C2%B2", 400, "written with the digits 0-9"),  # ²
        ("/runs?page=%201%20", 400, "not ' 1 '"),
        ("/runs?page=1_0", 400, "not '1_0'"),
        ("/runs?page=%2B1", 400, "not '+1'"),
        ("/runs?per_page=\u0665\u0660", 400, "per_page must be a whole number"),
        ("/runs?page=" + "9" * 5000, 400, "page must be a whole number"),
        (f"/runs/Train/{BIG}", 404, "there is no run Train/9223372036854775808"),
        ("/runs/Train/\u0663", 404, "there is no run"),
        ("/runs/Train/0", 404, "there is no run"),
        ("/runs/Train/abc", 404, "there is no run"),
        (f"/compare?run={BIG}", 404, f"there is no run {BIG}"),
        ("/compare?run=" + "9" * 5000, 404, "there is no run"),
        ("/compare?run=%C2%B2", 400, "is not a run"),
        ("/compare?run=\u0663", 400, "is not a run"),
        ("/compare?run=/1", 400, "is not a run"),
        ("/compare?run=0", 404, "there is no run 0"),
        ("/runs?where=flow+%3D+%27%5Cq%27", 400, "unknown escape \\q"),
        ("/runs?where=flow+%3D+%27%5Cu12%27", 400, "exactly four hex digits"),
        ("/runs?where=flow+%3D+%27a%09b%27", 400, "raw control character"),
        ("/runs?where=flow+%3D+%27%5Cudc00%27", 400, "lone surrogate"),
        (f"/runs?where=id+%3D+{BIG}", 400, "does not fit in 64 bits"),
        ("/runs?where=id+%3C+true", 400, "id is a number"),
        ("/runs?where=" + "+and+".join(["id%3E0"] * 2000), 400, "at most 200 comparisons"),
        ("/runs?order=metrics.%60a", 400, "never closed"),
        ("/runs?flow=a%00b", 400, "NUL"),
    ],
)
def test_bad_numbers_and_filters_are_clear_errors(
    client: httpx.Client, path: str, status: int, message: str
) -> None:
    response = client.get(path)
    assert response.status_code == status, (path, _message(response))
    assert message in _message(response)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            "/runs?sort=metrics.auc",
            "has no parameter 'sort': it takes flow, status, tag, where, order",
        ),
        ("/runs?page=1&page=2", "give 'page' once"),
        ("/models?name=recs", "GET /models has no parameter 'name': it takes none"),
        ("/bandits?x=1", "has no parameter 'x'"),
        ("/compare?runs=1", "it takes run"),
        ("/runs/Train/1?debug=1", "has no parameter 'debug'"),
        ("/openapi.json?format=yaml", "has no parameter 'format'"),
    ],
)
def test_unknown_query_parameters_are_named(client: httpx.Client, path: str, message: str) -> None:
    response = client.get(path)
    assert response.status_code == 400
    assert message in _message(response)


def test_compare_honours_the_flow_name(
    client: httpx.Client, seeded: tuple[Config, dict[str, Any]]
) -> None:
    train = seeded[1]["train"].id
    assert client.get(f"/compare?run=Train/{train}").status_code == 200
    wrong = client.get(f"/compare?run=Reg/{train}")
    assert wrong.status_code == 404 and f"there is no run Reg/{train}" in _message(wrong)
    bare = client.get(f"/compare?run={train}&run=Train/{train}")  # a bare id: any flow
    assert bare.status_code == 200 and bare.text.count(f">Train/{train}</a></th>") == 1


def test_the_runs_page_sends_flow_and_id_to_compare(client: httpx.Client) -> None:
    page = client.get("/runs?flow=sweep")
    values = re.findall(r'name="run" value="([^"]+)"', page.text)
    assert len(values) == 3 and all(v.startswith("sweep/") for v in values)
    assert client.get("/compare?" + "&".join(f"run={v}" for v in values)).status_code == 200


@pytest.fixture
def models(tmp_path: Path) -> Iterator[tuple[httpx.Client, Registry]]:
    """A dashboard over a fresh registry (recs v1..v3, champion v2 behind an ndcg gate)."""
    from limelight.ui import create_app

    config = resolve_config(home=tmp_path, cwd=tmp_path, environ={})
    registry = Registry(config)
    for ndcg in (0.31, 0.35, 0.33):
        registry.register("recs", {"ndcg": ndcg}, metrics={"ndcg@10": ndcg})
    registry.set_alias("recs", "champion", 2, why="best")
    registry.set_gates("recs", [MetricGate("ndcg@10")])
    with (
        LiveServer(create_app(config, token=TOKEN)) as server,
        httpx.Client(base_url=server.url) as test_client,
    ):
        yield test_client, registry


def _csrf(client: httpx.Client, path: str = "/models/recs") -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert found is not None
    return found.group(1)


def _move(client: httpx.Client, **fields: str) -> Any:
    form = {"alias": "staging", "csrf": _csrf(client), "token": TOKEN, **fields}
    return client.post("/models/recs/alias", data=form)


@pytest.mark.parametrize("version", [" 1 ", "1_0", "\u0661", "\u00b2", "+1", "1.0", "", BIG])
def test_the_alias_form_reads_versions_strictly(
    models: tuple[httpx.Client, Registry], version: str
) -> None:
    client, registry = models
    response = _move(client, version=version)
    assert response.status_code == 400
    assert "is not a version: a version is a positive integer" in _message(response)
    assert "staging" not in registry.alias_versions("recs")


def test_a_version_in_digits_moves_the_alias(models: tuple[httpx.Client, Registry]) -> None:
    client, registry = models
    response = _move(client, version="1", why="from a test")
    assert response.status_code == 303 and response.headers["location"] == "/models/recs"
    assert registry.alias_versions("recs")["staging"] == 1


def test_a_move_refused_by_a_gate_shows_the_gate_and_its_reason(
    models: tuple[httpx.Client, Registry],
) -> None:
    client, registry = models
    response = _move(client, alias="champion", version="3", why="no dataset: the metric decides")
    assert response.status_code == 409
    assert "A promotion gate refused the move" in response.text
    gates = re.findall(r'<td class="gate">(.*?)</td><td class="reason">(.*?)</td>', response.text)
    assert len(gates) == 1 and "ndcg@10" in unescape(gates[0][0] + gates[0][1])
    assert registry.alias_versions("recs")["champion"] == 2
    assert registry.history("recs")[-1].outcome == "refused"


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"colour": "red"}, 400, "form has no parameter 'colour'"),
        ({"headers": {"origin": "null"}}, 403, "Origin: null"),
        ({"headers": {"origin": "https://evil.example"}}, 403, "another origin"),
        ({"csrf": "1.forged"}, 403, "CSRF token does not match"),
        ({"content": b"alias=%FF", "type": "application/x-www-form-urlencoded"}, 400, "not UTF-8"),
        ({"content": b"{}", "type": "application/json"}, 400, "expected a form"),
    ],
)
def test_bad_or_foreign_actions_are_refused_and_change_nothing(
    models: tuple[httpx.Client, Registry], change: dict[str, Any], status: int, message: str
) -> None:
    client, registry = models
    form = {"alias": "staging", "version": "1", "csrf": _csrf(client), "token": TOKEN}
    change = dict(change)
    headers = change.pop("headers", {})
    if "content" in change:
        headers["content-type"] = change.pop("type")
        response = client.post("/models/recs/alias", content=change["content"], headers=headers)
    else:
        response = client.post("/models/recs/alias", data={**form, **change}, headers=headers)
    assert response.status_code == status
    assert message in _message(response)
    assert "staging" not in registry.alias_versions("recs")


def test_a_model_name_no_model_can_have_is_a_404(client: httpx.Client) -> None:
    response = client.get("/models/not%20a%20name")
    assert response.status_code == 404 and "is not a model name" in _message(response)
