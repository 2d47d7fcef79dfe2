"""Flow files the scheduling tests deploy (written into the test's folder)."""

from __future__ import annotations

import textwrap
from pathlib import Path

HEADER = "from limelight import Flow, Param, schedule, step, trigger, trigger_on_finish\n\n\n"


def flow_source(name: str, decorators: str = "", body: str = "pass", params: str = "") -> str:
    return HEADER + textwrap.dedent(
        f"""\
        {decorators}
        class {name}(Flow):
            {params}

            @step
            def start(self):
                {body}
                self.next(self.end)

            @step
            def end(self):
                pass
        """
    )


def write_flow(folder: Path, name: str, decorators: str = "", **kwargs: str) -> Path:
    path = folder / f"{name.lower()}.py"
    path.write_text(flow_source(name, decorators, **kwargs))
    return path
