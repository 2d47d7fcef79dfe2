"""A small store made with the real APIs: flow runs (one failed and resumed), notebook runs,
registered models with aliases and gates, an experiment with its event log, bandit impressions.

Known answers the tests check: the ``Train`` run logs ``loss`` at 7 steps; the ``Nasty`` run
carries a tag and an artifact called ``<script>alert(1)</script>``; 3 notebook runs are tagged
``sweep``; the experiment ``button`` has 2 arms split 50/50.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

import numpy as np

from limelight.core.config import Config
from limelight.experiments import ExperimentSpec, Variant, allocate_many
from limelight.experiments.store import create_experiment
from limelight.flows import Flow, FlowFailed, current, step
from limelight.registry import GateRefused, MetricGate, Registry
from limelight.store import open_store
from limelight.tracking import start_run

NASTY = "<script>alert(1)</script>"
LOSS_STEPS = 7
DAY = 86400.0


class Train(Flow):
    @step
    def start(self):
        self.rates = [0.1, 0.3]
        self.next(self.fit, foreach="rates")

    @step
    def fit(self):
        self.rate = self.input
        self.weights = np.arange(4.0) * self.rate
        print(f"fitting with rate {self.rate}")
        self.next(self.join)

    @step
    def join(self, inputs):
        self.best = max(i.rate for i in inputs)
        for k in range(LOSS_STEPS):
            current.log_metric("loss", 1.0 / (k + 1), step=k)
        current.log_param("optimizer", "sgd")
        current.use_dataset("movielens-100k", usage="research-only", license="GroupLens")
        current.register_model("recs", {"best": self.best}, metrics={"ndcg@10": 0.31})
        self.next(self.end)

    @step
    def end(self):
        self.summary = {"best": self.best, "note": "fine"}


class Nasty(Flow):
    @step
    def start(self):
        setattr(self, NASTY, NASTY)
        current.set_tag(NASTY)
        current.log_metric(NASTY, 1.0)
        self.next(self.end)

    @step
    def end(self):
        pass


class Flaky(Flow):
    @step
    def start(self):
        self.next(self.work)

    @step
    def work(self):
        if os.environ.get("LIMELIGHT_UI_SEED_FAIL") == "1":
            raise RuntimeError("not yet")
        self.done = True
        self.next(self.end)

    @step
    def end(self):
        pass


def seed_flows(config: Config) -> dict[str, Any]:
    train = Train.run(config=config, executor="inline", tags=["demo"])
    nasty = Nasty.run(config=config, executor="inline")
    os.environ["LIMELIGHT_UI_SEED_FAIL"] = "1"
    try:
        Flaky.run(config=config, executor="inline")
        raise AssertionError("the flaky flow should have failed")
    except FlowFailed as exc:
        failed = exc.run
    finally:
        os.environ.pop("LIMELIGHT_UI_SEED_FAIL")
    resumed = Flaky.resume(failed.id, config=config, executor="inline")
    return {"train": train, "nasty": nasty, "failed": failed, "resumed": resumed}


def seed_notebooks(config: Config) -> list[int]:
    ids = []
    for i, lr in enumerate([0.01, 0.1, 1.0]):
        with start_run("sweep", params={"lr": lr}, tags=["sweep"], config=config) as run:
            for k in range(5):
                run.log_metric("auc", 0.5 + 0.05 * k * (i + 1) / 3, step=k)
            ids.append(run.id)
    with start_run("ab-rankers", tags=["interleaving"], config=config) as run:
        run.log_params({"ranker_a": "ease", "ranker_b": "popularity"})
        run.log_metrics(
            {
                "preference": 0.12,
                "ci_low": 0.04,
                "ci_high": 0.2,
                "wins_a": 310.0,
                "wins_b": 240.0,
                "ties": 50.0,
                "p_value": 0.003,
            }
        )
    return ids


def seed_registry(config: Config) -> None:
    registry = Registry(config)
    registry.register("recs", {"v": 2}, metrics={"ndcg@10": 0.35})
    registry.register("recs", {"v": 3}, metrics={"ndcg@10": 0.33})
    registry.set_usage_gate("recs", False, why="seeded from research-only MovieLens for the tests")
    registry.set_alias("recs", "champion", 1, why="first model")
    registry.set_gates("recs", [MetricGate("ndcg@10")])
    registry.set_alias("recs", "champion", 2, why="better ndcg")
    with contextlib.suppress(GateRefused):  # refused: the audit log keeps the decision
        registry.set_alias("recs", "champion", 3, why="try the newest")
    registry.set_alias("recs", "challenger", 3, why="shadow")
    for v, (dr, half) in enumerate([(0.10, 0.02), (0.13, 0.015)], start=1):
        registry.register(
            "artwork-policy",
            {"version": v},
            metrics={"dr": dr, "dr.low": dr - half, "dr.high": dr + half, "ips": dr},
        )
    registry.set_alias("artwork-policy", "champion", 2, why="higher DR estimate")


def seed_events(config: Config, users: int = 400, seed: int = 0) -> ExperimentSpec:
    """Three days of impressions and plays for experiment ``button`` and the artwork bandit."""
    rng = np.random.default_rng(seed)
    store = open_store(config)
    start = time.time() - 3 * DAY
    spec = ExperimentSpec(
        name="button",
        salt="button-1",
        variants=(Variant("control", 0.5), Variant("treatment", 0.5)),
        start=start,
        status="running",
        description="a bigger play button",
    )
    create_experiment(store.metadata, spec)
    draft = ExperimentSpec(
        name="draft-exp", salt="draft-1", variants=(Variant("a", 0.5), Variant("b", 0.5))
    )
    create_experiment(store.metadata, draft)
    ids = [f"u{i}" for i in range(users)]
    arms = allocate_many(ids, spec.salt, [v.share for v in spec.variants])
    impressions = store.event_writer("impressions", flush_seconds=3600)
    feedback = store.event_writer("feedback", flush_seconds=3600)
    n = 0
    for day in range(3):
        for u, arm in zip(ids, arms, strict=True):
            if rng.random() < 0.5:
                continue
            n += 1
            ts = start + day * DAY + rng.uniform(0, DAY)
            artworks = [str(a) for a in rng.choice(["art-a", "art-b", "art-c"], size=3)]
            request = f"r{n}"
            impressions.append(
                {
                    "request_id": request,
                    "ts": ts,
                    "user_id": u,
                    "items": ["m1", "m2", "m3"],
                    "scores": [0.9, 0.5, 0.1],
                    "artworks": artworks,
                    "propensities": rng.uniform(0.2, 0.9, 3).tolist(),
                    "experiments": ["button"],
                    "variants": [spec.variants[int(arm)].name],
                    "models": ["recs/2"],
                    "latency_ms": float(rng.gamma(4.0, 3.0)),
                }
            )
            rate = 0.3 + 0.1 * int(arm)
            for item, art in zip(["m1", "m2", "m3"], artworks, strict=True):
                if rng.random() < rate * (1.5 if art == "art-b" else 1.0):
                    feedback.append(
                        {
                            "request_id": request,
                            "ts": ts + 5,
                            "user_id": u,
                            "item_id": item,
                            "event": "play",
                            "value": 1.0,
                        }
                    )
    impressions.close()
    feedback.close()
    return spec


def seed_all(config: Config) -> dict[str, Any]:
    info = seed_flows(config)
    info["notebooks"] = seed_notebooks(config)
    seed_registry(config)
    info["experiment"] = seed_events(config)
    return info
