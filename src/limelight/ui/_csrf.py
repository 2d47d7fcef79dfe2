"""The dashboard's guard on actions: the serving token, a signed CSRF token, and the origin.

The ``limelight_csrf`` cookie holds a random session value (``HttpOnly``, ``SameSite=Strict``).
Each form carries ``EXPIRY.SIGNATURE``, an HMAC-SHA256 of that session value and the expiry under
a secret of the server, so a cookie and a field that merely match (a pair an attacker can set)
are refused, as are a token made for another session and an expired one. The secret is derived
from the serving token, so every worker of ``limelight serve`` accepts the others' forms, and
rotating the token invalidates every form. A POST whose ``Origin`` is ``null`` or another site's,
or whose ``Sec-Fetch-Site`` says it came from another site, is refused before anything else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from limelight.ui._security import ForbiddenError

__all__ = ["CSRF_COOKIE", "CSRF_TTL", "CsrfGuard"]

CSRF_COOKIE = "limelight_csrf"
CSRF_TTL = 8 * 3600.0
_SESSION_CHARS = 43  # secrets.token_urlsafe(32)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class CsrfGuard:
    """Issues and checks the signed CSRF tokens of one dashboard (see the module docstring)."""

    def __init__(
        self, token: str | None, *, ttl: float = CSRF_TTL, clock: Callable[[], float] = time.time
    ) -> None:
        self.token = token
        self.ttl = ttl
        self.clock = clock
        material = token.encode() if token else secrets.token_bytes(32)
        self._secret = hmac.new(material, b"limelight dashboard csrf v1", hashlib.sha256).digest()

    def _signature(self, session: str, expires: int) -> str:
        message = f"{session}.{expires}".encode()
        return _b64(hmac.new(self._secret, message, hashlib.sha256).digest())

    @staticmethod
    def session(request: Any) -> str | None:
        """The request's session value, if its cookie holds one of the right shape."""
        value = str(request.cookies.get(CSRF_COOKIE, ""))
        return value if len(value) == _SESSION_CHARS and value.isascii() else None

    def issue(self, request: Request) -> tuple[str, str | None]:
        """A form token for this request, and a new session value to set as a cookie (or None)."""
        session = self.session(request)
        new = None
        if session is None:
            session = new = secrets.token_urlsafe(32)
        expires = int(self.clock() + self.ttl)
        return f"{expires}.{self._signature(session, expires)}", new

    @staticmethod
    def set_cookie(response: Response, request: Request, session: str) -> None:
        response.set_cookie(
            CSRF_COOKIE,
            session,
            httponly=True,
            samesite="strict",
            path=request.scope.get("root_path", "") or "/",
        )

    def check_csrf(self, request: Any, form: Mapping[str, Any]) -> None:
        """Refuse a form whose CSRF token is missing, forged, for another session or expired."""
        session = self.session(request)
        if session is None:
            raise ForbiddenError(
                "the CSRF cookie is missing (cookies blocked, or a form from elsewhere): "
                "reload the page and retry"
            )
        expires_text, _, signature = str(form.get("csrf", "")).partition(".")
        valid = (
            expires_text.isascii()
            and expires_text.isdigit()
            and len(expires_text) <= 12
            and hmac.compare_digest(
                signature.encode(), self._signature(session, int(expires_text)).encode()
            )
        )
        if not valid:
            raise ForbiddenError("the form's CSRF token does not match: reload the page and retry")
        if int(expires_text) < self.clock():
            raise ForbiddenError("the form has expired: reload the page and retry")

    def check_action(self, request: Any, form: Mapping[str, Any]) -> None:
        """Refuse a state change from elsewhere, without the CSRF token or without the token."""
        if not self.token:
            raise ForbiddenError(
                "the dashboard is read-only: start it with LIMELIGHT_TOKEN set (the serving "
                "token) to allow actions"
            )
        check_origin(request)
        self.check_csrf(request, form)
        given = str(form.get("token", ""))
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            raise ForbiddenError("wrong token: give the serving token (LIMELIGHT_TOKEN)")


def check_origin(request: Any) -> None:
    """Refuse a request that says it comes from another site (or from an opaque ``null`` one)."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site in ("cross-site", "same-site"):
        raise ForbiddenError(f"refused a request from another site (Sec-Fetch-Site: {fetch_site})")
    origin = request.headers.get("origin")
    if origin is None:
        return
    if origin == "null":
        raise ForbiddenError(
            "refused a request from an opaque origin (Origin: null): "
            "send the form from the dashboard's own page"
        )
    try:
        parts = urlsplit(origin)
    except ValueError:
        raise ForbiddenError(f"refused a request with a malformed Origin ({origin!r})") from None
    if parts.scheme not in ("http", "https") or parts.netloc != request.headers.get("host", ""):
        raise ForbiddenError(f"refused a request from another origin ({origin})")
