"""Flows against Metaflow: the same four flows, run from the command line as a user runs them.

1. ``linear``: ``start -> a -> end``, trivial steps;
2. ``foreach``: a foreach over N items of trivial work (100; 20 with ``--quick``), then a join;
3. ``array``: a float64 array of M MB (100; 20 with ``--quick``) made in ``start``, summed in the
   next step;
4. ``resume``: flow 1 fails in ``end``, then is resumed (only the resume is timed).

Limelight runs ``limelight run flow.py`` (``limelight resume flow.py``); Metaflow (latest from
PyPI, in its own virtual environment) runs ``python flow.py run`` (``python flow.py resume``) with
a local datastore and local metadata in a temporary folder. Both use their default parallelism
(Limelight: one worker per CPU; Metaflow: ``--max-workers 16``). Interpreter start-up and imports
count for both.

Each command runs under a small wrapper that times it and reads ``getrusage(RUSAGE_CHILDREN)``
(the largest resident set of any single process of the tree), while this script samples the
whole process tree every 50 ms from ``/proc`` and keeps the peak of the sum of the processes'
PSS (proportional set size: a page shared by forked workers counts once, split between them).
Medians of 3 runs (1 with ``--quick``).

    python benchmarks/flows_vs_metaflow.py [--quick]

Prints a table and ends with one line of JSON (medians and ratios, Metaflow / Limelight).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.peers import peer_python

METAFLOW_REQUIREMENTS = ["metaflow", "numpy"]
LIMELIGHT = Path(sys.executable).parent / "limelight"
SAMPLE_SECONDS = 0.05

WRAPPER = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
code = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE).returncode
wall = time.perf_counter() - started
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open(sys.argv[1], "w") as out:
    json.dump({"wall": wall, "max_rss_kb": rss, "code": code}, out)
"""


@dataclass(frozen=True)
class Sizes:
    reps: int
    foreach: int
    array_mb: int


FULL = Sizes(3, 100, 100)
QUICK = Sizes(1, 20, 20)


# -- the flows ------------------------------------------------------------------------------------
def limelight_flows(sizes: Sizes) -> dict[str, str]:
    head = "import os\n\nfrom limelight.flows import Flow, step\n\n\n"
    return {
        "linear": head
        + textwrap.dedent(
            """
            class Linear(Flow):
                @step
                def start(self):
                    self.x = 1
                    self.next(self.a)

                @step
                def a(self):
                    self.y = self.x + 1
                    self.next(self.end)

                @step
                def end(self):
                    if os.environ.get("BENCH_FAIL") == "1":
                        raise RuntimeError("end fails")
                    self.z = self.y + 1
            """
        ),
        "foreach": head
        + textwrap.dedent(
            f"""
            class Foreach(Flow):
                @step
                def start(self):
                    self.items = list(range({sizes.foreach}))
                    self.next(self.work, foreach="items")

                @step
                def work(self):
                    self.square = self.input * self.input
                    self.next(self.join)

                @step
                def join(self, inputs):
                    self.total = sum(i.square for i in inputs)
                    self.next(self.end)

                @step
                def end(self):
                    pass
            """
        ),
        "array": "import numpy as np\n"
        + head
        + textwrap.dedent(
            f"""
            class Array(Flow):
                @step
                def start(self):
                    n = {sizes.array_mb} * 1_000_000 // 8
                    self.arr = np.random.default_rng(0).random(n)
                    self.next(self.use)

                @step
                def use(self):
                    self.total = float(self.arr.sum())
                    self.next(self.end)

                @step
                def end(self):
                    pass
            """
        ),
    }


def metaflow_flows(sizes: Sizes) -> dict[str, str]:
    """The same flows for Metaflow: FlowSpec instead of Flow, and the ``__main__`` stanza."""
    flows = {}
    for name, source in limelight_flows(sizes).items():
        source = source.replace(
            "from limelight.flows import Flow, step", "from metaflow import FlowSpec, step"
        ).replace("(Flow):", "(FlowSpec):")
        cls = source.split("class ")[1].split("(")[0]
        flows[name] = source + f'\n\nif __name__ == "__main__":\n    {cls}()\n'
    return flows


