"""The main job at a small scale: each stage produces what it says."""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc
import pytest

from limelight.core.config import resolve_config
from limelight.core.errors import InvalidInputError
from limelight.demo import run_demo
from limelight.experiments.store import get_experiment
from limelight.flows import Flow, Run
from limelight.registry import Registry
from limelight.scheduling import recent_firings
from limelight.store import open_store


@pytest.mark.slow
def test_demo_develops_deploys_improves_and_reports(home: Path) -> None:
    lines: list[str] = []
    report = run_demo(
        scale="small", seed=0, days=2, workers=2, config=resolve_config(), out=lines.append
    )

    # develop: two successful flows, two recommender versions and an artwork policy; the
    # recommenders' training is a deployment on a daily schedule: its first firing trained
    # (recs/1, recs/2), the next day boundary retrained (recs/3, recs/4), then promotion stopped
    # the daily passes; recs/5 is the guardrail's
    for flow in ("DemoRecommenders", "DemoArtwork"):
        run = Flow(flow).latest_run
        assert run is not None and run.successful
    trainings = recent_firings("DemoRecommenders")
    assert [f.reason for f in trainings] == ["schedule", "schedule"], trainings
    assert all(f.status == "succeeded" for f in trainings)
    first_training = Run(str(trainings[-1].run))
    assert first_training.params["scale"] == "small" and first_training.params["seed"] == 0
    assert any(f"{trainings[0].run}" in line and "retrained" in line for line in lines)
    registry = Registry()
    assert [v.version for v in registry.versions("recs")] == [1, 2, 3, 4, 5]
    assert registry.versions("artwork")[0].lineage["datasets"][0]["usage"] == "production"

    # the artwork policy's off-policy intervals cover the simulator's truth
    art = report.artwork_metrics
    assert art["dr.low"] <= art["true_value"] <= art["dr.high"]
    assert art["true_value"] > art["random_true_value"]

    # deploy and improve: every session was served and logged, every play fed back
    store = open_store()
    impressions, feedback = store.read_events("impressions"), store.read_events("feedback")
    guard = report.guardrail
    assert impressions.num_rows == sum(d.sessions for d in report.days) + guard.sessions
    assert feedback.num_rows == sum(d.plays for d in report.days) + guard.plays
    assert pc.all(pc.greater(pc.list_value_length(impressions["propensities"]), 0)).as_py()

    # the analysis: significant on the first day, its interval covering the true lift
    first = report.days[0]
    assert first.users and first.lift_low > 0
    assert first.lift_low <= report.true_lift <= first.lift_high
    assert report.promoted_day == 0

    # the promotion went through the gates, was audited, and serving switched without a restart
    moves = [(e.alias, e.from_version, e.to_version, e.outcome) for e in registry.history("recs")]
    assert ("champion", 1, 2, "moved") in moves
    assert registry.get("recs@champion").version == 2
    assert report.swap_seconds is not None
    assert get_experiment(store.metadata, report.experiment).status.value == "stopped"
    by_time = impressions.sort_by("ts")
    day_two = by_time.slice(
        by_time.num_rows - guard.sessions - report.days[1].sessions, report.days[1].sessions
    )
    assert all("recs/2" in models for models in day_two["models"].to_pylist()), (
        "day 2 is all on recs/2"
    )
    assert not any(day_two["experiments"].to_pylist()), (
        "no assignments after the experiment stopped"
    )

    # the guardrail day: the bad version served, a monitor caught it and rolled the alias back
    assert (guard.good_version, guard.bad_version) == (2, 5)
    assert guard.outcome == "rolled-back" and guard.value > guard.threshold
    last = registry.history("recs")[-1]
    assert (last.from_version, last.to_version) == (5, 2)
    assert last.who == "monitor:recs-scores-guardrail" and "wasserstein(scores)" in (last.why or "")
    assert any("recs/5" in m for m in impressions["models"].to_pylist())
    assert any("rolled-back" in line for line in lines)

    # the report: on the terminal and as HTML with its plots
    assert any("true lift" in line for line in lines)
    page = (home / "demo" / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"days": 0}, "days must be a positive int"),
        ({"workers": 0}, "workers must be a positive int"),
        ({"scale": "galactic"}, "unknown scale 'galactic'"),
        ({"scale": -2.0}, "scale"),
    ],
)
def test_demo_bad_input(home: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        run_demo(out=lambda _: None, **kwargs)  # type: ignore[arg-type]
    assert not (home / "limelight.db").exists(), "nothing is written for a refused demo"
