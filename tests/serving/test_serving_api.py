"""The HTTP API in process: answers, events, and a 4xx that says what was wrong for bad input."""

from __future__ import annotations

import time

import httpx
import pytest
from tests.serving.conftest import MODELS

from limelight.registry import Registry
from limelight.serving import Client, ServerHandle, ServingError, serve_in_background
from limelight.store import open_store


def test_recommend_answers_with_artwork_and_logs_an_impression(
    server: ServerHandle, client: Client
) -> None:
    answer = client.recommend("u0", k=3)
    items = answer["items"]
    assert len(items) == 3
    assert all(it["item_id"] not in (10, 11) for it in items), "u0's seen titles are excluded"
    assert [it["score"] for it in items] == sorted((it["score"] for it in items), reverse=True)
    assert all(0 < it["propensity"] <= 1 and it["artwork"] in range(4) for it in items)
    assert answer["models"] == {"recs": "recs/1", "artwork": "artwork/1"}
    assert answer["experiments"] == {}
    fb = client.feedback(answer["request_id"], items[0]["item_id"], "play", 42.0)
    assert fb == {"accepted": True, "duplicate": False}
    server.stop()  # flushes the event log
    store = open_store()
    impressions = store.read_events("impressions").to_pylist()
    assert len(impressions) == 1
    row = impressions[0]
    assert row["request_id"] == answer["request_id"] and row["user_id"] == "u0"
    assert row["items"] == [str(it["item_id"]) for it in items]
    assert row["artworks"] == [str(it["artwork"]) for it in items]
    assert row["propensities"] == [it["propensity"] for it in items]
    assert row["models"] == ["recs/1", "artwork/1"] and row["latency_ms"] > 0
    feedback = store.read_events("feedback").to_pylist()
    assert feedback == [
        {
            "request_id": answer["request_id"],
            "ts": feedback[0]["ts"],
            "user_id": "u0",
            "item_id": str(items[0]["item_id"]),
            "event": "play",
            "value": 42.0,
        }
    ]


def test_unknown_user_gets_popular_titles_and_exclude_is_honoured(
    server: ServerHandle, client: Client
) -> None:
    answer = client.recommend("nobody", k=2)
    assert answer["items"][0]["item_id"] == 10, "the most popular title first"
    answer = client.recommend(12345, k=2, exclude=[10])
    assert answer["items"][0]["item_id"] == 11
    assert 10 not in [it["item_id"] for it in answer["items"]]
    big = client.recommend("nobody", k=1000)
    assert len(big["items"]) == 6, "k beyond the catalogue returns the whole catalogue"


def test_predict_rows_records_and_columns(server: ServerHandle, client: Client) -> None:
    assert client.predict("linear", rows=[[1, 0, 0], [0, 1, 1]]) == [1.5, 5.5]
    records = [{"c": 1, "b": 0, "a": 0}]
    assert client.predict("linear", rows=records) == [3.5]
    assert client.predict("linear", columns={"a": [1, 2], "b": [0, 0], "c": [0, 0]}) == [1.5, 2.5]


JSON = {"content-type": "application/json"}
BAD = [
    ("/v1/recommend", b"{not json", 400, "not valid JSON"),
    ("/v1/recommend", b"[1, 2]", 422, "must be a JSON object"),
    ("/v1/recommend", b"{}", 422, "missing field(s) 'user_id'"),
    ("/v1/recommend", b'{"user_id": 1.5}', 422, "user_id must be a string or an integer"),
    ("/v1/recommend", b'{"user_id": "u", "k": 0}', 422, "k must be between 1 and 1000"),
    ("/v1/recommend", b'{"user_id": "u", "k": 1000000}', 422, "k must be between 1 and 1000"),
    ("/v1/recommend", b'{"user_id": "u", "k": "10"}', 422, "k must be an integer"),
    ("/v1/recommend", b'{"user_id": "u", "colour": 1}', 422, "unknown field(s) 'colour'"),
    ("/v1/recommend", b'{"user_id": "u", "exclude": 3}', 422, "exclude must be a list"),
    (
        "/v1/recommend",
        b'{"user_id": "u", "context": {"artworks": {"10": [-1]}}}',
        422,
        "artwork ids",
    ),
    (
        "/v1/recommend",
        b'{"user_id": "u", "context": {"artworks": {"10": [9]}}}',
        422,
        "actions are 0..3",
    ),
    ("/v1/predict/nope", b'{"rows": [[1]]}', 404, "no served model 'nope'"),
    ("/v1/predict/recs", b'{"rows": [[1]]}', 404, "has no predict method"),
    ("/v1/predict/linear", b'{"rows": [[1, 2]]}', 422, "each row must have 3 values"),
    ("/v1/predict/linear", b'{"rows": [["x", 1, 2]]}', 422, "numbers only"),
    ("/v1/predict/linear", b'{"columns": {"a": [1]}}', 422, "missing ['b', 'c']"),
    ("/v1/predict/linear", b'{"rows": [[1, 2, 3]], "columns": {}}', 422, "exactly one of"),
    (
        "/v1/feedback",
        b'{"request_id": "abc.def", "item_id": 1, "event": "play"}',
        404,
        "unknown request_id",
    ),
    ("/v1/feedback", b'{"request_id": "x", "item_id": 1}', 422, "missing field(s) 'event'"),
    (
        "/v1/feedback",
        b'{"request_id": "x", "item_id": 1, "event": "play", "value": "a"}',
        422,
        "value must be a number",
    ),
]