# -- measuring ------------------------------------------------------------------------------------
def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _tree_pss_kb(root: int) -> int:
    """Sum of PSS over the descendants of ``root`` (the wrapper itself left out)."""
    tree = _children()
    todo, total = list(tree.get(root, [])), 0
    while todo:
        pid = todo.pop()
        total += _pss_kb(pid)
        todo.extend(tree.get(pid, []))
    return total


def measure(cmd: list[str], cwd: Path, env: dict[str, str]) -> dict[str, float]:
    """Run ``cmd``; its wall time (s), peak tree PSS (MB) and largest single max RSS (MB)."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        report = Path(handle.name)
    process = subprocess.Popen([sys.executable, "-c", WRAPPER, str(report), *cmd], cwd=cwd, env=env)
    peak = 0
    while process.poll() is None:
        peak = max(peak, _tree_pss_kb(process.pid))
        time.sleep(SAMPLE_SECONDS)
    result = json.loads(report.read_text())
    report.unlink()
    if process.returncode != 0:
        raise RuntimeError(f"the wrapper failed for {cmd}")
    return {
        "wall": result["wall"],
        "pss_mb": peak / 1024,
        "max_rss_mb": result["max_rss_kb"] / 1024,
        "code": result["code"],
    }


def _checked(result: dict[str, float], cmd: list[str], expect: int = 0) -> dict[str, float]:
    if result["code"] != expect:
        raise RuntimeError(f"{' '.join(cmd)} exited with {result['code']}, expected {expect}")
    return result


class Tool(ABC):
    """How one tool runs a flow file, resumes it, and with which environment."""

    def __init__(self, name: str, root: Path, sources: dict[str, str], env: dict[str, str]):
        self.name, self.root, self.env = name, root, env
        self.files = {}
        for flow, source in sources.items():
            path = root / f"{flow}_flow.py"
            path.write_text(source)
            self.files[flow] = path

    @abstractmethod
    def run_cmd(self, flow: str) -> list[str]:
        """The command that runs ``flow`` with this tool."""

    @abstractmethod
    def resume_cmd(self, flow: str) -> list[str]:
        """The command that resumes ``flow``'s latest run with this tool."""

    def run(self, flow: str, **env: str) -> dict[str, float]:
        cmd = self.run_cmd(flow)
        return measure(cmd, self.root, {**self.env, **env})

    def resume(self, flow: str, **env: str) -> dict[str, float]:
        cmd = self.resume_cmd(flow)
        return measure(cmd, self.root, {**self.env, **env})


class LimelightTool(Tool):
    def run_cmd(self, flow: str) -> list[str]:
        return [str(LIMELIGHT), "run", str(self.files[flow]), "--quiet"]

    def resume_cmd(self, flow: str) -> list[str]:
        return [str(LIMELIGHT), "resume", str(self.files[flow]), "--quiet"]


class MetaflowTool(Tool):
    def __init__(self, python: Path, *args: Any) -> None:
        self.python = python
        super().__init__(*args)

    def run_cmd(self, flow: str) -> list[str]:
        return [str(self.python), str(self.files[flow]), "run"]

    def resume_cmd(self, flow: str) -> list[str]:
        return [str(self.python), str(self.files[flow]), "resume"]


def bench(tool: Tool, flow: str) -> dict[str, float]:
    if flow == "resume":
        _checked(tool.run("linear", BENCH_FAIL="1"), tool.run_cmd("linear"), expect=1)
        return _checked(tool.resume("linear", BENCH_FAIL="0"), tool.resume_cmd("linear"))
    return _checked(tool.run(flow), tool.run_cmd(flow))


