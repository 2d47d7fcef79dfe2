"""The guardrail against a live ``limelight serve``: a bad version reaches serving under load, a
monitor over the log serving writes catches it and rolls the alias back, no request fails."""

from __future__ import annotations

import threading
import time

import pytest
from tests.serving.conftest import MODELS, registry, subprocess_env  # noqa: F401

from limelight.monitoring import Monitors
from limelight.registry import Registry
from limelight.serving import Client, serve_in_background


@pytest.mark.slow
def test_rollback_under_load_fails_no_request(registry: Registry) -> None:  # noqa: F811
    handle = serve_in_background(
        MODELS, workers=2, poll_seconds=0.1, env=subprocess_env(), graceful_seconds=5
    )
    stop = threading.Event()
    failures: list[str] = []
    seen: list[tuple[float, str]] = []

    def hammer(user: str) -> None:
        with Client(handle.url) as client:
            while not stop.is_set():
                try:
                    seen.append((time.time(), client.recommend(user, k=3)["models"]["recs"]))
                except Exception as exc:
                    failures.append(repr(exc))

    threads = [threading.Thread(target=hammer, args=(u,)) for u in ("u1", "u2", "u3", "u4")]
    try:
        for t in threads:
            t.start()
        time.sleep(2.5)
        moved_at = time.time()
        registry.set_alias("recs", "champion", 2, why="the bad version reaches serving")
        time.sleep(2.5)
        time.sleep(1.5)  # serving flushes its impressions every second
        monitors = Monitors()
        monitors.create(
            "guard",
            model="recs",
            check="psi(scores)",
            window="2s",
            reference="previous 2s",
            alert_above=0.2,
            action="rollback",
        )
        results = monitors.check(at=moved_at + 2.0)
        rolled_at = time.time()
        time.sleep(1.5)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        handle.stop()
    bad = [r for r in results if r.version == 2]
    assert bad and bad[0].alert is not None, results
    assert bad[0].alert.outcome == "rolled-back", bad[0].alert
    assert registry.alias_versions("recs")["champion"] == 1
    last = registry.history("recs")[-1]
    assert (last.from_version, last.to_version, last.who) == (2, 1, "monitor:guard")
    assert failures == []
    assert any(m == "recs/2" for _, m in seen)
    assert any(m == "recs/1" for t, m in seen if t > rolled_at + 0.5), "serving did not follow"
