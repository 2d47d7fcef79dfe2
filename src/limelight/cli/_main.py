"""Entry point of the ``limelight`` command: a click group that subcommands attach to."""

from __future__ import annotations

import importlib
import sys

import click

from limelight.core.errors import LimelightError

__all__ = ["cli", "main"]


class LazyGroup(click.Group):
    """Imports a subcommand's module only when that subcommand runs (or help lists them all)."""

    def _modules(self) -> dict[str, str]:
        from limelight.cli._commands import COMMAND_MODULES

        return COMMAND_MODULES

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = self._modules().get(cmd_name)
        if module is not None and cmd_name not in self.commands:
            importlib.import_module(f"limelight.cli.{module}")
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        for module in sorted(set(self._modules().values())):
            importlib.import_module(f"limelight.cli.{module}")
        return sorted(self.commands)


@click.group(cls=LazyGroup)
@click.version_option(package_name="limelight")
def cli() -> None:
    """Limelight: develop, deploy and improve personalization models."""


def main(argv: list[str] | None = None) -> None:
    """Run the command line; Limelight errors print one clear line and exit with status 2."""
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
