"""Which module under ``cli`` defines each subcommand (imported only when it runs)."""

from __future__ import annotations

__all__ = ["COMMAND_MODULES"]

COMMAND_MODULES: dict[str, str] = {
    "run": "_flows",
    "resume": "_flows",
    "show": "_flows",
    "inspect": "_flows",
    "logs": "_flows",
    "runs": "_tracking",
    "metrics": "_tracking",
    "models": "_models",
    "experiments": "_experiments",
    "datasets": "_datasets",
    "events": "_events",
    "demo": "_demo",
    "ui": "_ui",
    "server": "_ui",
    "serve": "_serve",
    "deploy": "_scheduling",
    "deployments": "_scheduling",
    "publish": "_scheduling",
    "scheduler": "_scheduling",
    "import": "_import",
    "monitors": "_monitors",
}
