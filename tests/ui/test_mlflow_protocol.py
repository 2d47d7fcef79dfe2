"""MLflow's REST protocol on a live Limelight server, driven with httpx (no MLflow here).

Every request below is one MLflow's own client or server would send or refuse; the answers are
MLflow's error codes and statuses, never a 500, and what was written lands in Limelight's own
tables (read back through ``limelight.tracking`` and the registry).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.ui._live import LiveServer

from limelight.core.config import Config, resolve_config
from limelight.core.errors import NotFoundError
from limelight.registry import MetricGate, Registry
from limelight.tracking import metric_history, search_runs

TOKEN = "mlflow-token-0123456789"
API = "/api/2.0/mlflow"


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    home = tmp_path_factory.mktemp("mlflow-home")
    return resolve_config(home=home, cwd=home, environ={})


@pytest.fixture(scope="module")
def server(config: Config) -> Iterator[LiveServer]:
    from limelight.ui import create_app

    with LiveServer(create_app(config, token=TOKEN)) as live:
        yield live


@pytest.fixture(scope="module")
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.url, headers={"authorization": f"Bearer {TOKEN}"}, timeout=30
    ) as client:
        yield client


def _ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code, body
    return str(body["message"])


@pytest.fixture(scope="module")
def run_id(api: httpx.Client) -> str:
    experiment = _ok(api.post(f"{API}/experiments/create", json={"name": "proto"}))
    run = _ok(
        api.post(
            f"{API}/runs/create",
            json={"experiment_id": experiment["experiment_id"], "run_name": "r1", "start_time": 1},
        )
    )
    return str(run["run"]["info"]["run_id"])


def test_a_run_written_through_mlflow_is_a_limelight_run(
    api: httpx.Client, run_id: str, config: Config
) -> None:
    _ok(api.post(f"{API}/runs/log-parameter", json={"run_id": run_id, "key": "l2", "value": "500"}))
    for step, value in enumerate([0.5, 0.4, 0.3]):
        _ok(
            api.post(
                f"{API}/runs/log-metric",
                json={
                    "run_id": run_id,
                    "key": "loss",
                    "value": value,
                    "timestamp": 5,
                    "step": step,
                },
            )
        )
    _ok(api.post(f"{API}/runs/set-tag", json={"run_id": run_id, "key": "team", "value": "recs"}))
    got = _ok(api.get(f"{API}/runs/get", params={"run_id": run_id}))["run"]
    assert got["info"]["run_name"] == "r1" and got["info"]["status"] == "RUNNING"
    assert {"key": "l2", "value": "500"} in got["data"]["params"]
    assert [m["value"] for m in got["data"]["metrics"] if m["key"] == "loss"] == [0.3]
    history = _ok(
        api.get(f"{API}/metrics/get-history", params={"run_id": run_id, "metric_key": "loss"})
    )
    assert [m["value"] for m in history["metrics"]] == [0.5, 0.4, 0.3]
    found = search_runs(flow="proto", where="metrics.loss < 0.35", config=config)
    assert [r.id for r in found] == [int(run_id)] and found[0].params["l2"] == "500"
    assert list(metric_history(int(run_id), "loss", config=config)["loss"].values) == [
        0.5,
        0.4,
        0.3,
    ]
    searched = _ok(
        api.post(
            f"{API}/runs/search",
            json={
                "experiment_ids": [got["info"]["experiment_id"]],
                "filter": "params.l2 = '500' and metrics.loss <= 0.3 and tags.team LIKE 're%'",
            },
        )
    )
    assert [r["info"]["run_id"] for r in searched["runs"]] == [run_id]
    _ok(
        api.post(f"{API}/runs/update", json={"run_id": run_id, "status": "FINISHED", "end_time": 9})
    )
    assert search_runs(flow="proto", config=config)[0].status == "succeeded"


def test_non_finite_metrics_and_json_params_read_back_as_mlflow_writes_them(
    api: httpx.Client,
) -> None:
    experiment = _ok(api.post(f"{API}/experiments/create", json={"name": "non-finite"}))
    run = _ok(api.post(f"{API}/runs/create", json={"experiment_id": experiment["experiment_id"]}))
    run_id = run["run"]["info"]["run_id"]
    assert run["run"]["inputs"] == {}  # as MLflow's server shows a run without inputs
    sent = [("NaN", "NaN"), ("Infinity", "Infinity"), ("-Infinity", "-Infinity"), (1.5, 1.5)]
    for step, (value, _) in enumerate(sent):  # protobuf's JSON sends non-finite values as text
        _ok(
            api.post(
                f"{API}/runs/log-metric",
                json={"run_id": run_id, "key": "m", "value": value, "timestamp": 1, "step": step},
            )
        )
    # a NaN literal (Python's json.dumps) is read too
    _ok(
        api.post(
            f"{API}/runs/log-metric",
            content=b'{"run_id": "%s", "key": "lit", "value": NaN, "timestamp": 1}'
            % run_id.encode(),
            headers={"content-type": "application/json"},
        )
    )
    history = _ok(
        api.get(f"{API}/metrics/get-history", params={"run_id": run_id, "metric_key": "m"})
    )
    assert [m["value"] for m in history["metrics"]] == [want for _, want in sent]
    got = _ok(api.get(f"{API}/runs/get", params={"run_id": run_id}))["run"]
    assert {m["key"]: m["value"] for m in got["data"]["metrics"]} == {"m": 1.5, "lit": "NaN"}
    _ok(
        api.post(
            f"{API}/runs/log-parameter", json={"run_id": run_id, "key": "q", "value": 'a"b\\c'}
        )
    )
    found = _ok(
        api.post(
            f"{API}/runs/search",
            json={"experiment_ids": [experiment["experiment_id"]], "filter": "params.q LIKE 'a%'"},
        )
    )
    (searched,) = found["runs"]
    assert searched["data"]["metrics"] == got["data"]["metrics"]
    assert searched["data"]["params"] == [{"key": "q", "value": 'a"b\\c'}]


def test_changing_a_param_is_refused_and_keeps_the_first_value(
    api: httpx.Client, run_id: str
) -> None:
    _ok(api.post(f"{API}/runs/log-parameter", json={"run_id": run_id, "key": "k", "value": "a"}))
    _ok(api.post(f"{API}/runs/log-parameter", json={"run_id": run_id, "key": "k", "value": "a"}))
    message = _error(
        api.post(f"{API}/runs/log-parameter", json={"run_id": run_id, "key": "k", "value": "b"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "Changing param values is not allowed" in message
    got = _ok(api.get(f"{API}/runs/get", params={"run_id": run_id}))["run"]
    assert {"key": "k", "value": "a"} in got["data"]["params"]


@pytest.mark.parametrize(
    ("body", "what"),
    [
        (
            {"metrics": [{"key": f"m{i}", "value": 1, "timestamp": 1} for i in range(1001)]},
            "1000 metrics",
        ),
        ({"params": [{"key": f"p{i}", "value": "v"} for i in range(101)]}, "100 params"),
        ({"tags": [{"key": f"t{i}", "value": "v"} for i in range(101)]}, "100 tags"),
        (
            {
                "metrics": [{"key": f"m{i}", "value": 1, "timestamp": 1} for i in range(950)],
                "params": [{"key": f"p{i}", "value": "v"} for i in range(60)],
            },
            "1000 metrics, params",
        ),
    ],
)
def test_oversized_batches_are_refused_whole(
    api: httpx.Client, run_id: str, body: dict[str, Any], what: str
) -> None:
    before = _ok(api.get(f"{API}/runs/get", params={"run_id": run_id}))["run"]["data"]
    message = _error(
        api.post(f"{API}/runs/log-batch", json={"run_id": run_id, **body}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "at most" in message
    after = _ok(api.get(f"{API}/runs/get", params={"run_id": run_id}))["run"]["data"]
    assert after == before


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        (
            "POST",
            "runs/log-metric",
            {"run_id": "1", "key": "x", "value": "high", "timestamp": 1},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "POST",
            "runs/log-metric",
            {"run_id": "1", "key": "x", "timestamp": 1},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "POST",
            "runs/log-metric",
            {"run_id": "1", "key": "x", "value": 1, "step": "one"},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "POST",
            "runs/log-metric",
            {"run_id": "424242", "key": "x", "value": 1, "timestamp": 1},
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
        (
            "POST",
            "runs/log-metric",
            {"run_id": "not-a-run", "key": "x", "value": 1},
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
        (
            "POST",
            "runs/log-parameter",
            {"run_id": "1", "key": "", "value": "v"},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "POST",
            "runs/log-parameter",
            {"run_id": "1", "key": "../x", "value": "v"},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "POST",
            "runs/log-parameter",
            {"run_id": "1", "key": "p", "value": {"a": 1}},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "POST",
            "runs/log-parameter",
            {"run_id": "1", "key": "p", "value": "v" * 6001},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "POST",
            "runs/log-batch",
            {"run_id": "1", "metrics": "all"},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        ("POST", "runs/log-batch", {"run_id": "1", "metrics": [5]}, 400, "INVALID_PARAMETER_VALUE"),
        (
            "POST",
            "runs/set-tag",
            {"run_id": "1", "key": 5, "value": "v"},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "POST",
            "runs/delete-tag",
            {"run_id": "1", "key": "never-set"},
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
        ("POST", "runs/create", {"experiment_id": "987654"}, 404, "RESOURCE_DOES_NOT_EXIST"),
        (
            "POST",
            "runs/create",
            {"experiment_id": "0", "start_time": "soon"},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        ("POST", "runs/update", {"run_id": "1", "status": "DONE"}, 400, "INVALID_PARAMETER_VALUE"),
        (
            "POST",
            "runs/search",
            {"experiment_ids": ["0"], "filter": "metrics.x > 'a'"},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "POST",
            "runs/search",
            {"experiment_ids": ["0"], "filter": "params.x > '1'"},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "POST",
            "runs/search",
            {"experiment_ids": ["0"], "filter": "foo.x = 1"},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "POST",
            "runs/search",
            {"experiment_ids": ["0"], "filter": "metrics.x > 1 or metrics.y > 1"},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "POST",
            "runs/search",
            {"experiment_ids": ["0"], "filter": "metrics.x >"},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "POST",
            "runs/search",
            {"experiment_ids": ["0"], "order_by": ["metrics.x sideways"]},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "POST",
            "runs/search",
            {"experiment_ids": ["0"], "max_results": 50001},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "POST",
            "runs/search",
            {"experiment_ids": ["0"], "page_token": "garbage!"},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        ("POST", "experiments/create", {}, 400, "INVALID_PARAMETER_VALUE"),
        ("POST", "experiments/create", {"name": ["x"]}, 400, "INVALID_PARAMETER_VALUE"),
        ("POST", "experiments/create", {"name": "Default"}, 400, "RESOURCE_ALREADY_EXISTS"),
        ("POST", "experiments/delete", {"experiment_id": "0"}, 400, "INVALID_PARAMETER_VALUE"),
        ("GET", "experiments/get", {"experiment_id": "31337"}, 404, "RESOURCE_DOES_NOT_EXIST"),
        ("GET", "experiments/get", {}, 400, "INVALID_PARAMETER_VALUE"),
        (
            "GET",
            "experiments/get-by-name",
            {"experiment_name": "nope"},
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
        ("GET", "metrics/get-history", {"run_id": "1"}, 400, "INVALID_PARAMETER_VALUE"),
        (
            "GET",
            "metrics/get-history",
            {"run_id": "1", "metric_key": "loss", "max_results": "x"},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        ("GET", "registered-models/get", {"name": "nothing-here"}, 404, "RESOURCE_DOES_NOT_EXIST"),
        (
            "POST",
            "model-versions/create",
            {"name": "nothing-here", "source": "s"},
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
        (
            "GET",
            "model-versions/get",
            {"name": "nothing-here", "version": "x"},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        ("GET", "logged-models/m-missing", {}, 404, "RESOURCE_DOES_NOT_EXIST"),
        ("GET", "no/such/endpoint", {}, 404, "ENDPOINT_NOT_FOUND"),
        (
            "POST",
            "model-versions/transition-stage",
            {"name": "nothing-here", "version": "1", "stage": "Staging"},
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
        (
            "POST",
            "registered-models/rename",
            {"name": "nothing-here", "new_name": "x"},
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
        (
            "DELETE",
            "model-versions/delete",
            {"name": "nothing-here", "version": "1"},
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
        (
            "DELETE",
            "registered-models/delete",
            {"name": "nothing-here"},
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
        (
            "POST",
            "runs/log-metric",
            {"run_id": "1", "key": "m", "value": 1.0, "timestamp": 1, "model_id": "m-missing"},
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
        (
            "POST",
            "runs/log-metric",
            {"run_id": "1", "key": "m", "value": 1.0, "timestamp": 1, "model_id": ["m-1"]},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
    ],
)
def test_bad_requests_get_mlflows_error_codes(
    api: httpx.Client,
    run_id: str,
    method: str,
    path: str,
    body: dict[str, Any],
    status: int,
    code: str,
) -> None:
    body = {k: (run_id if v == "1" and k == "run_id" else v) for k, v in body.items()}
    if method == "GET":
        response = api.get(f"{API}/{path}", params=body)
    else:
        response = api.request(method, f"{API}/{path}", json=body)
    _error(response, status, code)


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b"\xff\xfe", "application/json"),
    ],
)
def test_malformed_bodies_are_refused(api: httpx.Client, content: bytes, kind: str) -> None:
    response = api.post(f"{API}/runs/create", content=content, headers={"content-type": kind})
    _error(response, 400, "MALFORMED_REQUEST")


def test_writes_need_the_token_and_reads_stay_open(server: LiveServer, run_id: str) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as anonymous:
        _error(
            anonymous.post(f"{API}/experiments/create", json={"name": "sneaky"}),
            401,
            "UNAUTHENTICATED",
        )
        _error(
            anonymous.post(
                f"{API}/experiments/create",
                json={"name": "sneaky"},
                headers={"authorization": "Bearer wrong"},
            ),
            403,
            "PERMISSION_DENIED",
        )
        _ok(anonymous.get(f"{API}/runs/get", params={"run_id": run_id}))
        # MLflow's searches are POSTs that only read: open without the token too
        _ok(anonymous.post(f"{API}/runs/search", json={"experiment_ids": ["0"]}))
        _ok(anonymous.post(f"{API}/experiments/search", json={"max_results": 5}))
        _error(
            anonymous.post(
                f"{API}/runs/log-metric", json={"run_id": run_id, "key": "k", "value": 1}
            ),
            401,
            "UNAUTHENTICATED",
        )
        _ok(anonymous.get(f"{API}/experiments/get-by-name", params={"experiment_name": "proto"}))
        _error(
            anonymous.get(f"{API}/experiments/get-by-name", params={"experiment_name": "sneaky"}),
            404,
            "RESOURCE_DOES_NOT_EXIST",
        )


def test_search_pages_through_runs_in_order(api: httpx.Client) -> None:
    experiment = _ok(api.post(f"{API}/experiments/create", json={"name": "pages"}))["experiment_id"]
    ids = []
    for i in range(5):
        run = _ok(
            api.post(
                f"{API}/runs/create", json={"experiment_id": experiment, "start_time": 1000 + i}
            )
        )
        ids.append(run["run"]["info"]["run_id"])
        _ok(
            api.post(
                f"{API}/runs/log-metric",
                json={"run_id": ids[-1], "key": "m", "value": i, "timestamp": 1},
            )
        )
    seen, token = [], None
    while True:
        body = {"experiment_ids": [experiment], "max_results": 2, "order_by": ["metrics.m DESC"]}
        if token:
            body["page_token"] = token
        page = _ok(api.post(f"{API}/runs/search", json=body))
        seen += [r["info"]["run_id"] for r in page.get("runs", [])]
        token = page.get("next_page_token")
        if not token:
            break
    assert seen == ids[::-1]


def test_an_alias_set_through_mlflow_goes_through_the_gates(
    api: httpx.Client, config: Config, tmp_path: Path
) -> None:
    _ok(api.post(f"{API}/registered-models/create", json={"name": "gated"}))
    for _ in range(2):
        _ok(api.post(f"{API}/model-versions/create", json={"name": "gated", "source": "s3://x"}))
    registry = Registry(config)
    registry.set_gates("gated", [MetricGate("ndcg", aliases=("prod",))])
    message = _error(
        api.post(
            f"{API}/registered-models/alias",
            json={"name": "gated", "alias": "prod", "version": "2"},
        ),
        409,
        "RESOURCE_CONFLICT",
    )
    assert "metric" in message.lower()
    assert registry.alias_versions("gated") == {}
    assert registry.history("gated")[-1].outcome == "refused"
    _ok(
        api.post(
            f"{API}/registered-models/alias",
            json={"name": "gated", "alias": "staging", "version": "2"},
        )
    )
    got = _ok(
        api.get(f"{API}/registered-models/alias", params={"name": "gated", "alias": "staging"})
    )
    assert got["model_version"]["version"] == "2"
    assert registry.alias_versions("gated") == {"staging": 2}


def test_a_batch_metric_without_timestamp_is_named_by_its_index(
    api: httpx.Client, run_id: str
) -> None:
    message = _error(
        api.post(
            f"{API}/runs/log-batch",
            json={
                "run_id": run_id,
                "metrics": [
                    {"key": "ok", "value": 1.0, "timestamp": 1},
                    {"key": "mae", "value": 2.5},
                ],
            },
        ),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "Missing value for required parameter 'metrics[1].timestamp'" in message
    got = _ok(api.get(f"{API}/runs/get", params={"run_id": run_id}))["run"]
    assert "ok" not in {m["key"] for m in got["data"]["metrics"]}  # refused whole


def test_registry_searches_filter_and_order_as_mlflows_server(api: httpx.Client) -> None:
    for name in ("SearchA1", "searcha2", "SearchB1"):
        _ok(api.post(f"{API}/registered-models/create", json={"name": name}))
    _ok(
        api.post(
            f"{API}/registered-models/set-tag",
            json={"name": "SearchB1", "key": "mlflow.prompt.is_prompt", "value": "true"},
        )
    )

    def models(where: str) -> list[str]:
        found = _ok(api.get(f"{API}/registered-models/search", params={"filter": where}))
        return [m["name"] for m in found.get("registered_models", []) if "earch" in m["name"]]

    # what MLflow 3's client sends: the user's filter AND "not a prompt" (no tag matches !=)
    prompt = "tag.`mlflow.prompt.is_prompt` != 'true'"
    assert models(f"name LIKE 'Search%' AND {prompt}") == ["SearchA1"]  # LIKE keeps case
    assert models(f"name ILIKE 'search%' AND {prompt}") == ["SearchA1", "searcha2"]
    assert models("tags.`mlflow.prompt.is_prompt` = 'true'") == ["SearchB1"]
    _error(
        api.get(f"{API}/registered-models/search", params={"filter": "name LIKE 'x' OR 1"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )

    # versions: a run id that is no Limelight run is kept as MLflow's text (no lineage)
    for name, run in (("SearchA1", "elsewhere-1"), ("searcha2", "elsewhere-1"), ("SearchA1", "x")):
        _ok(
            api.post(
                f"{API}/model-versions/create",
                json={"name": name, "source": f"runs:/{run}/model", "run_id": run},
            )
        )

    def versions(**params: Any) -> list[tuple[str, str]]:
        found = _ok(api.get(f"{API}/model-versions/search", params=params))
        return [  # the module's server holds other tests' models too
            (v["name"], v["version"])
            for v in found.get("model_versions", [])
            if "earch" in v["name"]
        ]

    newest_first = [("SearchA1", "2"), ("searcha2", "1"), ("SearchA1", "1")]
    assert versions() == newest_first
    assert versions(filter="run_id = 'elsewhere-1'") == newest_first[1:]
    assert versions(filter="name LIKE 'search%'") == [("searcha2", "1")]
    assert versions(filter="source_path = 'runs:/x/model'") == [("SearchA1", "2")]
    assert versions(order_by="version_number DESC") == [
        ("SearchA1", "2"),
        ("SearchA1", "1"),
        ("searcha2", "1"),
    ]
    got = _ok(api.get(f"{API}/model-versions/get", params={"name": "SearchA1", "version": "1"}))
    assert got["model_version"]["run_id"] == "elsewhere-1"
    for bad_filter in ("version_number LIKE '1'", "stage = 'x'", "name = unquoted"):
        _error(
            api.get(f"{API}/model-versions/search", params={"filter": bad_filter}),
            400,
            "INVALID_PARAMETER_VALUE",
        )
    _error(
        api.get(f"{API}/model-versions/search", params={"order_by": "size DESC"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    # a copied version (source models:/NAME/VERSION) downloads from the original's location
    _ok(
        api.post(
            f"{API}/model-versions/create",
            json={"name": "searcha2", "source": "models:/SearchA1/2"},
        )
    )
    uri = _ok(
        api.get(
            f"{API}/model-versions/get-download-uri", params={"name": "searcha2", "version": "2"}
        )
    )
    assert uri["artifact_uri"] == "runs:/x/model"


def test_run_search_like_is_case_sensitive_and_ilike_is_not(api: httpx.Client) -> None:
    experiment = _ok(api.post(f"{API}/experiments/create", json={"name": "cases"}))
    for name in ("Alpha", "alpha", "ALPHA_2"):
        _ok(
            api.post(
                f"{API}/runs/create",
                json={"experiment_id": experiment["experiment_id"], "run_name": name},
            )
        )

    def names(where: str) -> list[str]:
        found = _ok(
            api.post(
                f"{API}/runs/search",
                json={"experiment_ids": [experiment["experiment_id"]], "filter": where},
            )
        )
        return sorted(r["info"]["run_name"] for r in found.get("runs", []))

    assert names("attributes.run_name LIKE 'Al%'") == ["Alpha"]
    assert names("attributes.run_name LIKE 'a%'") == ["alpha"]
    assert names("attributes.run_name LIKE 'ALPHA_%'") == ["ALPHA_2"]
    assert names("attributes.run_name LIKE '%[%'") == []  # GLOB's specials are plain text
    assert names("attributes.run_name ILIKE 'al%'") == ["ALPHA_2", "Alpha", "alpha"]
    experiments = _ok(api.post(f"{API}/experiments/search", json={"filter": "name LIKE 'Ca%'"}))
    assert "experiments" not in experiments or all(
        e["name"].startswith("Ca") for e in experiments["experiments"]
    )


def test_artifacts_round_trip_and_refuse_escaping_paths(api: httpx.Client) -> None:
    base = "/api/2.0/mlflow-artifacts/artifacts"
    _ok(api.put(f"{base}/9/1/artifacts/dir/a.txt", content=b"hello"))
    assert api.get(f"{base}/9/1/artifacts/dir/a.txt").content == b"hello"
    listing = _ok(api.get(base, params={"path": "9/1/artifacts"}))
    assert listing["files"] == [{"path": "dir", "is_dir": True}]
    _error(api.get(f"{base}/9/1/artifacts/missing.txt"), 404, "RESOURCE_DOES_NOT_EXIST")
    _error(api.get(base, params={"path": "../etc"}), 400, "INVALID_PARAMETER_VALUE")
    with httpx.Client(base_url=str(api.base_url), timeout=30) as anonymous:
        _error(anonymous.put(f"{base}/9/1/artifacts/b.txt", content=b"x"), 401, "UNAUTHENTICATED")


def test_a_runs_artifacts_list_and_download_as_mlflows_server_and_web_ui_serve_them(
    api: httpx.Client, server: LiveServer
) -> None:
    experiment = _ok(api.post(f"{API}/experiments/create", json={"name": "files"}))
    run = _ok(api.post(f"{API}/runs/create", json={"experiment_id": experiment["experiment_id"]}))
    info = run["run"]["info"]
    root = info["artifact_uri"].removeprefix("mlflow-artifacts:/")
    base = "/api/2.0/mlflow-artifacts/artifacts"
    _ok(api.put(f"{base}/{root}/notes.txt", content=b"top"))
    _ok(api.put(f"{base}/{root}/model/MLmodel", content=b"flavors: {}\n"))
    _ok(api.put(f"{base}/{root}/model/model.pkl", content=b"\x00\x01pickle"))
    run_id = info["run_id"]

    listed = _ok(api.get(f"{API}/artifacts/list", params={"run_id": run_id}))
    assert listed == {
        "root_uri": info["artifact_uri"],
        "files": [
            {"path": "model", "is_dir": True},
            {"path": "notes.txt", "is_dir": False, "file_size": 3},
        ],
    }
    inner = _ok(api.get(f"{API}/artifacts/list", params={"run_id": run_id, "path": "model"}))
    assert [(f["path"], f.get("file_size")) for f in inner["files"]] == [
        ("model/MLmodel", 12),
        ("model/model.pkl", 8),
    ]
    empty = _ok(api.get(f"{API}/artifacts/list", params={"run_id": run_id, "path": "none"}))
    assert empty == {"root_uri": info["artifact_uri"]}  # MLflow omits an empty list

    with httpx.Client(base_url=server.url, timeout=30) as anonymous:  # a read: open
        got = anonymous.get("/get-artifact", params={"run_id": run_id, "path": "model/model.pkl"})
        assert got.status_code == 200 and got.content == b"\x00\x01pickle"
        assert got.headers["content-disposition"] == 'attachment; filename="model.pkl"'
        assert got.headers["x-content-type-options"] == "nosniff"
        by_uuid = anonymous.get("/get-artifact", params={"run_uuid": run_id, "path": "notes.txt"})
        assert by_uuid.content == b"top" and by_uuid.headers["content-type"].startswith("text/")

    _ok(api.post(f"{API}/registered-models/create", json={"name": "filed"}))
    source = f"{info['artifact_uri']}/model"
    created = _ok(
        api.post(
            f"{API}/model-versions/create",
            json={"name": "filed", "source": source, "run_id": run_id},
        )
    )
    version = created["model_version"]["version"]
    # the version keeps the files it was registered with, whatever the run's folder holds later
    _ok(api.put(f"{base}/{root}/model/model.pkl", content=b"changed"))
    got = api.get(
        "/model-versions/get-artifact",
        params={"name": "filed", "version": version, "path": "model.pkl"},
    )
    assert got.status_code == 200 and got.content == b"\x00\x01pickle"
    assert got.headers["content-disposition"] == 'attachment; filename="model.pkl"'

    bad_requests = [
        (api.get(f"{API}/artifacts/list"), 400, "INVALID_PARAMETER_VALUE"),
        (
            api.get(f"{API}/artifacts/list", params={"run_id": "999999"}),
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
        (
            api.get(f"{API}/artifacts/list", params={"run_id": "abc"}),
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
        (
            api.get(f"{API}/artifacts/list", params={"run_id": run_id, "path": "../../x"}),
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (api.get("/get-artifact", params={"path": "notes.txt"}), 400, "INVALID_PARAMETER_VALUE"),
        (api.get("/get-artifact", params={"run_id": run_id}), 400, "INVALID_PARAMETER_VALUE"),
        (
            api.get("/get-artifact", params={"run_id": run_id, "path": "/etc/passwd"}),
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            api.get("/get-artifact", params={"run_id": run_id, "path": "model/../../x"}),
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            api.get("/get-artifact", params={"run_id": run_id, "path": "missing.txt"}),
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
        (
            api.get("/get-artifact", params={"run_id": "424242", "path": "notes.txt"}),
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
        (
            api.get("/model-versions/get-artifact", params={"name": "filed", "version": version}),
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            api.get(
                "/model-versions/get-artifact",
                params={"name": "filed", "version": "x", "path": "MLmodel"},
            ),
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            api.get(
                "/model-versions/get-artifact",
                params={"name": "filed", "version": "99", "path": "MLmodel"},
            ),
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
        (
            api.get(
                "/model-versions/get-artifact",
                params={"name": "nobody", "version": "1", "path": "MLmodel"},
            ),
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
        (
            api.get(
                "/model-versions/get-artifact",
                params={"name": "filed", "version": version, "path": "../MLmodel"},
            ),
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            api.get(
                "/model-versions/get-artifact",
                params={"name": "filed", "version": version, "path": "nope.bin"},
            ),
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
    ]
    for response, status, code in bad_requests:
        _error(response, status, code)
    # repeated slashes are merged, as MLflow's server (Werkzeug) merges them; the path is
    # checked before the model is looked up, as MLflow does
    doubled = api.get(  # an absolute URL: httpx would read "//..." as another host
        f"{server.url}//model-versions/get-artifact",
        params={"name": "no-such-model", "version": "1", "path": "../path"},
    )
    assert doubled.status_code == 400
    assert doubled.json() == {"error_code": "INVALID_PARAMETER_VALUE", "message": "Invalid path"}
    # a run whose artifacts live outside this server (an explicit location) is refused, named
    elsewhere = _ok(
        api.post(
            f"{API}/experiments/create",
            json={"name": "files-elsewhere", "artifact_location": "s3://bucket/x"},
        )
    )
    outside = _ok(
        api.post(f"{API}/runs/create", json={"experiment_id": elsewhere["experiment_id"]})
    )
    message = _error(
        api.get(f"{API}/artifacts/list", params={"run_id": outside["run"]["info"]["run_id"]}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "s3://bucket/x" in message


def test_limelight_server_is_a_second_name_of_limelight_ui(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.cli._run import run_cli

    code, out, _ = run_cli(capsys, "server", "--help")
    assert code == 0 and "MLflow's REST API" in out
    code, _, err = run_cli(capsys, "server", "--port", "70000")
    assert code == 2 and "70000" in err


def test_what_the_api_acknowledged_survives_kill_9(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.ui._live import free_port

    port = free_port()
    import limelight

    source = str(Path(limelight.__file__).resolve().parents[1])  # this checkout's Limelight
    env = {**os.environ, "LIMELIGHT_HOME": str(tmp_path / "home"), "LIMELIGHT_TOKEN": TOKEN}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [source, env.get("PYTHONPATH")]))
    for name in ("LIMELIGHT_DB", "LIMELIGHT_ARTIFACTS"):
        env.pop(name, None)
    command = [sys.executable, "-c", "from limelight.cli import main; main()", "ui"]
    server = subprocess.Popen(
        [*command, "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        with httpx.Client(base_url=url, headers={"authorization": f"Bearer {TOKEN}"}) as api:
            while True:
                try:
                    api.get(f"{API}/experiments/get", params={"experiment_id": "0"})
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline and server.poll() is None
                    time.sleep(0.1)
            run = _ok(api.post(f"{API}/runs/create", json={"experiment_id": "0"}))
            run_id = run["run"]["info"]["run_id"]
            for step in range(20):
                body = {"run_id": run_id, "key": "m", "value": step, "timestamp": 1, "step": step}
                _ok(api.post(f"{API}/runs/log-metric", json=body))
    finally:
        os.kill(server.pid, signal.SIGKILL)
        server.wait(10)
    config = resolve_config(home=tmp_path / "home", cwd=tmp_path, environ={})
    assert list(metric_history(int(run_id), "m", config=config)["m"].values) == list(range(20))


@pytest.mark.postgres
def test_the_protocol_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    from limelight.ui import create_app

    config = resolve_config(home=tmp_path, db=postgres_url, cwd=tmp_path, environ={})
    with (
        LiveServer(create_app(config, token=TOKEN)) as live,
        httpx.Client(
            base_url=live.url, headers={"authorization": f"Bearer {TOKEN}"}, timeout=30
        ) as api,
    ):
        experiment = _ok(api.post(f"{API}/experiments/create", json={"name": "pg"}))
        runs = []
        for i in range(3):
            run = _ok(api.post(f"{API}/runs/create", json=experiment | {"start_time": i}))
            run_id = run["run"]["info"]["run_id"]
            runs.append(run_id)
            batch = {
                "run_id": run_id,
                "metrics": [{"key": "ndcg", "value": i / 10, "timestamp": 1, "step": 0}],
                "params": [{"key": "l2", "value": str(i * 100)}],
                "tags": [{"key": "team", "value": "recs"}],
            }
            _ok(api.post(f"{API}/runs/log-batch", json=batch))
        found = _ok(
            api.post(
                f"{API}/runs/search",
                json={
                    "experiment_ids": [experiment["experiment_id"]],
                    "filter": "params.l2 = '100' and metrics.ndcg >= 0.1 and tags.team = 'recs'",
                },
            )
        )
        assert [r["info"]["run_id"] for r in found["runs"]] == [runs[1]]
        _error(
            api.post(
                f"{API}/runs/log-parameter", json={"run_id": runs[0], "key": "l2", "value": "9"}
            ),
            400,
            "INVALID_PARAMETER_VALUE",
        )
        _ok(api.post(f"{API}/registered-models/create", json={"name": "pg-model"}))
        _ok(api.post(f"{API}/model-versions/create", json={"name": "pg-model", "source": "x"}))
        alias = {"name": "pg-model", "alias": "staging", "version": "1"}
        _ok(api.post(f"{API}/registered-models/alias", json=alias))
        assert Registry(config).alias_versions("pg-model") == {"staging": 1}


def _version(api: httpx.Client, name: str, version: int) -> dict[str, Any]:
    found = _ok(api.get(f"{API}/model-versions/get", params={"name": name, "version": version}))
    return dict(found["model_version"])


def _latest(api: httpx.Client, name: str, stages: list[str] | None = None) -> dict[str, str]:
    body: dict[str, Any] = {"name": name, **({"stages": stages} if stages is not None else {})}
    found = _ok(api.post(f"{API}/registered-models/get-latest-versions", json=body))
    return {v["current_stage"]: v["version"] for v in found["model_versions"]}


def test_stages_are_kept_and_latest_versions_follow_them(api: httpx.Client) -> None:
    _ok(api.post(f"{API}/registered-models/create", json={"name": "staged"}))
    for _ in range(4):
        _ok(api.post(f"{API}/model-versions/create", json={"name": "staged", "source": "s3://x"}))
    assert _version(api, "staged", 1)["current_stage"] == "None"
    before = _version(api, "staged", 1)["last_updated_timestamp"]
    moved = _ok(
        api.post(
            f"{API}/model-versions/transition-stage",
            json={"name": "staged", "version": "1", "stage": "production"},
        )
    )["model_version"]
    assert moved["current_stage"] == "Production", "a stage's name is taken in any case"
    assert moved["last_updated_timestamp"] >= before
    for version, stage in ((2, "Staging"), (3, "Staging")):
        _ok(
            api.post(
                f"{API}/model-versions/transition-stage",
                json={"name": "staged", "version": str(version), "stage": stage},
            )
        )
    assert _latest(api, "staged") == {"None": "4", "Staging": "3", "Production": "1"}
    assert _latest(api, "staged", ["Staging", "None"]) == {"None": "4", "Staging": "3"}
    _ok(
        api.post(
            f"{API}/model-versions/transition-stage",
            json={
                "name": "staged",
                "version": "4",
                "stage": "Production",
                "archive_existing_versions": True,
            },
        )
    )
    assert [_version(api, "staged", v)["current_stage"] for v in (1, 2, 3, 4)] == [
        "Archived",
        "Staging",
        "Staging",
        "Production",
    ]
    model = _ok(api.get(f"{API}/registered-models/get", params={"name": "staged"}))
    assert {v["version"] for v in model["registered_model"]["latest_versions"]} == {"1", "3", "4"}
    for stage in ("Live", ""):
        message = _error(
            api.post(
                f"{API}/model-versions/transition-stage",
                json={"name": "staged", "version": "2", "stage": stage},
            ),
            400,
            "INVALID_PARAMETER_VALUE",
        )
        assert "Staging" in message
    _error(
        api.post(
            f"{API}/registered-models/get-latest-versions",
            json={"name": "staged", "stages": ["Gold"]},
        ),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    _error(
        api.post(
            f"{API}/model-versions/transition-stage",
            json={"name": "staged", "version": "9", "stage": "Staging"},
        ),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    assert _version(api, "staged", 2)["current_stage"] == "Staging", "a refusal changes nothing"


def test_deleting_and_renaming_through_mlflow_go_through_the_registry(
    api: httpx.Client, config: Config
) -> None:
    registry = Registry(config)
    _ok(api.post(f"{API}/registered-models/create", json={"name": "churn"}))
    for _ in range(3):
        _ok(api.post(f"{API}/model-versions/create", json={"name": "churn", "source": "s3://x"}))
    _ok(
        api.request(
            "DELETE", f"{API}/model-versions/delete", json={"name": "churn", "version": "3"}
        )
    )
    _error(
        api.request(
            "DELETE", f"{API}/model-versions/delete", json={"name": "churn", "version": "3"}
        ),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    made = _ok(api.post(f"{API}/model-versions/create", json={"name": "churn", "source": "s3://y"}))
    assert made["model_version"]["version"] == "4", "a deleted version's number is not reused"
    assert [v.version for v in registry.versions("churn")] == [1, 2, 4]

    _ok(
        api.post(
            f"{API}/registered-models/alias",
            json={"name": "churn", "alias": "live", "version": "2"},
        )
    )
    for method, path, body in (
        ("DELETE", "model-versions/delete", {"name": "churn", "version": "2"}),
        ("DELETE", "registered-models/delete", {"name": "churn"}),
        ("POST", "registered-models/rename", {"name": "churn", "new_name": "churn2"}),
    ):
        message = _error(api.request(method, f"{API}/{path}", json=body), 400, "INVALID_STATE")
        assert "churn@live points at version 2" in message
    assert [v.version for v in registry.versions("churn")] == [1, 2, 4]

    _ok(
        api.request(
            "DELETE", f"{API}/registered-models/alias", json={"name": "churn", "alias": "live"}
        )
    )
    _ok(api.post(f"{API}/registered-models/create", json={"name": "taken"}))
    _error(
        api.post(f"{API}/registered-models/rename", json={"name": "churn", "new_name": "taken"}),
        400,
        "RESOURCE_ALREADY_EXISTS",
    )
    _ok(
        api.post(
            f"{API}/registered-models/set-tag",
            json={"name": "churn", "key": "team", "value": "growth"},
        )
    )
    renamed = _ok(
        api.post(f"{API}/registered-models/rename", json={"name": "churn", "new_name": "retention"})
    )["registered_model"]
    assert renamed["name"] == "retention"
    assert renamed["tags"] == [{"key": "team", "value": "growth"}], "the model's tags move with it"
    _error(
        api.get(f"{API}/registered-models/get", params={"name": "churn"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    assert [v.version for v in registry.versions("retention")] == [1, 2, 4]
    assert [e.outcome for e in registry.history("retention")] == ["moved", "removed"]

    _ok(api.request("DELETE", f"{API}/registered-models/delete", json={"name": "retention"}))
    assert "retention" not in registry.models()
    _ok(api.post(f"{API}/registered-models/create", json={"name": "retention"}))
    again = _ok(api.post(f"{API}/model-versions/create", json={"name": "retention", "source": "s"}))
    assert again["model_version"]["version"] == "1", "a model created afresh counts from 1"


def test_a_metric_logged_with_a_model_id_is_among_the_logged_models_metrics(
    api: httpx.Client, run_id: str, config: Config
) -> None:
    experiment = _ok(api.get(f"{API}/runs/get", params={"run_id": run_id}))["run"]["info"][
        "experiment_id"
    ]
    model_id = _ok(api.post(f"{API}/logged-models", json={"experiment_id": experiment}))["model"][
        "info"
    ]["model_id"]
    metric = {
        "run_id": run_id,
        "key": "val_auc",
        "value": 0.75,
        "timestamp": 123456789,
        "step": 3,
        "model_id": model_id,
        "dataset_name": "holdout",
        "dataset_digest": "abc123",
    }
    _ok(api.post(f"{API}/runs/log-metric", json=metric))
    _ok(
        api.post(
            f"{API}/runs/log-batch",
            json={"run_id": run_id, "metrics": [{**metric, "key": "val_loss", "value": 0.5}]},
        )
    )
    found = _ok(api.get(f"{API}/logged-models/{model_id}"))["model"]["data"]["metrics"]
    expected = {k: v for k, v in metric.items() if k != "run_id"} | {"run_id": run_id}
    assert found == [expected, {**expected, "key": "val_loss", "value": 0.5}]
    searched = _ok(api.post(f"{API}/logged-models/search", json={"experiment_ids": [experiment]}))
    assert [
        m["data"].get("metrics") for m in searched["models"] if m["info"]["model_id"] == model_id
    ] == [found]
    history = metric_history(int(run_id), "val_auc", config=config)["val_auc"]
    assert (int(history.steps[-1]), float(history.values[-1])) == (3, 0.75), "a run metric too"
    bad_batch = {"run_id": run_id, "metrics": [{**metric, "key": "lost", "model_id": "m-nope"}]}
    _error(api.post(f"{API}/runs/log-batch", json=bad_batch), 404, "RESOURCE_DOES_NOT_EXIST")
    with pytest.raises(NotFoundError, match="has no metric 'lost'"):
        metric_history(int(run_id), "lost", config=config)  # a refused batch writes nothing


def test_a_relative_artifact_location_is_made_absolute_as_mlflows_server_does(
    api: httpx.Client,
) -> None:
    made = _ok(
        api.post(
            f"{API}/experiments/create",
            json={"name": "located", "artifact_location": "my_location"},
        )
    )
    got = _ok(api.get(f"{API}/experiments/get", params={"experiment_id": made["experiment_id"]}))
    assert got["experiment"]["artifact_location"] == str(Path.cwd() / "my_location")
    made = _ok(
        api.post(
            f"{API}/experiments/create",
            json={"name": "located-s3", "artifact_location": "s3://bucket/exp"},
        )
    )
    got = _ok(api.get(f"{API}/experiments/get", params={"experiment_id": made["experiment_id"]}))
    assert got["experiment"]["artifact_location"] == "s3://bucket/exp", "a URI stays as given"


def test_experiment_tag_filters_compare_as_mlflows_server(api: httpx.Client) -> None:
    for name, tags in (("tf-a", {"key": "value"}), ("tf-ab", {"key": "vaLue"}), ("tf-abc", {})):
        body = {"name": name, "tags": [{"key": k, "value": v} for k, v in tags.items()]}
        _ok(api.post(f"{API}/experiments/create", json=body))

    def names(text: str) -> set[str]:
        found = _ok(
            api.post(f"{API}/experiments/search", json={"filter": text, "max_results": 1000})
        )
        return {e["name"] for e in found["experiments"] if e["name"].startswith("tf-")}

    assert names("tag.key = 'value'") == {"tf-a"}
    assert names("tags.key = 'value'") == {"tf-a"}
    assert names("tag.key != 'value'") == {"tf-ab"}, "an experiment without the tag is left out"
    assert names("tag.key ILIKE '%alu%'") == {"tf-a", "tf-ab"}
    assert names("tag.key LIKE '%alu%'") == {"tf-a"}, "LIKE is case-sensitive"
    _error(
        api.post(f"{API}/experiments/search", json={"filter": "tag.key > 'value'"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    found = _ok(api.get(f"{API}/experiments/get-by-name", params={"experiment_name": "tf-ab"}))
    before = found["experiment"]
    _ok(api.post(f"{API}/experiments/delete", json={"experiment_id": before["experiment_id"]}))
    after = _ok(
        api.get(f"{API}/experiments/get", params={"experiment_id": before["experiment_id"]})
    )
    assert after["experiment"]["lifecycle_stage"] == "deleted"
    assert after["experiment"]["last_update_time"] == before["last_update_time"], (
        "deleting leaves the last update time, as MLflow's server does"
    )


def test_logged_models_are_named_apart_and_searched_by_dataset_and_order(
    api: httpx.Client, run_id: str
) -> None:
    experiment = _ok(api.post(f"{API}/experiments/create", json={"name": "lm-search"}))[
        "experiment_id"
    ]
    made = [
        _ok(api.post(f"{API}/logged-models", json={"experiment_id": experiment}))["model"]["info"]
        for _ in range(2)
    ]
    assert made[0]["name"] != made[1]["name"], "an unnamed model gets a name of its own"
    _ok(
        api.post(
            f"{API}/runs/log-metric",
            json={
                "run_id": run_id,
                "key": "auc",
                "value": 0.7,
                "timestamp": 1,
                "model_id": made[0]["model_id"],
                "dataset_name": "eval",
                "dataset_digest": "d1",
            },
        )
    )

    def search(**body: Any) -> list[str]:
        found = _ok(
            api.post(f"{API}/logged-models/search", json={"experiment_ids": [experiment], **body})
        )
        return [m["info"]["model_id"] for m in found["models"]]

    ids = [m["model_id"] for m in made]
    assert search(datasets=[{"dataset_name": "eval", "dataset_digest": "d1"}]) == ids[:1]
    assert search(datasets=[{"dataset_name": "eval"}]) == ids[:1]
    assert search(datasets=[{"dataset_name": "eval", "dataset_digest": "other"}]) == []
    assert search(order_by=[{"field_name": "creation_timestamp", "ascending": True}]) == ids
    assert search(order_by=[{"field_name": "creation_timestamp", "ascending": False}]) == ids[::-1]
    _error(
        api.post(
            f"{API}/logged-models/search",
            json={"experiment_ids": [experiment], "order_by": [{"field_name": "size"}]},
        ),
        400,
        "INVALID_PARAMETER_VALUE",
    )


def test_a_runs_model_inputs_and_outputs_read_back(api: httpx.Client) -> None:
    experiment = _ok(api.post(f"{API}/experiments/create", json={"name": "io"}))["experiment_id"]
    run = _ok(api.post(f"{API}/runs/create", json={"experiment_id": experiment}))["run"]["info"][
        "run_id"
    ]
    model = _ok(api.post(f"{API}/logged-models", json={"experiment_id": experiment}))["model"][
        "info"
    ]["model_id"]
    _ok(api.post(f"{API}/runs/log-inputs", json={"run_id": run, "models": [{"model_id": model}]}))
    _ok(
        api.post(
            f"{API}/runs/outputs", json={"run_id": run, "models": [{"model_id": model, "step": 1}]}
        )
    )
    got = _ok(api.get(f"{API}/runs/get", params={"run_id": run}))["run"]
    assert got["inputs"] == {"model_inputs": [{"model_id": model}]}
    assert got["outputs"] == {"model_outputs": [{"model_id": model, "step": 1}]}


def test_bulk_metric_histories_for_mlflows_charts(api: httpx.Client) -> None:
    experiment = _ok(api.post(f"{API}/experiments/create", json={"name": "bulk"}))["experiment_id"]
    runs = []
    for steps in (10, 20):
        run = _ok(api.post(f"{API}/runs/create", json={"experiment_id": experiment}))["run"]
        runs.append(run["info"]["run_id"])
        batch = [
            {"key": "loss", "value": 1.0 / (s + 1), "timestamp": 1000 + s, "step": s}
            for s in range(steps)
        ]
        _ok(api.post(f"{API}/runs/log-batch", json={"run_id": runs[-1], "metrics": batch}))
    ajax = "/ajax-api/2.0/mlflow/metrics"

    bulk = _ok(api.get(f"{ajax}/get-history-bulk", params={"run_id": runs, "metric_key": "loss"}))
    got = [(m["run_id"], m["step"]) for m in bulk["metrics"]]
    assert got == sorted(
        [(runs[0], s) for s in range(10)] + [(runs[1], s) for s in range(20)],
        key=lambda pair: pair[0],
    )
    assert bulk["metrics"][0] == {
        "key": "loss",
        "value": 1.0,
        "timestamp": 1000,
        "step": 0,
        "run_id": runs[0],
    }
    capped = _ok(
        api.get(
            f"{ajax}/get-history-bulk",
            params={"run_id": runs[:1], "metric_key": "loss", "max_results": 3},
        )
    )
    assert [m["step"] for m in capped["metrics"]] == [0, 1, 2]

    def interval(**params: Any) -> list[tuple[str, int]]:
        found = _ok(
            api.get(
                f"{ajax}/get-history-bulk-interval",
                params={"metric_key": "loss", "max_results": 5, **params},
            )
        )
        return [(m["run_id"], m["step"]) for m in found["metrics"]]

    # evenly spaced steps, the last one, and each run's first and last (MLflow's sample)
    assert interval(run_ids=runs[:1]) == [(runs[0], s) for s in (0, 2, 4, 6, 8, 9)]
    steps = (0, 4, 8, 9, 12, 16, 19)
    assert interval(run_ids=runs) == [(runs[0], s) for s in steps if s < 10] + [
        (runs[1], s) for s in steps
    ]
    assert interval(run_ids=runs[:1], start_step=0, end_step=4) == [(runs[0], s) for s in range(5)]

    for path, params, message in (
        ("get-history-bulk", {"metric_key": "loss"}, "at least one run_id"),
        (
            "get-history-bulk",
            {"run_id": [f"r{i}" for i in range(101)], "metric_key": "x"},
            "more than 100",
        ),
        ("get-history-bulk", {"run_id": runs}, "must specify a metric_key"),
        ("get-history-bulk-interval", {"metric_key": "loss"}, "'run_ids'"),
        (
            "get-history-bulk-interval",
            {"run_ids": runs, "metric_key": "loss", "max_results": 0},
            "between 1 and 2500",
        ),
        ("get-history-bulk-interval", {"run_ids": runs, "metric_key": ""}, "'metric_key'"),
        (
            "get-history-bulk-interval",
            {"run_ids": runs, "metric_key": "loss", "start_step": 1},
            "both must be specified",
        ),
        (
            "get-history-bulk-interval",
            {"run_ids": runs, "metric_key": "loss", "start_step": 2, "end_step": 1},
            "end_step must be greater",
        ),
        (
            "get-history-bulk-interval",
            {"run_ids": runs, "metric_key": "loss", "max_results": "x"},
            "max_results",
        ),
    ):
        assert message in _error(
            api.get(f"{ajax}/{path}", params=params), 400, "INVALID_PARAMETER_VALUE"
        )


def test_a_logged_model_lists_the_versions_registered_from_it(api: httpx.Client) -> None:
    experiment = _ok(api.post(f"{API}/experiments/create", json={"name": "lm-versions"}))[
        "experiment_id"
    ]
    info = _ok(api.post(f"{API}/logged-models", json={"experiment_id": experiment}))["model"][
        "info"
    ]
    _ok(api.post(f"{API}/registered-models/create", json={"name": "from-logged"}))

    def register() -> None:
        body = {"name": "from-logged", "source": info["artifact_uri"], "model_id": info["model_id"]}
        _ok(api.post(f"{API}/model-versions/create", json=body))

    def tag() -> str:
        got = _ok(api.get(f"{API}/logged-models/{info['model_id']}"))["model"]["info"]["tags"]
        return str({t["key"]: t["value"] for t in got}["mlflow.modelVersions"])

    register()
    assert tag() == '[{"name": "from-logged", "version": 1}]'
    register()
    assert tag() == (
        '[{"name": "from-logged", "version": 1}, {"name": "from-logged", "version": 2}]'
    )
    _ok(
        api.patch(
            f"{API}/logged-models/{info['model_id']}/tags",
            json={"tags": [{"key": "mlflow.modelVersions", "value": "not json"}]},
        )
    )
    register()  # a tag that is not a list is started afresh, never a 500
    assert tag() == '[{"name": "from-logged", "version": 3}]'


def test_a_logged_models_files_list_and_download_for_the_web_ui(api: httpx.Client) -> None:
    experiment = _ok(api.post(f"{API}/experiments/create", json={"name": "lm-files"}))[
        "experiment_id"
    ]
    info = _ok(api.post(f"{API}/logged-models", json={"experiment_id": experiment}))["model"][
        "info"
    ]
    folder = info["artifact_uri"].removeprefix("mlflow-artifacts:/")
    base = "/api/2.0/mlflow-artifacts/artifacts"
    _ok(api.put(f"{base}/{folder}/MLmodel", content=b"flavors: {}\n"))
    _ok(api.put(f"{base}/{folder}/data/model.pkl", content=b"\x80\x04"))
    ajax = f"/ajax-api/2.0/mlflow/logged-models/{info['model_id']}/artifacts"
    listing = _ok(api.get(f"{ajax}/directories"))
    assert {f["path"]: f["is_dir"] for f in listing["files"]} == {"MLmodel": False, "data": True}
    inner = _ok(api.get(f"{ajax}/directories", params={"artifact_directory_path": "data"}))
    assert [f["path"] for f in inner["files"]] == ["data/model.pkl"]
    got = api.get(f"{ajax}/files", params={"artifact_file_path": "MLmodel"})
    assert got.status_code == 200 and got.content == b"flavors: {}\n"
    _error(api.get(f"{ajax}/files"), 400, "INVALID_PARAMETER_VALUE")
    _error(
        api.get(f"{ajax}/files", params={"artifact_file_path": "missing.txt"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    _error(
        api.get(f"{ajax}/files", params={"artifact_file_path": "../../etc/passwd"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    _error(
        api.get("/ajax-api/2.0/mlflow/logged-models/m-nope/artifacts/directories"),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
