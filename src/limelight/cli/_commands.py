"""The subcommands of ``limelight``; each module under ``cli`` registers its own."""

from __future__ import annotations

from limelight.cli import _datasets, _experiments, _flows, _models, _store_demo, _tracking  # noqa: F401

__all__: list[str] = []
