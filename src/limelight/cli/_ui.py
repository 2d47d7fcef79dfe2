"""``limelight ui`` (also ``limelight server``): the dashboard and MLflow's REST API."""

from __future__ import annotations

import click

from limelight.cli._main import cli
from limelight.cli._options import header_timeout_option


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8080,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on.",
)
@header_timeout_option
def ui(host: str, port: int, header_timeout: float) -> None:
    """Serve the dashboard (runs, models, experiments, bandits, serving) in a browser.

    The same server answers MLflow's REST API (point MLFLOW_TRACKING_URI at it). Read-only
    unless LIMELIGHT_TOKEN is set: then moving an alias, stopping an experiment or writing
    through MLflow's API (MLFLOW_TRACKING_TOKEN on the client) asks for that token.
    """
    try:
        import uvicorn  # noqa: F401  (the dashboard's extra is installed)

        from limelight.ui import create_app
    except ImportError as exc:
        raise click.ClickException(
            f"the dashboard needs the ui extra ({exc.name} is missing): pip install 'limelight[ui]'"
        ) from None
    from limelight.serving import bind_socket, run_app

    app = create_app()  # before listening: until it is built, a connection is refused, not kept
    sock = bind_socket(host, port)
    url = f"http://{host}:{sock.getsockname()[1]}"
    click.echo(f"Limelight dashboard on {url}/")
    click.echo(f"MLflow clients: MLFLOW_TRACKING_URI={url}")
    try:
        run_app(app, sock, header_timeout=header_timeout, graceful_seconds=5)
    finally:
        sock.close()


cli.add_command(ui, "server")  # the name MLflow's users know for the tracking server
