"""Serving: registered models behind an HTTP API (Starlette on uvicorn, N worker processes).

```python
from limelight.serving import serve_in_background, Client

with serve_in_background({"recs": "recs@champion"}, port=0) as server:
    client = Client(server.url)
    answer = client.recommend("user-7", k=10)
    client.feedback(answer["request_id"], answer["items"][0]["item_id"], "play")
```

``limelight serve --model recs=recs@champion --workers 2`` does the same from the shell.
Importing this package does not import the web server; :func:`create_app` and :func:`serve` do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from limelight.serving._client import Client, ServingError
from limelight.serving._http import run_app
from limelight.serving._ids import RequestIds
from limelight.serving._models import ModelSet, Snapshot, parse_model_specs
from limelight.serving._server import (
    ServerHandle,
    bind_socket,
    bind_sockets,
    serve,
    serve_in_background,
)

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = [
    "Client",
    "ModelSet",
    "RequestIds",
    "ServerHandle",
    "ServingError",
    "Snapshot",
    "bind_socket",
    "bind_sockets",
    "create_app",
    "parse_model_specs",
    "run_app",
    "serve",
    "serve_in_background",
]


def create_app(models: Mapping[str, str] | list[str], **options: Any) -> Starlette:
    """The ASGI app serving ``models``; ``options``: ``config``, ``token``, ``max_body_bytes``,
    ``max_k``, ``body_timeout``, ``poll_seconds``. Imports Starlette (only now)."""
    from limelight.serving._app import create_app as _create_app

    return _create_app(models, **options)