def test_bad_input_is_a_4xx_that_says_what_was_wrong(server: ServerHandle) -> None:
    with httpx.Client(base_url=server.url) as http:  # one server for every case: fast
        for path, body, status, message in BAD:
            response = http.post(path, content=body, headers=JSON)
            assert response.status_code == status, (path, body, response.text)
            payload = response.json()
            assert message in payload["message"], (body, payload)
            assert payload["error"]
        assert http.get("/healthz").status_code == 200, "the worker survived every bad request"


def test_oversized_body_forged_id_and_unknown_route(registry: Registry) -> None:
    handle = serve_in_background(MODELS, in_process=True, max_body_bytes=200)
    try:
        response = httpx.post(
            handle.url + "/v1/recommend",
            content=b'{"user_id": "' + b"x" * 500 + b'"}',
            headers=JSON,
        )
        assert response.status_code == 413 and "at most 200 bytes" in response.json()["message"]
        with Client(handle.url) as c:
            real = c.recommend("u1", k=1)["request_id"]
        payload, _, signature = real.partition(".")
        forged = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + signature
        response = httpx.post(
            handle.url + "/v1/feedback", json={"request_id": forged, "item_id": 1, "event": "play"}
        )
        assert response.status_code == 404
        response = httpx.get(handle.url + "/v2/nothing")
        assert response.status_code == 404 and response.json()["error"] == "not_found"
        assert httpx.get(handle.url + "/v1/recommend").status_code == 405
    finally:
        handle.stop()


def test_bearer_token_protects_everything_but_health(registry: Registry) -> None:
    handle = serve_in_background(MODELS, in_process=True, token="s3cret")
    try:
        url = handle.url
        assert httpx.get(url + "/healthz").status_code == 200
        assert httpx.get(url + "/readyz").status_code == 200
        refused = httpx.post(url + "/v1/recommend", json={"user_id": "u"})
        assert refused.status_code == 401 and "Bearer" in refused.json()["message"]
        wrong = httpx.get(url + "/v1/models", headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401
        with Client(url, token="nope") as c, pytest.raises(ServingError, match="401"):
            c.recommend("u")
        with Client(url, token="s3cret") as c:
            assert c.recommend("u", k=1)["items"]
        assert (
            httpx.get(url + "/metrics", headers={"authorization": "Bearer s3cret"}).status_code
            == 200
        )
    finally:
        handle.stop()


def test_metrics_models_and_openapi(server: ServerHandle, client: Client) -> None:
    client.recommend("u1", k=2)
    with pytest.raises(ServingError):
        client.recommend("u1", k=0)
    text = httpx.get(server.url + "/metrics").text
    assert 'route="/v1/recommend",method="POST",status="200"} 1' in text
    assert 'route="/v1/recommend",method="POST",status="422"} 1' in text
    assert "limelight_request_seconds_bucket{" in text and 'le="+Inf"} 2' in text
    assert "limelight_errors_total{" in text and 'kind="422"} 1' in text
    assert 'slot="recs",model="recs"} 1' in text
    assert "# TYPE limelight_model_swaps_total counter" in text
    assert "# TYPE limelight_recommend_batches_total counter" in text
    assert "# TYPE limelight_events_pending gauge" in text
    assert text.count("# TYPE limelight_events_written_total counter") == 1
    assert (
        'kind="impressions"}' in text and 'kind="feedback"}' in text and 'kind="failures"}' in text
    )
    written = [ln for ln in text.splitlines() if ln.startswith("limelight_events_written_total{")]
    assert len(written) == 3 and all(ln.split()[-1].isdigit() for ln in written)  # + failures
    models = client.models()
    assert models["models"]["linear"]["methods"] == ["predict"]
    assert models["recommender"] == "recs" and models["artwork"] == "artwork"
    doc = httpx.get(server.url + "/openapi.json").json()
    assert set(doc["paths"]) >= {"/v1/recommend", "/v1/predict/{model}", "/v1/feedback", "/healthz"}


def test_unknown_model_reference_fails_at_start(registry: Registry) -> None:
    from limelight.core.errors import LimelightError

    with pytest.raises(LimelightError, match="no alias 'gold'"):
        serve_in_background({"recs": "recs@gold"}, in_process=True, timeout=10)


def test_alias_move_is_picked_up_while_serving(client: Client, registry: Registry) -> None:
    assert client.recommend("u0", k=1)["models"]["recs"] == "recs/1"
    registry.set_alias("recs", "champion", 2, why="a test model")
    deadline = time.monotonic() + 10
    while client.recommend("u0", k=1)["models"]["recs"] != "recs/2":
        assert time.monotonic() < deadline, "the moved alias was not picked up"
        time.sleep(0.05)
    assert client.models()["swaps"] >= 1


def test_a_body_that_does_not_arrive_times_out(registry: Registry) -> None:
    import socket

    handle = serve_in_background(MODELS, in_process=True, body_timeout=0.3)
    try:
        host, port = handle.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(
                b"POST /v1/recommend HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                b'content-length: 100\r\n\r\n{"user_id": '
            )
            answer = sock.recv(4096).decode()
        assert answer.startswith("HTTP/1.1 408") and "did not arrive within 0.3 s" in answer
    finally:
        handle.stop()


def test_importing_serving_does_not_import_a_web_server() -> None:
    import subprocess
    import sys

    code = (
        "import sys, limelight, limelight.serving; "
        "print([m for m in ('starlette', 'uvicorn', 'uvloop') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
