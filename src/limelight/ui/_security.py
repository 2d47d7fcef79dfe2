"""Protection of the dashboard: response headers, server timing, and the token + CSRF check.

Pages are read-only. A form that changes state carries the serving token (typed by the user)
and a CSRF token that must equal the ``limelight_csrf`` cookie (double submit; the cookie is
``SameSite=Strict`` and ``HttpOnly``), and a cross-origin ``Origin`` header is refused.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from limelight.core.errors import LimelightError

__all__ = [
    "CSRF_COOKIE",
    "ForbiddenError",
    "SecurityHeaders",
    "check_action",
    "csrf_token",
    "set_csrf_cookie",
]

CSRF_COOKIE = "limelight_csrf"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ForbiddenError(LimelightError):
    """An action without the right token or CSRF token."""


class SecurityHeaders:
    """Adds a content security policy, no-sniff, no-framing and a ``Server-Timing`` header.

    ``Server-Timing: app;dur=MS`` is the time from the request to the response's headers, which
    for these server-rendered pages covers the queries and the template rendering.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                took = (time.perf_counter() - started) * 1000.0
                headers = list(message.get("headers", []))
                headers += [
                    (b"server-timing", f"app;dur={took:.2f}".encode()),
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"same-origin"),
                ]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, wrapped)


def csrf_token(request: Request) -> tuple[str, bool]:
    """The request's CSRF token, and whether it is new (then the response must set the cookie)."""
    current = request.cookies.get(CSRF_COOKIE, "")
    if len(current) >= 32:
        return current, False
    return secrets.token_urlsafe(32), True


def set_csrf_cookie(response: Response, request: Request, value: str) -> None:
    response.set_cookie(
        CSRF_COOKIE,
        value,
        httponly=True,
        samesite="strict",
        path=request.scope.get("root_path", "") or "/",
    )


def check_action(request: Request, form: Any, token: str | None) -> None:
    """Refuse a state change without the configured token, the CSRF token, or from elsewhere."""
    if not token:
        raise ForbiddenError(
            "the dashboard is read-only: start it with LIMELIGHT_TOKEN set (the serving token) "
            "to allow actions"
        )
    origin = request.headers.get("origin")
    if origin and origin != "null":
        host = request.headers.get("host", "")
        if urlsplit(origin).netloc != host:
            raise ForbiddenError(f"refused a request from another origin ({origin})")
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = str(form.get("csrf", ""))
    if not cookie or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise ForbiddenError("the form's CSRF token does not match: reload the page and retry")
    given = str(form.get("token", ""))
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise ForbiddenError("wrong token: give the serving token (LIMELIGHT_TOKEN)")
