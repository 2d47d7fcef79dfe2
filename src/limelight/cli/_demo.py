"""``limelight demo``: the whole loop on a simulated streaming service, on the embedded default."""

from __future__ import annotations

import contextlib

import click

from limelight.cli._main import cli


@cli.command()
@click.option(
    "--scale",
    default="small",
    show_default=True,
    help="The simulated service: tiny, small, medium, large, or a factor of small.",
)
@click.option("--seed", default=0, show_default=True, help="Same seed, same world and same events.")
@click.option("--days", default=7, show_default=True, help="Simulated days of the A/B test.")
@click.option("--workers", default=2, show_default=True, help="Serving worker processes.")
def demo(scale: str, seed: int, days: int, workers: int) -> None:
    """Develop, deploy and improve: train, register, serve, A/B test, promote, report."""
    from limelight.demo import run_demo

    scale_value: str | float = scale
    with contextlib.suppress(ValueError):  # a number is a factor of the small world
        scale_value = float(scale)
    run_demo(scale=scale_value, seed=seed, days=days, workers=workers, out=click.echo)
