"""The serving token: one check for the API's routes and for the apps mounted beside them.

The API takes ``Authorization: Bearer <token>``. A mounted app (the dashboard at ``/ui``) is
read by a browser, which cannot add a bearer header to a link: there the token may also come
as the password of HTTP Basic authentication (any user name), which the browser asks for
once when the 401 says ``WWW-Authenticate: Basic``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Any

import orjson

__all__ = ["UNAUTHORIZED", "TokenGuard", "token_matches"]

UNAUTHORIZED = "send the API token as 'Authorization: Bearer <LIMELIGHT_TOKEN>'"


def token_matches(header: str, token: bytes, *, basic: bool = False) -> bool:
    """Whether the ``Authorization`` header carries ``token`` (as Basic's password if ``basic``)."""
    scheme, _, given = header.partition(" ")
    scheme, given = scheme.lower(), given.strip()
    if basic and scheme == "basic":
        try:
            given = base64.b64decode(given, validate=True).decode("utf-8").partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            return False
    elif scheme != "bearer":
        return False
    return hmac.compare_digest(given.encode("utf-8", "replace"), token)


class TokenGuard:
    """An ASGI app that lets a request through to ``app`` only with the token (Bearer or Basic)."""

    def __init__(self, app: Any, token: str) -> None:
        self.app, self.token = app, token.encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            header = next(
                (v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), ""
            )
            if not token_matches(header, self.token, basic=True):
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})  # policy violation
                    return
                body = orjson.dumps({"error": "unauthorized", "message": UNAUTHORIZED})
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"www-authenticate", b'Basic realm="limelight", charset="UTF-8"'),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
