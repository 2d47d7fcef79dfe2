"""The README's first example runs as written (with the dataset path pointed at ../shared)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LIMELIGHT = [sys.executable, "-c", "from limelight.cli import main; main()"]


def _blocks(language: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


@pytest.mark.slow
def test_readme_flow_and_commands_run(home: Path, tmp_path: Path, datasets_dir: Path) -> None:
    flow = next(b for b in _blocks("python") if "class Train(Flow)" in b)
    flow = flow.replace("../shared/datasets", str(datasets_dir))
    (tmp_path / "flow.py").write_text(flow)
    commands = next(b for b in _blocks("sh") if "limelight run flow.py" in b)
    for line in commands.splitlines():
        command = line.split("#")[0].strip()
        if not command or command.startswith("limelight serve"):
            continue  # serving is exercised by its own tests
        args = [a.strip("'\"") for a in re.findall(r"'[^']*'|\"[^\"]*\"|\S+", command)][1:]
        result = subprocess.run(
            [*LIMELIGHT, *args], cwd=tmp_path, capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
        if args[0] == "runs":
            assert "Train/" in result.stdout
        if args[:2] == ["models", "show"]:
            assert "ndcg@10=" in result.stdout
