"""Running ``limelight`` in process, as the command-line tests do."""

from __future__ import annotations

import pytest

from limelight.cli import main


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The exit code, standard output and standard error of ``limelight ARGS``."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err
