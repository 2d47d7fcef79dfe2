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
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from limelight.core.config import Config, resolve_config
from limelight.core.errors import InvalidInputError, LimelightError, NotFoundError
from limelight.store import open_store
from limelight.ui import _pages
from limelight.ui._security import ForbiddenError, SecurityHeaders, csrf_token, set_csrf_cookie

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
    """The state every page handler shares: the store, the templates, the token."""

    def __init__(self, config: Config, token: str | None) -> None:
        self.config = config
        self.store = open_store(config)
        self.token = token
        self.env = _environment()
        self.static = _static_files()

    def render(
        self, request: Request, template: str, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        csrf, new = csrf_token(request)
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
            set_csrf_cookie(response, request, csrf)
        return response

    def error(self, request: Request, exc: Exception) -> HTMLResponse:
        status = (
            404
            if isinstance(exc, NotFoundError)
            else 403
            if isinstance(exc, ForbiddenError)
            else 400
        )
        return self.render(request, "error.html", status_code=status, message=str(exc))


MAX_FORM_BYTES = 64 * 1024


async def _form(request: Request) -> dict[str, str]:
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
    return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))


def _handler(dash: Dashboard, page: Any) -> Any:
    async def endpoint(request: Request) -> Response:
        try:
            if request.method == "POST":
                form = await _form(request)
                response: Response = await run_in_threadpool(page, dash, request, form)
            else:
                response = await run_in_threadpool(page, dash, request)
        except LimelightError as exc:  # bad input, not found, forbidden: a page that says so
            return dash.error(request, exc)
        return response

    return endpoint


def build_app(config: Config | None, token: str | None) -> Starlette:
    """The dashboard app (see :func:`limelight.ui.create_app`)."""
    config = config or resolve_config()
    if token is None:
        token = os.environ.get("LIMELIGHT_TOKEN") or None
    dash = Dashboard(config, token)

    async def static(request: Request) -> Response:
        path = dash.static.get(request.path_params["name"])
        if path is None:
            return Response("not found", status_code=404, media_type="text/plain")
        return FileResponse(path, headers={"cache-control": "public, max-age=3600"})

    async def home(request: Request) -> Response:
        return RedirectResponse(f"{request.scope.get('root_path', '')}/runs", status_code=307)

    routes = [
        Route("/", home),
        Route("/static/{name}", static),
        Route("/runs", _handler(dash, _pages.runs_page)),
        Route("/runs/{flow}/{run_id:int}", _handler(dash, _pages.run_page)),
        Route("/compare", _handler(dash, _pages.compare_page)),
        Route("/models", _handler(dash, _pages.models_page)),
        Route("/models/{name}", _handler(dash, _pages.model_page)),
        Route("/models/{name}/alias", _handler(dash, _pages.move_alias), methods=["POST"]),
        Route("/experiments", _handler(dash, _pages.experiments_page)),
        Route("/experiments/{name}", _handler(dash, _pages.experiment_page)),
        Route(
            "/experiments/{name}/stop",
            _handler(dash, _pages.stop_experiment),
            methods=["POST"],
        ),
        Route("/bandits", _handler(dash, _pages.bandits_page)),
        Route("/serving", _handler(dash, _pages.serving_page)),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)])
    app.state.dashboard = dash
    return app
