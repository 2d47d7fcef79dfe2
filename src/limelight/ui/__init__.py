"""The web dashboard: runs, models, experiments, bandits and serving, server-rendered.

``create_app(config=None, token=None)`` returns a Starlette app (``limelight ui`` serves it,
``limelight serve`` can mount it under ``/ui``). Pages are read-only; the two actions that change
state (moving an alias, stopping an experiment) need the serving token (``LIMELIGHT_TOKEN``) and
a CSRF token. Starlette, Jinja2 and plotly are imported only when the app is created, so
``import limelight`` never loads a web server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from limelight.core.config import Config

__all__ = ["create_app"]


def create_app(config: Config | None = None, token: str | None = None) -> Starlette:
    """The dashboard as an ASGI app over ``config``'s stores; ``token`` enables the actions.

    ``token`` defaults to ``LIMELIGHT_TOKEN``; without one the dashboard is read-only.
    """
    from limelight.ui._app import build_app

    return build_app(config, token)
