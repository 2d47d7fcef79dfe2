"""What held up in the issue's probing, kept as tests: every case a 4xx that says why."""

from __future__ import annotations

import http.client
from collections.abc import Iterator

import httpx
import pytest

from limelight.serving import ServerHandle

JSON = {"content-type": "application/json"}


def post(server: ServerHandle, path: str, body: bytes) -> httpx.Response:
    return httpx.post(server.url + path, content=body, headers=JSON)


def test_a_ten_megabyte_body_is_413_announced_or_streamed(server: ServerHandle) -> None:
    big = b'{"user_id": "' + b"x" * 10_000_000 + b'"}'
    assert post(server, "/v1/recommend", big).status_code == 413

    def chunks() -> Iterator[bytes]:  # no content-length: the server counts as it reads
        for i in range(0, len(big), 1 << 16):
            yield big[i : i + (1 << 16)]

    streamed = httpx.post(server.url + "/v1/recommend", content=chunks(), headers=JSON)
    assert streamed.status_code == 413 and "at most" in streamed.json()["message"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"user_id": ' + b"[" * 1100 + b"]" * 1100 + b"}",
        b'{"user_id": NaN}',
        b'{"user_id": "u", "context": {"features": [1e400]}}',
        b'{"user_id": "\xff\xfe"}',
        b"",
    ],
    ids=["depth-1100", "NaN", "1e400", "invalid-utf8", "empty"],
)
def test_malformed_json_is_400(server: ServerHandle, body: bytes) -> None:
    response = post(server, "/v1/recommend", body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "malformed_json"


@pytest.mark.parametrize(
    "body, message",
    [
        (b'{"user_id": "u", "k": -1}', "k must be between"),
        (b'{"user_id": "u", "k": 1.5}', "k must be an integer"),
        (b'{"user_id": "u", "k": true}', "k must be an integer"),
        (b'{"user_id": 9223372036854775808}', "64-bit integer range"),
        (b'{"user_id": -9223372036854775809}', "64-bit integer range"),  # orjson: a float
        (b'{"user_id": "u", "exclude": [9223372036854775808]}', "64-bit integer range"),
    ],
)
def test_bad_k_and_ids_beyond_int64_are_422(
    server: ServerHandle, body: bytes, message: str
) -> None:
    response = post(server, "/v1/recommend", body)
    assert response.status_code == 422, response.text
    assert message in response.json()["message"]


@pytest.mark.parametrize("request_id", ["x.y.z", "abc", "a" * 5000, "..", "é.é.é"])
def test_forged_request_ids_are_404(server: ServerHandle, request_id: str) -> None:
    body = {"request_id": request_id, "item_id": 10, "event": "play"}
    response = httpx.post(server.url + "/v1/feedback", json=body)
    assert response.status_code == 404 and response.json()["error"] == "unknown_request"


@pytest.mark.parametrize(
    "path",
    ["/v1/predict/..%2F..%2Fetc%2Fpasswd", "/v1/predict/../../etc/passwd", "/v1/../etc/passwd"],
)
def test_path_traversal_is_404(server: ServerHandle, path: str) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:  # http.client sends the path as given, without normalising it
        conn.request("POST", path, body=b'{"rows": [[1, 2, 3]]}', headers=JSON)
        response = conn.getresponse()
        assert response.status == 404, (path, response.read())
        response.read()
    finally:
        conn.close()
