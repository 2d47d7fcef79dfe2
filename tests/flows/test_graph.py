"""The static graph: read from ``self.next`` calls, every mistake named with its step and line."""

from __future__ import annotations

import inspect
import re

import pytest

from limelight.flows import Flow, GraphError, Param, step
from limelight.flows._graph import FlowGraph


def _line_of(flow: type, name: str) -> int:
    return inspect.getsourcelines(getattr(flow, name))[1]


class Good(Flow):
    alpha = Param(default=1.0)

    @step
    def start(self):
        self.next(self.a, self.b)

    @step
    def a(self):
        self.items = [1, 2]
        self.next(self.each, foreach="items")

    @step
    def each(self):
        self.next(self.each_join)

    @step
    def each_join(self, inputs):
        self.next(self.ab_join)

    @step
    def b(self):
        self.next(self.ab_join)

    @step
    def ab_join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


def test_a_good_graph_is_read_with_kinds_and_joins() -> None:
    graph = Good.graph()
    kinds = {name: node.kind for name, node in graph.nodes.items()}
    assert kinds == {
        "start": "start",
        "a": "foreach",
        "each": "linear",
        "each_join": "join",
        "b": "linear",
        "ab_join": "join",
        "end": "end",
    }
    assert graph.nodes["each_join"].closes == "a"
    assert graph.nodes["ab_join"].closes == "start"
    order = graph.topological_order()
    assert order.index("start") < order.index("a") < order.index("each") < order.index("end")
    text = graph.describe()
    assert "a [foreach] -> each (foreach items)" in text
    assert "start [start] -> a, b" in text


class NoEnd(Flow):
    @step
    def start(self):
        self.next(self.middle)

    @step
    def middle(self):
        self.next(self.start)


class NoStart(Flow):
    @step
    def begin(self):
        self.next(self.end)

    @step
    def end(self):
        pass


class Unreached(Flow):
    @step
    def start(self):
        self.next(self.end)

    @step
    def orphan(self):
        self.next(self.end)

    @step
    def end(self):
        pass


class NextToNonStep(Flow):
    @step
    def start(self):
        self.next(self.helper)

    def helper(self):
        pass

    @step
    def end(self):
        pass


class Cycle(Flow):
    @step
    def start(self):
        self.next(self.a)

    @step
    def a(self):
        self.next(self.b)

    @step
    def b(self):
        self.next(self.a)

    @step
    def end(self):
        pass


class MissingJoin(Flow):
    @step
    def start(self):
        self.next(self.a, self.b)

    @step
    def a(self):
        self.next(self.end)

    @step
    def b(self):
        self.next(self.end)

    @step
    def end(self):
        pass


class ForeachWithoutJoin(Flow):
    @step
    def start(self):
        self.items = [1]
        self.next(self.each, foreach="items")

    @step
    def each(self):
        self.next(self.end)

    @step
    def end(self):
        pass


class JoinsWrongThing(Flow):
    @step
    def start(self):
        self.next(self.a)

    @step
    def a(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


class JoinMissesABranch(Flow):
    @step
    def start(self):
        self.next(self.a, self.b)

    @step
    def a(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def b(self):
        self.next(self.end)

    @step
    def end(self):
        pass


class JoinsAcrossSplits(Flow):
    @step
    def start(self):
        self.next(self.a, self.b)

    @step
    def a(self):
        self.items = [1]
        self.next(self.each, foreach="items")

    @step
    def each(self):
        self.next(self.join)

    @step
    def b(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


class NoNext(Flow):
    @step
    def start(self):
        self.x = 1

    @step
    def end(self):
        pass


class TwoNexts(Flow):
    @step
    def start(self):
        if self.x:
            self.next(self.end)
        else:
            self.next(self.end)

    @step
    def end(self):
        pass


class EndHasNext(Flow):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        self.next(self.start)


class ForeachNotLiteral(Flow):
    @step
    def start(self):
        name = "items"
        self.next(self.end, foreach=name)

    @step
    def end(self):
        pass


class StartIsJoin(Flow):
    @step
    def start(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


def _expect(flow: type, pattern: str, step_name: str, line: int) -> None:
    with pytest.raises(GraphError) as error:
        FlowGraph(flow)
    message = str(error.value)
    assert re.search(pattern, message), message
    assert repr(step_name) in message or step_name in message, message
    assert f"test_graph.py:{line}" in message, message


@pytest.mark.parametrize(
    ("flow", "pattern", "step_name", "where"),
    [
        (NoStart, "has no 'start' step", "start", None),
        (Unreached, "never reached from 'start'", "orphan", "orphan"),
        (NextToNonStep, "'helper', which is not a step", "start", "start+1"),
        (Cycle, "cycle: a -> b -> a", "b", "b+1"),
        (MissingJoin, "reached from 'a', 'b' but takes no inputs", "end", "end"),
        (ForeachWithoutJoin, "splits into 'each' but no join", "start", "start"),
        (JoinsWrongThing, "is a join but its inputs 'a' do not come from one", "join", "join"),
        (JoinMissesABranch, "branch 'b' does not arrive", "join", "join"),
        (JoinsAcrossSplits, "do not come from one branch or foreach", "join", "join"),
        (NoNext, "never calls self.next", "start", "start"),
        (TwoNexts, "calls self.next more than once", "start", "start"),
        (EndHasNext, "'end' is the last step", "end", "end+1"),
        (ForeachNotLiteral, "string literal", "start", "start+2"),
        (StartIsJoin, "cannot be a join", "start", "start"),
    ],
)
def test_bad_graphs_name_the_step_and_line(
    flow: type, pattern: str, step_name: str, where: str | None
) -> None:
    if where is None:  # a missing step has no line: the message names the flow's file
        with pytest.raises(GraphError, match=pattern) as error:
            FlowGraph(flow)
        assert "test_graph.py" in str(error.value)
        return
    name, _, offset = where.partition("+")
    # the decorator line is where getsourcelines starts; offsets count from the def line
    line = _line_of(flow, name) + (1 + int(offset) if offset else 0)
    _expect(flow, pattern, step_name, line)


def test_no_end_reports_the_missing_end() -> None:
    with pytest.raises(GraphError, match="has no 'end' step"):
        FlowGraph(NoEnd)


def test_a_bad_graph_stops_the_run_before_anything_runs(home) -> None:
    with pytest.raises(GraphError):
        Unreached.run()
    assert not (home / "limelight.db").exists()


def test_step_signature_is_checked() -> None:
    with pytest.raises(ValueError, match="must be 'def odd\\(self\\)'"):

        @step
        def odd(self, a, b):
            pass
