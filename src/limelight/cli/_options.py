"""Options that more than one command takes, defined once."""

from __future__ import annotations

import click

__all__ = ["header_timeout_option"]

header_timeout_option = click.option(
    "--header-timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0, 3600, min_open=True),
    help="Seconds a connection may take to send a request's head; then it is closed.",
)
"""Both servers (``serve`` and ``ui``) close a connection whose request head is this late."""
