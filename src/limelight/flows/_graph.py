"""The static graph of a flow, read from its ``self.next(...)`` calls and checked before a run.

Each step calls ``self.next`` once at its end: to one step (linear), to several (a branch), or to
one step with ``foreach="artifact"`` (a fan-out). Branches and fan-outs are closed by a join step,
``def join(self, inputs)``. Every mistake is reported with the step's name and line.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from dataclasses import dataclass, field
from typing import Any

from limelight.core.errors import InvalidInputError

__all__ = ["FlowGraph", "GraphError", "StepNode"]


class GraphError(InvalidInputError):
    """The flow's graph is malformed; the message names the step and its line."""


@dataclass
class StepNode:
    name: str
    line: int
    is_join: bool
    next: list[str] = field(default_factory=list)
    foreach: str | None = None
    next_line: int = 0
    parents: list[str] = field(default_factory=list)
    split_stack: tuple[str, ...] = ()  # the open branches/fan-outs this step runs inside
    closes: str | None = None  # for a join: the split step whose branches or tasks it joins
    kind: str = "linear"  # start | linear | branch | foreach | join | end

    @property
    def is_split(self) -> bool:
        return self.foreach is not None or len(self.next) > 1


class FlowGraph:
    """Steps, their transitions, and the split each join closes."""

    def __init__(self, flow_class: type) -> None:
        self.flow_name = flow_class.__name__
        self.file = inspect.getsourcefile(flow_class) or "<unknown>"
        self.nodes: dict[str, StepNode] = {}
        self._read(flow_class)
        self._check()

    # -- reading --------------------------------------------------------------------------------
    def _read(self, flow_class: type) -> None:
        steps = {
            name: func
            for klass in reversed(flow_class.__mro__)
            for name, func in vars(klass).items()
            if callable(func) and getattr(func, "_ll_step", False)
        }
        for name, func in steps.items():
            self.nodes[name] = self._read_step(name, func, steps)

    def _read_step(self, name: str, func: Any, steps: dict[str, Any]) -> StepNode:
        try:
            lines, first = inspect.getsourcelines(func)
        except (OSError, TypeError) as exc:
            raise GraphError(f"cannot read the source of step {name!r}: {exc}") from exc
        tree = ast.parse(textwrap.dedent("".join(lines)))
        func_node = tree.body[0]
        node = StepNode(name=name, line=first, is_join=bool(getattr(func, "_ll_is_join", False)))
        calls = [
            n
            for n in ast.walk(func_node)
            if isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and n.func.attr == "next"
            and isinstance(n.func.value, ast.Name)
            and n.func.value.id == "self"
        ]
        where = f"{self.file}:{first}"
        if len(calls) > 1:
            lines_of = ", ".join(str(first + c.lineno - 1) for c in calls)
            raise GraphError(
                f"step {name!r} ({where}) calls self.next more than once (lines {lines_of}); "
                "call it exactly once, at the end of the step"
            )
        if not calls:
            if name != "end":
                raise GraphError(
                    f"step {name!r} ({where}) never calls self.next(...); every step but 'end' "
                    "must say which step comes next"
                )
            return node
        call = calls[0]
        node.next_line = first + call.lineno - 1
        at = f"{self.file}:{node.next_line}"
        if name == "end":
            raise GraphError(f"step 'end' ({at}) calls self.next; 'end' is the last step")
        for arg in call.args:
            if not (
                isinstance(arg, ast.Attribute)
                and isinstance(arg.value, ast.Name)
                and arg.value.id == "self"
            ):
                raise GraphError(
                    f"step {name!r} ({at}): self.next takes steps as self.<step>, "
                    f"not {ast.unparse(arg)!r}"
                )
            if arg.attr not in steps:
                raise GraphError(
                    f"step {name!r} ({at}) goes next to {arg.attr!r}, which is not a step of "
                    f"{self.flow_name} (decorate it with @step)"
                )
            node.next.append(arg.attr)
        if not node.next:
            raise GraphError(f"step {name!r} ({at}): self.next() needs at least one step")
        for keyword in call.keywords:
            if keyword.arg != "foreach":
                raise GraphError(
                    f"step {name!r} ({at}): self.next got an unknown argument {keyword.arg!r}"
                )
            if not (
                isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, str)
            ):
                raise GraphError(
                    f"step {name!r} ({at}): foreach must name an artifact as a string literal, "
                    f'e.g. foreach="items"'
                )
            node.foreach = keyword.value.value
        if node.foreach is not None and len(node.next) != 1:
            raise GraphError(f"step {name!r} ({at}): a foreach goes to exactly one step")
        return node

    # -- checking -------------------------------------------------------------------------------
    def _where(self, name: str) -> str:
        return f"{self.file}:{self.nodes[name].line}"

    def _check(self) -> None:
        for required in ("start", "end"):
            if required not in self.nodes:
                raise GraphError(f"{self.flow_name} ({self.file}) has no '{required}' step")
        if self.nodes["start"].is_join:
            raise GraphError(f"step 'start' ({self._where('start')}) cannot be a join")
        for node in self.nodes.values():
            for child in node.next:
                self.nodes[child].parents.append(node.name)
        self._find_cycles()
        reached = self._reachable_from_start()
        for name in self.nodes:
            if name not in reached:
                raise GraphError(
                    f"step {name!r} ({self._where(name)}) is never reached from 'start'"
                )
        self._assign_split_stacks()
        for node in self.nodes.values():
            node.kind = (
                "start"
                if node.name == "start"
                else "end"
                if node.name == "end"
                else "join"
                if node.is_join
                else "foreach"
                if node.foreach
                else "branch"
                if len(node.next) > 1
                else "linear"
            )

    def _reachable_from_start(self) -> set[str]:
        seen: set[str] = set()
        todo = ["start"]
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(self.nodes[name].next)
        return seen

    def _find_cycles(self) -> None:
        state: dict[str, int] = {}  # 1: on the path, 2: done

        def visit(name: str, path: list[str]) -> None:
            state[name] = 1
            for child in self.nodes[name].next:
                if state.get(child) == 1:
                    loop = " -> ".join([*path[path.index(child) :], name, child])
                    raise GraphError(
                        f"the graph has a cycle: {loop} (step {name!r}, "
                        f"{self.file}:{self.nodes[name].next_line})"
                    )
                if child not in state:
                    visit(child, [*path, name])
            state[name] = 2

        for name in self.nodes:
            if name not in state:
                visit(name, [])

    def _assign_split_stacks(self) -> None:
        stacks: dict[str, tuple[str, ...]] = {"start": ()}
        for name in self.topological_order():
            node = self.nodes[name]
            if name != "start":
                incoming = {p: self._stack_after(p) for p in node.parents}
                if node.is_join:
                    stacks[name] = self._join_stack(node, incoming)
                else:
                    if len(node.parents) > 1:
                        raise GraphError(
                            f"step {name!r} ({self._where(name)}) is reached from "
                            f"{', '.join(map(repr, node.parents))} but takes no inputs: make it "
                            f"a join, 'def {name}(self, inputs)'"
                        )
                    stacks[name] = next(iter(incoming.values()))
            node.split_stack = stacks[name]
        end = self.nodes["end"]
        if end.split_stack:
            split = end.split_stack[-1]
            raise GraphError(
                f"step {split!r} ({self._where(split)}) splits into "
                f"{', '.join(map(repr, self.nodes[split].next))} but no join step brings them "
                "together before 'end'"
            )

    def _stack_after(self, name: str) -> tuple[str, ...]:
        node = self.nodes[name]
        return (*node.split_stack, name) if node.is_split else node.split_stack

    def _join_stack(self, node: StepNode, incoming: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
        stacks = set(incoming.values())
        where = self._where(node.name)
        if len(stacks) != 1 or not next(iter(stacks)):
            raise GraphError(
                f"step {node.name!r} ({where}) is a join but its inputs "
                f"{', '.join(map(repr, node.parents))} do not come from one branch or foreach"
            )
        stack = next(iter(stacks))
        split = self.nodes[stack[-1]]
        node.closes = split.name
        if split.foreach is None:
            # every branch of the split must arrive here
            missing = [b for b in split.next if not any(self._descends(p, b) for p in node.parents)]
            if missing:
                raise GraphError(
                    f"step {node.name!r} ({where}) joins the branches of {split.name!r} but "
                    f"branch {missing[0]!r} does not arrive there"
                )
        elif len(node.parents) != 1:
            raise GraphError(
                f"step {node.name!r} ({where}) joins the foreach of {split.name!r} and must have "
                "exactly one input step"
            )
        return stack[:-1]

    def _descends(self, name: str, ancestor: str) -> bool:
        todo, seen = [name], set()
        while todo:
            current = todo.pop()
            if current == ancestor:
                return True
            if current not in seen:
                seen.add(current)
                todo.extend(self.nodes[current].parents)
        return False

    def topological_order(self) -> list[str]:
        order: list[str] = []
        seen: set[str] = set()

        def visit(name: str) -> None:
            if name in seen:
                return
            seen.add(name)
            for parent in self.nodes[name].parents:
                visit(parent)
            order.append(name)

        for name in self.nodes:
            visit(name)
        return order

    # -- display --------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            name: {
                "next": n.next,
                "foreach": n.foreach,
                "kind": n.kind,
                "line": n.line,
                "parents": n.parents,
            }
            for name, n in self.nodes.items()
        }

    def describe(self) -> str:
        """The graph as text, one step a line, in running order."""
        out = [f"{self.flow_name} ({self.file})"]
        for name in self.topological_order():
            node = self.nodes[name]
            depth = "  " * len(node.split_stack)
            if node.foreach:
                arrow = f"-> {node.next[0]} (foreach {node.foreach})"
            elif node.next:
                arrow = "-> " + ", ".join(node.next)
            else:
                arrow = ""
            out.append(f"  {depth}{name} [{node.kind}] {arrow}".rstrip())
        return "\n".join(out)