def _median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller flows, one repetition")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL

    mf_python = peer_python("metaflow", METAFLOW_REQUIREMENTS)
    mf_version = subprocess.run(
        [str(mf_python), "-c", "import metaflow; print(metaflow.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    work = Path(tempfile.mkdtemp(prefix="flows-bench-"))
    base_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("LIMELIGHT_", "METAFLOW_"))
    }
    base_env.update(USERNAME="bench", USER="bench", PYTHONDONTWRITEBYTECODE="1")
    (work / "ll").mkdir()
    (work / "mf").mkdir()
    tools: list[Tool] = [
        LimelightTool(
            "limelight",
            work / "ll",
            limelight_flows(sizes),
            {**base_env, "LIMELIGHT_HOME": str(work / "ll" / "home")},
        ),
        MetaflowTool(
            mf_python,
            "metaflow",
            work / "mf",
            metaflow_flows(sizes),
            {
                **base_env,
                "METAFLOW_DEFAULT_DATASTORE": "local",
                "METAFLOW_DEFAULT_METADATA": "local",
                "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(work / "mf" / "sysroot"),
            },
        ),
    ]
    flows = ["linear", "foreach", "array", "resume"]
    results: dict[str, dict[str, list[dict[str, float]]]] = {
        t.name: {f: [] for f in flows} for t in tools
    }
    print(f"load average at the start: {os.getloadavg()}", file=sys.stderr)
    try:
        for tool in tools:  # warm-up: byte-compile, create stores, fill the page cache
            bench(tool, "linear")
        for rep in range(sizes.reps):
            for flow in flows:
                for tool in tools if rep % 2 == 0 else tools[::-1]:
                    result = bench(tool, flow)
                    results[tool.name][flow].append(result)
                    print(
                        f"[{rep + 1}/{sizes.reps}] {tool.name:9s} {flow:8s} "
                        f"{result['wall']:7.2f} s  {result['pss_mb']:7.1f} MB",
                        file=sys.stderr,
                        flush=True,
                    )
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def med(tool: str, flow: str, key: str) -> float:
        return _median([r[key] for r in results[tool][flow]])

    labels = {
        "linear": "1. linear start -> a -> end",
        "foreach": f"2. foreach x{sizes.foreach} + join",
        "array": f"3. {sizes.array_mb} MB array start -> use",
        "resume": "4. resume of 1 after a failed end",
    }
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"\nFlows: Limelight vs Metaflow {mf_version} (medians of {sizes.reps}; "
        f"{os.cpu_count()} CPUs; load average at the end {load})\n"
    )
    header = (
        f"{'flow':32s} {'limelight s':>11s} {'metaflow s':>10s} {'speed-up':>8s} "
        f"{'ll PSS MB':>9s} {'mf PSS MB':>9s} {'mf/ll':>6s} {'ll RSS1 MB':>10s} {'mf RSS1 MB':>10s}"
    )
    print(header)
    print("-" * len(header))
    summary: dict[str, Any] = {
        "benchmark": "flows_vs_metaflow",
        "metaflow": mf_version,
        "reps": sizes.reps,
        "foreach_items": sizes.foreach,
        "array_mb": sizes.array_mb,
    }
    for flow in flows:
        ll_t, mf_t = med("limelight", flow, "wall"), med("metaflow", flow, "wall")
        ll_m, mf_m = med("limelight", flow, "pss_mb"), med("metaflow", flow, "pss_mb")
        ll_r, mf_r = med("limelight", flow, "max_rss_mb"), med("metaflow", flow, "max_rss_mb")
        print(
            f"{labels[flow]:32s} {ll_t:11.2f} {mf_t:10.2f} {mf_t / ll_t:7.1f}x "
            f"{ll_m:9.0f} {mf_m:9.0f} {mf_m / ll_m:5.1f}x {ll_r:10.0f} {mf_r:10.0f}"
        )
        summary[flow] = {
            "limelight_s": round(ll_t, 3),
            "metaflow_s": round(mf_t, 3),
            "speedup": round(mf_t / ll_t, 2),
            "limelight_pss_mb": round(ll_m, 1),
            "metaflow_pss_mb": round(mf_m, 1),
            "memory_ratio": round(mf_m / ll_m, 2),
            "limelight_best_s": round(min(r["wall"] for r in results["limelight"][flow]), 3),
            "metaflow_best_s": round(min(r["wall"] for r in results["metaflow"][flow]), 3),
            "limelight_max_rss_mb": round(ll_r, 1),
            "metaflow_max_rss_mb": round(mf_r, 1),
        }
    print(
        "\nspeed-up = Metaflow wall time / Limelight wall time; PSS MB = peak of the summed PSS "
        "of the process tree (sampled every 50 ms); RSS1 MB = largest max RSS of a single process "
        "(getrusage RUSAGE_CHILDREN)."
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
