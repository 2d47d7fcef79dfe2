"""Bodies the API used to accept silently: the issue's reproducers, each refused with a reason."""

from __future__ import annotations

import httpx
import pytest

from limelight.serving import ServerHandle
from limelight.serving._requests import ApiError, load_json_object

JSON = {"content-type": "application/json"}


def post(
    server: ServerHandle, path: str, body: bytes, headers: dict[str, str] = JSON
) -> httpx.Response:
    return httpx.post(server.url + path, content=body, headers=headers)


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonx",
        "text/json",
    ],
)
@pytest.mark.parametrize("path", ["/v1/recommend", "/v1/predict/linear", "/v1/feedback"])
def test_a_post_that_is_not_application_json_is_415(
    server: ServerHandle, path: str, content_type: str | None
) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    response = httpx.post(server.url + path, content=b'{"user_id": "u0"}', headers=headers)
    assert response.status_code == 415, response.text
    assert response.json()["error"] == "unsupported_media_type"
    assert "application/json" in response.json()["message"]


def test_json_with_a_charset_or_in_capitals_is_accepted(server: ServerHandle) -> None:
    for content_type in ("application/json; charset=utf-8", "Application/JSON"):
        response = post(
            server, "/v1/recommend", b'{"user_id": "u0", "k": 2}', {"content-type": content_type}
        )
        assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "body, key",
    [
        (b'{"user_id": "u0", "user_id": "u1"}', "user_id"),
        (b'{"user_id": "u0", "context": {"features": [1], "features": [2]}}', "features"),
        (b'{"user_id": "a:b", "k": 1, "k": 2}', "k"),  # colons in strings: the exact check
    ],
)
def test_a_repeated_key_is_400_naming_it(server: ServerHandle, body: bytes, key: str) -> None:
    response = post(server, "/v1/recommend", body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "duplicate_key"
    assert repr(key) in response.json()["message"]


def test_colons_inside_strings_are_not_mistaken_for_keys() -> None:
    body = load_json_object(b'{"user_id": "a:b:c", "exclude": ["x:1", "y:2"]}')
    assert body == {"user_id": "a:b:c", "exclude": ["x:1", "y:2"]}
    with pytest.raises(ApiError, match="'a' appears twice"):
        load_json_object(b'{"rows": [{"a": 1, "a": 2}], "b": "::::"}')


@pytest.mark.parametrize("exclude", [b"{}", b"0", b'""', b"false", b"null", b'"10"'])
def test_exclude_must_be_a_list_of_ids(server: ServerHandle, exclude: bytes) -> None:
    response = post(server, "/v1/recommend", b'{"user_id": "u0", "exclude": ' + exclude + b"}")
    assert response.status_code == 422, response.text
    assert "exclude must be a list" in response.json()["message"]


@pytest.mark.parametrize("artworks", [b"0", b"[]", b'""', b"false", b"null"])
def test_context_artworks_must_be_an_object_of_lists(server: ServerHandle, artworks: bytes) -> None:
    body = b'{"user_id": "u0", "context": {"artworks": ' + artworks + b"}}"
    response = post(server, "/v1/recommend", body)
    assert response.status_code == 422, response.text
    assert "context.artworks must be an object" in response.json()["message"]


@pytest.mark.parametrize(
    "value", [b"1e308", b"-1e308", b"1000000.5", b"123456789012345678901234567890"]
)
def test_context_features_beyond_a_million_are_refused(server: ServerHandle, value: bytes) -> None:
    body = b'{"user_id": "u0", "context": {"features": [0.5, ' + value + b"]}}"
    response = post(server, "/v1/recommend", body)
    assert response.status_code == 422, response.text
    assert "context.features[1] must be between -1e+06 and 1e+06" in response.json()["message"]


def test_context_features_within_the_bound_are_served(server: ServerHandle) -> None:
    body = b'{"user_id": "u0", "k": 2, "context": {"features": [1e6, -1e6, 0.25]}}'
    assert post(server, "/v1/recommend", body).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        b'{"rows": [["1", 2, 3]]}',
        b'{"rows": [[true, 2, 3]]}',
        b'{"rows": [[null, 2, 3]]}',
        b'{"rows": [{"a": "1", "b": 2, "c": 3}]}',
        b'{"rows": [{"a": false, "b": 2, "c": 3}]}',
        b'{"columns": {"a": ["1"], "b": [2], "c": [3]}}',
        b'{"columns": {"a": [true], "b": [2], "c": [3]}}',
    ],
)
def test_predict_refuses_numeric_strings_and_booleans(server: ServerHandle, body: bytes) -> None:
    response = post(server, "/v1/predict/linear", body)
    assert response.status_code == 422, response.text
    assert "JSON numbers only" in response.json()["message"]


def test_predict_still_takes_integers_and_floats(server: ServerHandle) -> None:
    response = post(server, "/v1/predict/linear", b'{"rows": [[1, 0.0, 0]]}')
    assert response.status_code == 200 and response.json()["predictions"] == [1.5]


WRONG_METHODS = {
    "/v1/recommend": ("GET", "POST"),
    "/v1/predict/linear": ("PUT", "POST"),
    "/v1/feedback": ("DELETE", "POST"),
    "/v1/models": ("POST", "GET, HEAD"),
    "/healthz": ("POST", "GET, HEAD"),
    "/readyz": ("PATCH", "GET, HEAD"),
    "/metrics": ("POST", "GET, HEAD"),
}


def test_a_method_a_path_does_not_take_is_405_with_allow(server: ServerHandle) -> None:
    for path, (method, allowed) in WRONG_METHODS.items():
        response = httpx.request(method, server.url + path)
        assert response.status_code == 405, (path, response.text)
        assert sorted(response.headers["allow"].split(", ")) == sorted(allowed.split(", ")), path
        assert response.json()["error"] == "http_error"


def test_openapi_marks_what_the_server_needs_as_required(server: ServerHandle) -> None:
    from limelight.serving._openapi import openapi_document

    doc = httpx.get(server.url + "/openapi.json").json()
    predict = doc["paths"]["/v1/predict/{model}"]["post"]["requestBody"]["content"]
    schema = predict["application/json"]["schema"]
    assert schema["oneOf"] == [{"required": ["rows"]}, {"required": ["columns"]}]
    assert "415" in doc["paths"]["/v1/recommend"]["post"]["responses"]
    recommend = doc["paths"]["/v1/recommend"]["post"]["requestBody"]["content"]
    assert recommend["application/json"]["schema"]["required"] == ["user_id"], (
        "the served epsilon-greedy policy needs no context"
    )
    contextual = openapi_document(max_k=10, auth=False, context_features=3)
    body = contextual["paths"]["/v1/recommend"]["post"]["requestBody"]["content"]
    body = body["application/json"]["schema"]
    assert body["required"] == ["user_id", "context"]
    assert body["properties"]["context"]["required"] == ["features"]
    features = body["properties"]["context"]["properties"]["features"]
    assert features["minItems"] == features["maxItems"] == 3
