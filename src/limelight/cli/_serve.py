"""``limelight serve``: registered models behind the HTTP API."""

from __future__ import annotations

import sys

import click

from limelight.cli._main import cli
from limelight.cli._options import header_timeout_option


@cli.command()
@click.option(
    "--model",
    "models",
    multiple=True,
    required=True,
    metavar="SLOT=REF",
    help="A model to serve, e.g. recs=recs@champion or artwork=artwork@champion (repeatable).",
)
@click.option("--workers", default=1, show_default=True, help="Worker processes.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, help="Port (0: any free port).")
@click.option(
    "--max-body-bytes", default=1_000_000, show_default=True, help="Largest request body."
)
@click.option("--max-k", default=1000, show_default=True, help="Largest k for /v1/recommend.")
@click.option(
    "--poll-seconds", default=1.0, show_default=True, help="How often aliases are checked."
)
@click.option(
    "--graceful-seconds",
    default=30.0,
    show_default=True,
    help="On SIGTERM, how long requests in flight may take to finish.",
)
@header_timeout_option
@click.option(
    "--feedback-ttl",
    default=86_400.0,
    show_default=True,
    type=click.FloatRange(0, min_open=True),
    help="Seconds after a recommendation that its feedback is taken (then 410).",
)
@click.option(
    "--probe-seconds",
    default=2.0,
    show_default=True,
    type=click.FloatRange(0, 600, min_open=True),
    help="Time a model's recommend may take on its load-time contract probe; slower is refused.",
)
@click.option("--log-level", default="warning", show_default=True)
@click.option(
    "--ui/--no-ui",
    default=True,
    show_default=True,
    help="Mount the dashboard under /ui (needs limelight[ui]).",
)
def serve(
    models: tuple[str, ...],
    workers: int,
    host: str,
    port: int,
    max_body_bytes: int,
    max_k: int,
    poll_seconds: float,
    graceful_seconds: float,
    header_timeout: float,
    feedback_ttl: float,
    probe_seconds: float,
    log_level: str,
    ui: bool,
) -> None:
    """Serve registered models over HTTP (set LIMELIGHT_TOKEN to require a bearer token).

    Endpoints: POST /v1/recommend, /v1/predict/{model}, /v1/feedback; GET /v1/models,
    /healthz, /readyz, /metrics, /openapi.json. A moved alias is picked up without a restart.
    """
    from limelight.serving import serve as run_server

    mounts = {}
    if ui:
        try:
            import jinja2  # noqa: F401  (the dashboard's extra is installed)

            from limelight.ui import create_app as dashboard
        except ImportError:
            click.echo(
                "the dashboard is not installed (pip install 'limelight[ui]'); serving without /ui",
                err=True,
            )
        else:
            mounts["/ui"] = dashboard
    code = run_server(
        list(models),
        host=host,
        port=port,
        workers=workers,
        max_body_bytes=max_body_bytes,
        max_k=max_k,
        poll_seconds=poll_seconds,
        graceful_seconds=graceful_seconds,
        header_timeout=header_timeout,
        feedback_ttl=feedback_ttl,
        probe_seconds=probe_seconds,
        log_level=log_level,
        mounts=mounts,
    )
    sys.exit(code)
