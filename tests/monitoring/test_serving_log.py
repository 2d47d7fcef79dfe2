"""What serving logs for monitors: the context features of artwork requests (input drift per
feature) and the requests a model failed to answer (error rate), checked end to end."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from tests.monitoring._log import DAY, T0, impressions, write
from tests.monitoring._policy import NamedContextPolicy
from tests.serving._broken import Ranker
from tests.serving.conftest import interactions, subprocess_env
from tests.serving.test_serving_durable import _workers

from limelight.core.errors import InvalidInputError
from limelight.monitoring import Monitors
from limelight.recsys import Popularity
from limelight.registry import Registry
from limelight.serving import Client, serve_in_background
from limelight.serving._app import create_app
from limelight.store import open_store


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LIMELIGHT_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "home"


def _recommend(app: Any, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    async def main() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://serving") as http:
            return [await http.post("/v1/recommend", json=body) for body in bodies]

    return asyncio.run(main())


def test_served_context_features_are_logged_and_their_drift_is_checked(home: Path) -> None:
    registry = Registry()
    registry.set_alias(
        "recs",
        "champion",
        registry.register("recs", Popularity().fit(interactions())).version,
        why="a test",
    )
    policy = NamedContextPolicy(["age", "hour"])  # the names the log gives the features
    registry.set_alias(
        "artwork", "champion", registry.register("artwork", policy).version, why="a test"
    )
    rng = np.random.default_rng(3)

    def bodies(n: int, age_shift: float) -> list[dict[str, Any]]:
        return [
            {
                "user_id": f"u{i % 6}",
                "k": 2,
                "context": {
                    "features": [float(rng.normal(age_shift, 1)), float(rng.uniform(0, 24))]
                },
            }
            for i in range(n)
        ]

    app = create_app({"recs": "recs@champion", "artwork": "artwork@champion"}, poll_seconds=0)
    service = app.state.service
    service.start()
    try:
        assert {r.status_code for r in _recommend(app, bodies(300, 0.0))} == {200}
        time.sleep(1.0)
        split = time.time()
        time.sleep(0.2)
        assert {r.status_code for r in _recommend(app, bodies(300, 1.5))} == {200}
        end = time.time() + 0.1
    finally:
        service.stop()  # commits what is buffered
    logged = open_store().read_events("impressions")
    features = [[c["name"] for c in row] for row in logged["context"].to_pylist()]
    assert features == [["age", "hour"]] * 600

    monitors = Monitors()
    window = f"{end - split + 0.1:.2f}s"
    for name in ("age", "hour"):
        for stat in ("psi", "ks", "wasserstein"):
            monitors.create(f"{stat}-{name}", model="artwork", check=f"{stat}(context.{name})",
                            window=window, reference="previous 1h")  # fmt: skip
    results = {r.monitor: r for r in monitors.check(at=end)}
    for stat in ("psi", "ks", "wasserstein"):
        assert results[f"{stat}-age"].status == "alert", results[f"{stat}-age"]
        assert results[f"{stat}-hour"].status == "ok", results[f"{stat}-hour"]
        assert results[f"{stat}-age"].version == 1
        assert results[f"{stat}-age"].detail["n_current"] == 300
    assert results["psi-age"].detail["n_reference"] == 300

    monitors.create("nope", model="artwork", check="psi(context.nope)", window=window,
                    reference="previous 1h")  # fmt: skip
    with pytest.raises(InvalidInputError, match=r"no context feature 'nope'.*age, hour"):
        monitors.check(["nope"], at=end)
    # no traffic in a later window: empty, no alert
    (later,) = monitors.check(["psi-age"], at=end + 3600)
    assert (later.status, later.alert) == ("empty", None)


def test_a_feature_absent_in_the_window_is_empty_and_an_old_log_without_context_too(
    home: Path,
) -> None:
    rng = np.random.default_rng(0)
    events = home / "events"
    week = impressions(rng, 500, T0, 7 * DAY, model="artwork")
    week["context"] = [[{"name": "age", "value": float(v)}] for v in rng.normal(0, 1, 500)]
    write(events, "impressions", week)
    write(events, "impressions", impressions(rng, 200, T0 + 7 * DAY, DAY, model="artwork"))
    monitors = Monitors()
    monitors.create("age", model="artwork", check="psi(context.age)", window="1d",
                    reference="previous 7d")  # fmt: skip
    (result,) = monitors.check(at=T0 + 8 * DAY)
    assert (result.status, result.value, result.alert) == ("empty", None, None)
    assert "context.age" in result.message
    # a window and reference with no context at all (rows from before the column): empty too
    monitors.create("old", model="artwork", check="ks(context.age)", window="1d",
                    reference="previous")  # fmt: skip
    (result,) = monitors.check(["old"], at=T0 + 8 * DAY)
    assert result.status in ("empty", "no-reference") and result.alert is None


def test_context_checks_are_parsed_and_refused_up_front(home: Path) -> None:
    monitors = Monitors()
    with pytest.raises(InvalidInputError, match="name the feature"):
        monitors.create("x", model="artwork", check="psi(context.)", window="1d")
    with pytest.raises(InvalidInputError, match=r"context\.<feature>"):
        monitors.create("x", model="artwork", check="psi(contexts)", window="1d")
    with pytest.raises(InvalidInputError, match="takes no column"):
        monitors.create("x", model="recs", check="error_rate(scores)", window="1d", alert_above=0.1)
    assert monitors.all() == []


@pytest.mark.slow
def test_failed_requests_are_logged_durably_and_give_the_error_rate(home: Path) -> None:
    registry = Registry()
    registry.set_alias(
        "recs", "champion", registry.register("recs", Ranker("bad_users")).version, why="a test"
    )
    handle = serve_in_background({"recs": "recs@champion"}, workers=1, env=subprocess_env(),
                                 graceful_seconds=5)  # fmt: skip
    start = time.time()
    try:
        assert handle.pid is not None
        (victim,) = _workers(handle.pid)
        statuses = []
        with httpx.Client(base_url=handle.url, timeout=30) as http:
            for i in range(30):  # one at a time: a bad user fails only its own request
                user = f"bad-{i}" if i % 3 == 0 else f"good-{i}"
                statuses.append(
                    http.post("/v1/recommend", json={"user_id": user, "k": 2}).status_code
                )
        assert statuses.count(502) == 10 and statuses.count(200) == 20
        os.kill(victim, signal.SIGKILL)  # right after the answers: nothing committed yet
        deadline = time.monotonic() + 60
        while (
            len(open_store().read_events("failures")) < 10
            or len(open_store().read_events("impressions")) < 20
        ):
            assert time.monotonic() < deadline, "the dead worker's failures were not replayed"
            time.sleep(0.2)
        with Client(handle.url) as client:
            assert client.recommend("good-x", k=2)["models"]["recs"] == "recs/1"
    finally:
        handle.stop()
    failures = open_store().read_events("failures").to_pylist()
    assert len(failures) == 10
    assert {(f["models"][0], f["endpoint"], f["error"]) for f in failures} == {
        ("recs/1", "/v1/recommend", "ContractError")
    }
    end = time.time() + 1
    monitors = Monitors()
    monitors.create("errors", model="recs", check="error_rate()", window=f"{end - start + 1:.1f}s",
                    alert_above=0.2)  # fmt: skip
    (result,) = monitors.check(at=end)
    assert result.version == 1 and result.value == pytest.approx(10 / 31)
    assert result.status == "alert"
