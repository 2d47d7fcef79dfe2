"""Progress of a run: a live status line on a terminal, plain lines otherwise, or nothing."""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """Counts tasks per step and shows them; ``enabled=False`` keeps a run silent."""

    def __init__(self, label: str, *, enabled: bool, stream: TextIO | None = None) -> None:
        self.label = label
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.live = enabled and self.stream.isatty()
        self.counts: dict[str, Counter[str]] = {}
        self._order: list[str] = []
        self._last_draw = 0.0

    def _count(self, step: str, key: str, delta: int = 1) -> None:
        if step not in self.counts:
            self.counts[step] = Counter()
            self._order.append(step)
        self.counts[step][key] += delta

    def _line(self, text: str) -> None:
        if not self.enabled:
            return
        if self.live:
            self.stream.write("\r\033[K" + text + "\n")
            self._draw(force=True)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def _draw(self, force: bool = False) -> None:
        if not self.live:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        parts = []
        for step in self._order:
            c = self.counts[step]
            total = c["created"] + c["reused"]
            done = c["succeeded"] + c["reused"]
            part = f"{step} {done}/{total}"
            if c["running"]:
                part += f" ({c['running']} running)"
            if c["failed"]:
                part += f" {c['failed']} failed"
            parts.append(part)
        self.stream.write("\r\033[K" + f"{self.label}: " + " | ".join(parts))
        self.stream.flush()

    def task_created(self, step: str) -> None:
        self._count(step, "created")
        self._draw()

    def task_reused(self, step: str, path: str) -> None:
        self._count(step, "reused")
        if not self.live:
            self._line(
                f"{self.label} {step}{'/' + path if path else ''} reused from the origin run"
            )
        self._draw()

    def task_started(self, step: str) -> None:
        self._count(step, "running")
        self._draw()

    def task_succeeded(self, step: str, path: str, seconds: float) -> None:
        self._count(step, "running", -1)
        self._count(step, "succeeded")
        if not self.live:
            self._line(
                f"{self.label} {step}{'/' + path if path else ''} succeeded ({seconds:.2f} s)"
            )
        self._draw()

    def task_retrying(self, step: str, path: str, attempt: int, error: str) -> None:
        self._count(step, "running", -1)
        last = error.strip().splitlines()[-1] if error.strip() else "failed"
        self._line(
            f"{self.label} {step}{'/' + path if path else ''} failed ({last}); retry {attempt}"
        )

    def task_failed(self, step: str, path: str, error: str) -> None:
        self._count(step, "running", -1)
        self._count(step, "failed")
        last = error.strip().splitlines()[-1] if error.strip() else "failed"
        self._line(f"{self.label} {step}{'/' + path if path else ''} FAILED: {last}")

    def message(self, text: str) -> None:
        self._line(text)

    def close(self) -> None:
        if self.live:
            self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()
