"""Protection of the dashboard's pages: response headers and server timing.

Pages are read-only; the guard on the two actions (token, signed CSRF token, origin) is
:mod:`limelight.ui._csrf`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from limelight.core.errors import LimelightError

__all__ = ["CSP", "ForbiddenError", "SecurityHeaders"]

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
