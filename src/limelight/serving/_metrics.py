"""Prometheus text-format metrics of one worker: requests, latency histogram, errors, models."""

from __future__ import annotations

import bisect
import os
import threading
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["BUCKETS", "Counter", "Metrics"]

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@dataclass(frozen=True)
class Counter:
    """One sample of a total kept elsewhere (a counter, or a gauge with ``kind="gauge"``)."""

    name: str
    help: str
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)
    kind: str = "counter"


class Metrics:
    """Counters and a latency histogram per route, kept in process (each worker reports its own;
    the ``worker`` label tells them apart)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.errors: dict[tuple[str, str], int] = defaultdict(int)
        self.buckets: dict[str, list[int]] = {}
        self.sums: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)
        self.model_errors: dict[tuple[str, int], int] = defaultdict(int)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one finished request (its route template, not its path: bounded cardinality)."""
        with self._lock:
            self.requests[(route, method, status)] += 1
            counts = self.buckets.get(route)
            if counts is None:
                counts = self.buckets[route] = [0] * (len(BUCKETS) + 1)
            counts[bisect.bisect_left(BUCKETS, seconds)] += 1
            self.sums[route] += seconds
            self.counts[route] += 1

    def error(self, route: str, kind: str) -> None:
        with self._lock:
            self.errors[(route, kind)] += 1

    def model_error(self, model: str, version: int) -> None:
        """Count a request a served model failed to answer (a 502 ``model_error``)."""
        with self._lock:
            self.model_errors[(model, version)] += 1

    def render(self, models: list[tuple[str, str, int]], counters: Sequence[Counter] = ()) -> str:
        """The exposition text; ``models`` holds (slot, model name, version) of what is loaded.

        ``counters`` are the worker's other totals (swaps, batches, events), read when asked.
        """
        worker = f'worker="{os.getpid()}"'
        lines = [
            "# HELP limelight_requests_total HTTP requests answered, by route and status.",
            "# TYPE limelight_requests_total counter",
        ]
        with self._lock:
            for (route, method, status), n in sorted(self.requests.items()):
                lines.append(
                    f'limelight_requests_total{{{worker},route="{_label(route)}",'
                    f'method="{method}",status="{status}"}} {n}'
                )
            lines += [
                "# HELP limelight_request_seconds Time to answer a request.",
                "# TYPE limelight_request_seconds histogram",
            ]
            for route, counts in sorted(self.buckets.items()):
                base = f'{worker},route="{_label(route)}"'
                total = 0
                for bound, n in zip((*BUCKETS, float("inf")), counts, strict=True):
                    total += n
                    le = "+Inf" if bound == float("inf") else repr(bound)
                    lines.append(f'limelight_request_seconds_bucket{{{base},le="{le}"}} {total}')
                lines.append(f"limelight_request_seconds_sum{{{base}}} {self.sums[route]!r}")
                lines.append(f"limelight_request_seconds_count{{{base}}} {self.counts[route]}")
            lines += [
                "# HELP limelight_errors_total Requests refused or failed, by route and kind.",
                "# TYPE limelight_errors_total counter",
            ]
            for (route, kind), n in sorted(self.errors.items()):
                lines.append(
                    f'limelight_errors_total{{{worker},route="{_label(route)}",'
                    f'kind="{_label(kind)}"}} {n}'
                )
            lines += [
                "# HELP limelight_model_errors_total Requests a model failed to answer (502),"
                " by model version.",
                "# TYPE limelight_model_errors_total counter",
            ]
            for (model, version), n in sorted(self.model_errors.items()):
                lines.append(
                    f'limelight_model_errors_total{{{worker},model="{_label(model)}",'
                    f'version="{version}"}} {n}'
                )
        described: set[str] = set()
        for counter in counters:
            if counter.name not in described:
                described.add(counter.name)
                lines.append(f"# HELP {counter.name} {counter.help}")
                lines.append(f"# TYPE {counter.name} {counter.kind}")
            labels = "".join(f',{k}="{_label(v)}"' for k, v in counter.labels.items())
            lines.append(f"{counter.name}{{{worker}{labels}}} {counter.value}")
        lines += [
            "# HELP limelight_model_version The version each served model slot is answering with.",
            "# TYPE limelight_model_version gauge",
        ]
        for slot, name, version in sorted(models):
            lines.append(
                f'limelight_model_version{{{worker},slot="{_label(slot)}",'
                f'model="{_label(name)}"}} {version}'
            )
        return "\n".join(lines) + "\n"
