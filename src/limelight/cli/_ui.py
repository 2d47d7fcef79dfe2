"""``limelight ui``: serve the web dashboard."""

from __future__ import annotations

import click

from limelight.cli._main import cli


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8080,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on.",
)
def ui(host: str, port: int) -> None:
    """Serve the dashboard (runs, models, experiments, bandits, serving) in a browser.

    Read-only unless LIMELIGHT_TOKEN is set: then moving an alias or stopping an experiment
    asks for that token.
    """
    try:
        import uvicorn

        from limelight.ui import create_app
    except ImportError as exc:
        raise click.ClickException(
            f"the dashboard needs the ui extra ({exc.name} is missing): pip install 'limelight[ui]'"
        ) from None
    click.echo(f"Limelight dashboard on http://{host}:{port}/")
    uvicorn.run(create_app(), host=host, port=port, log_level="warning")
