"""Peers in their own virtual environments.

Benchmarks and cross-check tests compare Limelight with other tools (Metaflow, MLflow,
implicit, gbstats, OBP, ...). Each peer is installed once into ``benchmarks/.venvs/<name>``,
away from Limelight's own environment, so their pins never meet ours.
"""

from __future__ import annotations

import fcntl
import hashlib
import subprocess
import sys
import venv
from pathlib import Path

__all__ = ["VENVS", "peer_python", "run_in_peer"]

VENVS = Path(__file__).resolve().parent / ".venvs"


def peer_python(name: str, requirements: list[str], *, pip_flags: list[str] | None = None) -> Path:
    """The Python of the peer ``name``, created and installed with ``requirements`` if needed.

    The environment is rebuilt when the requirements change (their hash is kept beside it).
    """
    digest = hashlib.sha256(repr((requirements, pip_flags)).encode()).hexdigest()[:16]
    root = VENVS / name
    stamp = root / ".limelight-requirements"
    python = root / "bin" / "python"
    if python.exists() and stamp.exists() and stamp.read_text() == digest:
        return python
    VENVS.mkdir(parents=True, exist_ok=True)
    # one installer at a time: parallel test workers may ask for the same peer at once
    with open(VENVS / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (python.exists() and stamp.exists() and stamp.read_text() == digest):
            _install(root, python, list(pip_flags or []), requirements)
            stamp.write_text(digest)
    return python


def _install(root: Path, python: Path, flags: list[str], requirements: list[str]) -> None:
    print(f"[peers] installing {root.name}: {' '.join(requirements)}", file=sys.stderr, flush=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(root)
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            *flags,
            *requirements,
        ],
        check=True,
    )


def run_in_peer(python: Path, script: str, *args: str, timeout: float = 1800) -> str:
    """Run ``script`` (Python source) with the peer's interpreter; return its stdout."""
    result = subprocess.run(
        [str(python), "-c", script, *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"peer script failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result.stdout
