"""The guard on the dashboard's actions: a signed CSRF token bound to the session cookie, with an
expiry, the serving token, and the origin. A cookie and a field that merely match are refused."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from limelight.ui._csrf import CSRF_COOKIE, CsrfGuard
from limelight.ui._security import ForbiddenError

HOST = "127.0.0.1:8080"
SESSION = "s" * 43


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _request(session: str | None = SESSION, **headers: str) -> Any:
    cookies = {CSRF_COOKIE: session} if session is not None else {}
    names = {k.replace("_", "-"): v for k, v in headers.items()}
    return SimpleNamespace(cookies=cookies, headers={"host": HOST, **names})


def _form(guard: CsrfGuard, session: str = SESSION, token: str = "t") -> dict[str, str]:
    csrf, new = guard.issue(_request(session))
    assert new is None  # the session cookie is kept, not replaced
    return {"csrf": csrf, "token": token}


def test_a_token_issued_for_the_session_passes() -> None:
    guard = CsrfGuard("t")
    guard.check_action(_request(origin=f"http://{HOST}"), _form(guard))
    guard.check_action(_request(), _form(guard))  # no Origin (not a browser): the token decides


def test_a_request_without_a_session_gets_a_new_one() -> None:
    csrf, new = CsrfGuard("t").issue(_request(None))
    assert new is not None and len(new) == 43 and new not in csrf


def test_every_worker_of_one_server_accepts_the_others_tokens() -> None:
    CsrfGuard("t").check_action(_request(), _form(CsrfGuard("t")))


@pytest.mark.parametrize(
    ("describe", "request_", "form", "message"),
    [
        ("a forged matching pair", _request("x" * 43), {"csrf": "x" * 43}, "does not match"),
        ("a pair in the old shape", _request("x" * 43), {"csrf": "1.x"}, "does not match"),
        ("no cookie", _request(None), None, "cookie is missing"),
        ("a short cookie", _request("short"), None, "cookie is missing"),
        ("another session", _request("o" * 43), None, "does not match"),
        ("no field", _request(), {"token": "t"}, "does not match"),
        ("a non-number expiry", _request(), "garbage", "does not match"),
    ],
)
def test_forged_or_mismatched_csrf_tokens_are_refused(
    describe: str, request_: Any, form: Any, message: str
) -> None:
    guard = CsrfGuard("t")
    if form is None:
        form = _form(guard)
    elif form == "garbage":
        form = {"csrf": "\u0661\u0662." + _form(guard)["csrf"].split(".")[1], "token": "t"}
    form.setdefault("token", "t")
    with pytest.raises(ForbiddenError, match=message):
        guard.check_action(request_, form)


def test_a_token_signed_by_another_server_is_refused() -> None:
    with pytest.raises(ForbiddenError, match="does not match"):
        CsrfGuard("t").check_action(_request(), _form(CsrfGuard("other-token")))


def test_a_token_expires_and_its_expiry_cannot_be_extended() -> None:
    clock = Clock()
    guard = CsrfGuard("t", ttl=60.0, clock=clock)
    form = _form(guard)
    clock.now += 59
    guard.check_action(_request(), form)
    clock.now += 2
    with pytest.raises(ForbiddenError, match="expired"):
        guard.check_action(_request(), form)
    expires, signature = form["csrf"].split(".")
    stretched = {**form, "csrf": f"{int(expires) + 3600}.{signature}"}
    with pytest.raises(ForbiddenError, match="does not match"):
        guard.check_action(_request(), stretched)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"origin": "null"}, r"opaque origin \(Origin: null\)"),
        ({"origin": "https://evil.example"}, "another origin"),
        ({"origin": f"http://{HOST}.evil.example"}, "another origin"),
        ({"origin": f"file://{HOST}"}, "another origin"),
        ({"origin": "http://[::1"}, "malformed Origin"),
        ({"sec_fetch_site": "cross-site"}, "another site"),
        ({"sec_fetch_site": "same-site", "origin": f"http://{HOST}"}, "another site"),
    ],
)
def test_actions_from_another_origin_are_refused(headers: dict[str, str], message: str) -> None:
    guard = CsrfGuard("t")
    with pytest.raises(ForbiddenError, match=message):
        guard.check_action(_request(**headers), _form(guard))


def test_read_only_and_wrong_token() -> None:
    with pytest.raises(ForbiddenError, match="read-only"):
        CsrfGuard(None).check_action(_request(), {"csrf": "", "token": ""})
    guard = CsrfGuard("t")
    with pytest.raises(ForbiddenError, match="wrong token"):
        guard.check_action(_request(), _form(guard, token="nope"))
