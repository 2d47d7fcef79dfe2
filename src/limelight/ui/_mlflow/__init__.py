"""MLflow's REST protocol over Limelight's tracking and registry tables (no second store).

``/api/2.0/mlflow/`` (and ``/ajax-api/2.0/mlflow/``) answer MLflow's tracking and registry
calls; ``/api/2.0/mlflow-artifacts/`` its proxied artifacts; ``/get-artifact`` and
``/model-versions/get-artifact`` the web UI's file downloads. One module per resource; errors in
MLflow's format (:mod:`._protocol`). Writes need the server's token as a bearer token
(``MLFLOW_TRACKING_TOKEN`` on the client); reads are open, as the dashboard's pages are.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from limelight.ui._mlflow import (
    _artifacts,
    _experiments,
    _logged_models,
    _protocol,
    _registry,
    _run_artifacts,
    _runs,
    _search,
)

if TYPE_CHECKING:
    from limelight.store import Store

__all__ = ["ARTIFACT_PREFIXES", "PREFIXES", "MergeSlashes", "mlflow_routes"]

PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")
ARTIFACT_PREFIXES = ("/api/2.0/mlflow-artifacts", "/ajax-api/2.0/mlflow-artifacts")
# MLflow's searches are POSTs that only read: open, like every GET
_READ_POSTS = {
    ("runs/search", "POST"),
    ("experiments/search", "POST"),
    ("logged-models/search", "POST"),
    ("registered-models/get-latest-versions", "POST"),
}
_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def mlflow_routes(store: Store, token: str | None) -> list[BaseRoute]:
    """The routes of MLflow's REST API, to put in front of the dashboard's."""
    protocol = _protocol.Protocol(store, token)
    handlers = {
        **_experiments.HANDLERS,
        **_runs.HANDLERS,
        **_search.HANDLERS,
        **_registry.HANDLERS,
        **_logged_models.HANDLERS,
        **_run_artifacts.HANDLERS,
    }
    by_path: dict[str, dict[str, Any]] = {}
    for (path, method), handler in handlers.items():
        by_path.setdefault(path, {})[method] = _protocol.endpoint(
            protocol,
            handler,
            write=method != "GET" and (path, method) not in _READ_POSTS,
        )
    api: list[BaseRoute] = [
        Route(f"/{path}", _dispatcher(methods), methods=_ALL_METHODS)
        for path, methods in by_path.items()
    ]
    files: list[BaseRoute] = [
        Route(path, handler, methods=[method])
        for path, method, handler in _artifacts.artifact_routes(protocol)
    ]

    async def unknown(request: Request) -> Response:
        return _protocol.MlflowError(
            "ENDPOINT_NOT_FOUND",
            f"{request.method} {request.url.path} is not an MLflow endpoint this server answers",
        ).response()

    fallback = Route("/{rest:path}", unknown, methods=_ALL_METHODS)
    # mounted: the API is MLflow's (documented by MLflow), not a page of the dashboard's OpenAPI
    web_ui: list[BaseRoute] = [  # the web UI's downloads, at the server's root as MLflow's
        Route(path, _protocol.endpoint(protocol, handler, write=False), methods=["GET"])
        for path, handler in _run_artifacts.WEB_UI_HANDLERS.items()
    ]
    return [
        *web_ui,
        *(Mount(prefix, routes=[*api, fallback]) for prefix in PREFIXES),
        *(Mount(prefix, routes=[*files, fallback]) for prefix in ARTIFACT_PREFIXES),
    ]


def _dispatcher(methods: dict[str, Any]) -> Any:
    async def dispatch(request: Request) -> Response:
        handler = methods.get(request.method)
        if handler is None:
            return _protocol.MlflowError(
                "ENDPOINT_NOT_FOUND", f"{request.url.path} does not take {request.method}"
            ).response()
        response: Response = await handler(request)
        return response

    return dispatch


class MergeSlashes:
    """Reads ``//model-versions/get-artifact`` as ``/model-versions/get-artifact``.

    MLflow's server (Flask, through Werkzeug) merges repeated slashes in a request's path, and
    MLflow's clients and tests rely on it; so does this app.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if "//" in path:
            merged = re.sub("/{2,}", "/", path)
            scope = {**scope, "path": merged, "raw_path": merged.encode()}
        await self.app(scope, receive, send)
