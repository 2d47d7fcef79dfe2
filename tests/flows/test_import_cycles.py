"""The modules of ``flows`` import each other without a cycle (the executors never import Flow's).

Every import counts, also those inside functions; only ``if TYPE_CHECKING:`` blocks are left
out (they never run). A cycle here is the ``_flow -> _launch -> _executors -> _flow`` circle the
scheduler's launch path once had.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import limelight.flows

FLOWS = Path(limelight.flows.__file__).parent


def _runtime_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {name for name in found if name.startswith("limelight.flows.")}


def _graph() -> dict[str, set[str]]:
    return {
        f"limelight.flows.{p.stem}": _runtime_imports(p)
        for p in FLOWS.glob("*.py")
        if p.stem != "__init__"
    }


def test_flows_modules_import_each_other_without_a_cycle() -> None:
    graph = _graph()
    state: dict[str, int] = {}

    def walk(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                cycle = [*path[path.index(target) :], target] if target in path else [target]
                pytest.fail("import cycle in flows: " + " -> ".join(cycle))
            if state.get(target) is None:
                walk(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            walk(module, [module])


def test_executors_never_import_the_module_that_defines_flow() -> None:
    graph = _graph()
    for name in ("_executors", "_distributed", "_task", "_launch", "_scheduler"):
        assert "limelight.flows._flow" not in graph[f"limelight.flows.{name}"], name


@pytest.mark.parametrize("first", ["_executors", "_distributed", "_launch", "_task"])
def test_each_executor_module_imports_first_in_a_fresh_interpreter(first: str) -> None:
    code = f"import limelight.flows.{first}; import limelight.flows._flow"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
