"""The dashboard's Starlette app: routes, templates, static files and error pages."""

from __future__ import annotations

import math
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import BaseRoute, Route

from limelight.core.config import Config, resolve_config
from limelight.core.errors import InvalidInputError, LimelightError, NotFoundError
from limelight.registry import GateRefused
from limelight.store import open_store
from limelight.ui import _pages
from limelight.ui._cache import EventLogCache
from limelight.ui._csrf import CsrfGuard
from limelight.ui._endpoints import ENDPOINTS, Endpoint, openapi_document
from limelight.ui._params import check_names
from limelight.ui._security import ForbiddenError, SecurityHeaders

__all__ = ["build_app"]

HERE = Path(__file__).parent


def _static_files() -> dict[str, Path]:
    import plotly

    return {
        "plotly.min.js": Path(plotly.__file__).parent / "package_data" / "plotly.min.js",
        "charts.js": HERE / "static" / "charts.js",
        "app.css": HERE / "static" / "app.css",
    }


def _when(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _duration(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "-" if math.isnan(value) else str(value)
    return f"{value:.{digits}g}"


def _size(value: int) -> str:
    step = 1024.0
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if amount < step:
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= step
    return f"{amount:.1f} TiB"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=_when, duration=_duration, num=_num, size=_size)
    return env


class Dashboard:
    """The state every page handler shares: the store, templates, CSRF guard and caches."""

    def __init__(self, config: Config, token: str | None) -> None:
        self.config = config
        self.store = open_store(config)
        self.token = token
        self.csrf = CsrfGuard(token)
        self.cache = EventLogCache(self.store)
        self.env = _environment()
        self.static = _static_files()

    def render(
        self, request: Request, template: str, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        csrf, new = self.csrf.issue(request)
        page = self.env.get_template(template).render(
            base=request.scope.get("root_path", ""),
            request=request,
            csrf=csrf,
            actions=bool(self.token),
            now=time.time(),
            **context,
        )
        response = HTMLResponse(page, status_code=status_code)
        if new:
            self.csrf.set_cookie(response, request, new)
        return response

    def error(self, request: Request, exc: Exception) -> HTMLResponse:
        if isinstance(exc, GateRefused):
            return self.render(
                request,
                "refused.html",
                status_code=409,
                message=str(exc),
                refused=[d for d in exc.decisions if not d.passed],
            )
        status = (
            404
            if isinstance(exc, NotFoundError)
            else 403
            if isinstance(exc, ForbiddenError)
            else 400
        )
        return self.render(request, "error.html", status_code=status, message=str(exc))


MAX_FORM_BYTES = 64 * 1024


async def _form(request: Request) -> list[tuple[str, str]]:
    """An URL-encoded form (the only kind the dashboard's forms send), without python-multipart."""
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind != "application/x-www-form-urlencoded":
        raise InvalidInputError(
            f"expected a form (application/x-www-form-urlencoded), not {kind!r}"
        )
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise InvalidInputError(f"the form is larger than {MAX_FORM_BYTES} bytes")
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"the form is not UTF-8 ({exc.reason} at byte {exc.start})"
        ) from None


def _check_request(endpoint: Endpoint, request: Request, form: list[tuple[str, str]]) -> None:
    """Refuse parameters and fields the endpoint does not take, and NUL characters anywhere."""
    where = f"{endpoint.method} {endpoint.path}"
    query = request.query_params.multi_items()
    check_names(query, endpoint.accepted, endpoint.repeatable, where)
    check_names(form, tuple(p.name for p in endpoint.form), endpoint.repeatable, f"{where}'s form")
    values = [*request.path_params.values(), *(v for _, v in query), *(v for _, v in form)]
    if any("\x00" in str(v) for v in values):
        raise InvalidInputError(f"{where}: a parameter holds a NUL character")


def _handler(dash: Dashboard, endpoint: Endpoint, page: Any) -> Any:
    async def handle(request: Request) -> Response:
        try:
            form = await _form(request) if endpoint.method == "POST" else []
            if endpoint.method == "POST":  # an action: who may ask comes before what was asked
                dash.csrf.check_action(request, dict(form))
            _check_request(endpoint, request, form)
            if endpoint.method == "POST":
                response: Response = await run_in_threadpool(page, dash, request, dict(form))
            else:
                response = await run_in_threadpool(page, dash, request)
        except LimelightError as exc:  # bad input, not found, forbidden, refused by a gate
            return dash.error(request, exc)
        return response

    return handle


def build_app(config: Config | None, token: str | None) -> Starlette:
    """The dashboard app (see :func:`limelight.ui.create_app`)."""
    config = config or resolve_config()
    if token is None:
        token = os.environ.get("LIMELIGHT_TOKEN") or None
    dash = Dashboard(config, token)

    def static(dash: Dashboard, request: Request) -> Response:
        path = dash.static.get(request.path_params["name"])
        if path is None:
            raise NotFoundError(f"there is no file {request.path_params['name']!r}")
        return FileResponse(path, headers={"cache-control": "public, max-age=3600"})

    def home(dash: Dashboard, request: Request) -> Response:
        return RedirectResponse(f"{request.scope.get('root_path', '')}/runs", status_code=307)

    def openapi(dash: Dashboard, request: Request) -> Response:
        from importlib.metadata import version

        return JSONResponse(openapi_document(version("limelight")))

    built_in = {"static": static, "home": home, "openapi": openapi}
    from limelight.ui._mlflow import MergeSlashes, mlflow_routes

    routes: list[BaseRoute] = [
        *mlflow_routes(dash.store, token),  # MLflow's REST API beside the pages
        *(
            Route(
                e.route,
                _handler(dash, e, built_in.get(e.page) or getattr(_pages, e.page)),
                methods=[e.method],
            )
            for e in ENDPOINTS
        ),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        return dash.error(request, NotFoundError(f"there is no page {request.url.path}"))

    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders), Middleware(MergeSlashes)],
        exception_handlers={404: not_found},
    )
    app.state.dashboard = dash
    return app
