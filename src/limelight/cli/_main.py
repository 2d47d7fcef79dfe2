"""Entry point of the ``limelight`` command: a click group that subcommands attach to."""

from __future__ import annotations

import sys

import click

from limelight.core.errors import LimelightError

__all__ = ["cli", "main"]


@click.group()
@click.version_option(package_name="limelight")
def cli() -> None:
    """Limelight: develop, deploy and improve personalization models."""


def main(argv: list[str] | None = None) -> None:
    """Run the command line; Limelight errors print one clear line and exit with status 2."""
    from limelight.cli import _commands  # noqa: F401  (registers the subcommands)

    try:
        code = cli.main(args=argv, prog_name="limelight", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except LimelightError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    if isinstance(code, int) and code:
        sys.exit(code)
