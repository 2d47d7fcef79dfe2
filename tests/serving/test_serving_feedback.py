"""Feedback: once per (request id, item, event), on a shown item, a named event, a bounded
value, within the time to live of the request id."""

from __future__ import annotations

import time

import httpx
import pytest
from tests.serving.conftest import MODELS

from limelight.core.config import resolve_config
from limelight.core.errors import InvalidInputError
from limelight.registry import Registry
from limelight.serving import Client, RequestIds, ServerHandle, create_app
from limelight.serving._ids import load_secret
from limelight.serving._seen import SeenFeedback


def feedback_logged(server: ServerHandle) -> float:
    """Feedback events the server logged (written or still buffered), from /metrics."""
    total = 0.0
    for line in httpx.get(server.url + "/metrics").text.splitlines():
        if 'kind="feedback"' in line and line.startswith(
            ("limelight_events_written_total", "limelight_events_pending")
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total


def send(server: ServerHandle, body: dict[str, object]) -> httpx.Response:
    return httpx.post(server.url + "/v1/feedback", json=body)


@pytest.fixture
def shown(client: Client) -> tuple[str, str]:
    """A request id and the first item of its recommendation."""
    answer = client.recommend("u0", k=3)
    return answer["request_id"], str(answer["items"][0]["item_id"])


def test_the_same_feedback_is_logged_once(server: ServerHandle, shown: tuple[str, str]) -> None:
    request_id, item = shown
    body = {"request_id": request_id, "item_id": item, "event": "play"}
    answers = [send(server, body) for _ in range(30)]
    assert [a.status_code for a in answers] == [202] * 30
    assert [a.json()["duplicate"] for a in answers] == [False] + [True] * 29
    assert feedback_logged(server) == 1
    other = send(server, {**body, "event": "click"})
    assert other.status_code == 202 and other.json()["duplicate"] is False
    assert feedback_logged(server) == 2


def test_an_item_the_recommendation_did_not_show_is_refused(
    server: ServerHandle, client: Client
) -> None:
    answer = client.recommend("u0", k=2)
    shown_items = {str(i["item_id"]) for i in answer["items"]}
    absent = next(str(i) for i in range(10, 16) if str(i) not in shown_items)
    response = send(
        server, {"request_id": answer["request_id"], "item_id": absent, "event": "play"}
    )
    assert response.status_code == 422, response.text
    assert f"item_id '{absent}' was not among the items" in response.json()["message"]
    assert feedback_logged(server) == 0
    for item in shown_items:  # an integer id matches the same item as its text
        ok = send(
            server, {"request_id": answer["request_id"], "item_id": int(item), "event": "play"}
        )
        assert ok.status_code == 202


@pytest.mark.parametrize(
    "event", [" ", "\u0000", "<script>", "Play", "", "play!", "1play", "a" * 65, 7, None]
)
def test_an_event_must_be_a_lowercase_name(
    server: ServerHandle, shown: tuple[str, str], event: object
) -> None:
    request_id, item = shown
    response = send(server, {"request_id": request_id, "item_id": item, "event": event})
    assert response.status_code == 422, response.text
    assert "event must be a name like 'play'" in response.json()["message"]


def test_event_names_from_the_pattern_are_taken(
    server: ServerHandle, shown: tuple[str, str]
) -> None:
    request_id, item = shown
    for event in ("add_to_list", "p", "watched_90pct", "a" * 64):
        assert (
            send(server, {"request_id": request_id, "item_id": item, "event": event}).status_code
            == 202
        )


@pytest.mark.parametrize("value", [1e308, -1e308, 1e9 + 1, -2e9, True, "3"])
def test_a_value_must_be_a_bounded_number(
    server: ServerHandle, shown: tuple[str, str], value: object
) -> None:
    request_id, item = shown
    body = {"request_id": request_id, "item_id": item, "event": "play", "value": value}
    response = send(server, body)
    assert response.status_code == 422, response.text
    assert "value must be" in response.json()["message"]


def test_values_within_the_bound_are_taken(server: ServerHandle, shown: tuple[str, str]) -> None:
    request_id, item = shown
    for event, value in (("watch", 1e9), ("refund", -1e9), ("rating", 4.5)):
        body = {"request_id": request_id, "item_id": item, "event": event, "value": value}
        assert send(server, body).status_code == 202


def test_a_request_id_older_than_the_ttl_is_410(server: ServerHandle, registry: Registry) -> None:
    ids = RequestIds(load_secret(resolve_config().home))
    old = ids.issue("u0", time.time() - 86_400 - 60, ["10"])
    fresh = ids.issue("u0", time.time() - 86_400 + 600, ["10"])
    response = send(server, {"request_id": old, "item_id": "10", "event": "play"})
    assert response.status_code == 410 and response.json()["error"] == "expired"
    assert "86400 s" in response.json()["message"]
    assert send(server, {"request_id": fresh, "item_id": "10", "event": "play"}).status_code == 202


def test_the_ttl_is_configurable(registry: Registry) -> None:
    from limelight.serving import serve_in_background

    with serve_in_background(MODELS, in_process=True, feedback_ttl=60) as server:
        ids = RequestIds(load_secret(resolve_config().home))
        old = ids.issue("u0", time.time() - 120, ["10"])
        assert (
            send(server, {"request_id": old, "item_id": "10", "event": "play"}).status_code == 410
        )
    for bad in (0, -1, "1", True, float("nan")):
        with pytest.raises(InvalidInputError, match="feedback_ttl must be a positive number"):
            create_app(MODELS, feedback_ttl=bad)


def test_the_seen_feedback_is_bounded_by_expiry_and_size() -> None:
    seen = SeenFeedback(slots=4, probes=4)
    try:
        assert seen.add(("r", "1", "play"), expires=100, now=0)
        assert not seen.add(("r", "1", "play"), expires=100, now=1)
        for i in range(10):
            seen.add(("r", str(i + 2), "play"), expires=100 + i, now=2)
        assert seen.live(now=2) == 4, "a full table reuses the slot that expires first"
        assert seen.add(("late", "1", "play"), expires=300, now=200)  # the others expired
        assert seen.live(now=200) == 1
        assert seen.add(("r", "1", "play"), expires=400, now=200), "expired: taken again"
    finally:
        seen.close()


def test_the_seen_feedback_is_shared_with_forked_processes() -> None:
    import os

    seen = SeenFeedback(slots=64)
    try:
        pid = os.fork()
        if pid == 0:  # the child logs a key; the parent must then see it as a repeat
            os._exit(0 if seen.add(("r", "1", "play"), expires=100, now=0) else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert not seen.add(("r", "1", "play"), expires=100, now=1)
        assert seen.add(("r", "2", "play"), expires=100, now=1)
    finally:
        seen.close()


def test_request_ids_carry_the_items_they_showed() -> None:
    ids = RequestIds(b"k" * 32, max_items=2)
    issued = ids.verify(ids.issue("u", 1.0, ["10", "ab", "\u00e9"]))
    assert issued.user_id == "u" and issued.issued_at == 1.0
    assert issued.showed("10") and issued.showed("\u00e9") and not issued.showed("11")
    assert not ids.verify(ids.issue("u", 1.0)).showed("10")
    with pytest.raises(InvalidInputError, match="not issued by this service"):
        RequestIds(b"x" * 32).verify(ids.issue("u", 1.0, ["10"]))
