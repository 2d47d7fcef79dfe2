"""The ``limelight`` command."""

from limelight.cli._main import main

__all__ = ["main"]
