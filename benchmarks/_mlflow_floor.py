"""The MLflow client's own floor: a server that answers the timed calls with ready bytes.

``python benchmarks/_mlflow_floor.py UPSTREAM PORT`` listens on 127.0.0.1:PORT (uvicorn, the
same HTTP stack as ``limelight ui``). ``runs/log-metric`` and ``runs/log-batch`` are answered
``{}`` at once; the first ``runs/search`` with a given body is forwarded to UPSTREAM (a
Limelight server) and its response bytes are kept, so every later identical search gets the
same bytes with no work. Everything else is forwarded. What the MLflow client then measures is
its own cost and HTTP's: no server can answer faster than this.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["floor_app"]

Message = MutableMapping[str, Any]
_EMPTY = {"/api/2.0/mlflow/runs/log-metric", "/api/2.0/mlflow/runs/log-batch"}
_KEPT = {"/api/2.0/mlflow/runs/search"}
_HOP = {b"host", b"content-length", b"connection", b"transfer-encoding"}


def floor_app(upstream: str) -> Callable[..., Awaitable[None]]:
    import httpx

    client = httpx.AsyncClient(base_url=upstream, timeout=600)
    kept: dict[tuple[str, bytes], tuple[int, bytes]] = {}

    async def forward(scope: Message, body: bytes) -> tuple[int, bytes]:
        query = scope["query_string"].decode()
        answer = await client.request(
            scope["method"],
            scope["path"] + (f"?{query}" if query else ""),
            content=body,
            headers={k.decode(): v.decode() for k, v in scope["headers"] if k.lower() not in _HOP},
        )
        return answer.status_code, answer.content

    async def app(scope: Message, receive: Callable[[], Awaitable[Message]], send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        if path in _EMPTY:
            status, out = 200, b"{}"
        elif path in _KEPT:
            if (path, body) not in kept:
                kept[path, body] = await forward(scope, body)
            status, out = kept[path, body]
        else:
            status, out = await forward(scope, body)
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(out))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": out})

    return app


if __name__ == "__main__":
    import socket

    from limelight.serving._http import run_app

    listening = socket.create_server(("127.0.0.1", int(sys.argv[2])))
    run_app(floor_app(sys.argv[1]), listening)
