"""The demo's two develop flows, on the simulated streaming service.

``DemoRecommenders``: history from the simulator, a popularity baseline and personalised
recommenders trained in parallel, evaluated offline (full-catalogue NDCG) and against the
simulator's truth (expected plays per session), both registered as ``recs``.

``DemoArtwork``: an exploration log (uniformly random artwork), a contextual policy trained on
the earlier half, valued off-policy on the later half with every estimator and against the
simulator's truth, registered as ``artwork``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from limelight.bandits import BanditLog, LinUCB, RewardModelPolicy, estimate_rewards, evaluate
from limelight.demo._catalog import TitleArtworkPolicy
from limelight.flows import Flow, Param, current, step
from limelight.recsys import EASE, Interactions, ItemKNN, Popularity, random_holdout
from limelight.recsys import evaluate as evaluate_ranking
from limelight.sim import World, artwork_probabilities, exploration_log, history, ranker_slates

__all__ = ["DemoArtwork", "DemoRecommenders", "SIM_LICENCE"]

SIM_LICENCE = "synthetic data from the Limelight simulator"
RANKERS: dict[str, Any] = {"popularity": Popularity, "ease": EASE, "itemknn": ItemKNN}
POLICIES: dict[str, Any] = {"linucb": LinUCB, "reward-model": RewardModelPolicy}


def _world(scale: str | float, seed: int) -> World:
    # the past service showed titles evenly (flatness 0), so offline metrics rank models the way
    # members would: the demo's story is the platform, not a biased log
    return World.from_scale(scale, seed=seed, history_exposure_flatness=0.0)


class DemoRecommenders(Flow):
    scale = Param(
        default="small", help="the simulator's size (tiny, small, medium, large or a factor)"
    )
    seed = Param(default=0)
    configs = Param(
        default=[
            {"model": "popularity"},
            {"model": "ease", "l2": 1000.0},
            {"model": "itemknn", "neighbors": 50},
        ],
        help="recommenders to train: {'model': name, **keyword arguments}",
    )
    truth_members = Param(default=2000, help="members over which the true value is computed")

    @step
    def start(self):
        world = _world(self.scale, self.seed)
        past = history(world)
        data = Interactions.from_arrays(
            past.user_ids,
            past.item_ids,
            timestamp=past.timestamps,
            name="sim-history",
            license=SIM_LICENCE,
            usage="production",
        )
        current.use_dataset(
            "sim-history", f"{self.scale}-{self.seed}", license=SIM_LICENCE, usage="production"
        )
        self.train, self.test = random_holdout(data, 0.2, seed=self.seed)
        self.plays = len(past)
        self.next(self.fit, foreach="configs")

    @step
    def fit(self):
        config = dict(self.input)
        name = config.pop("model")
        self.name = name
        self.model = RANKERS[name](**config).fit(self.train)
        offline = evaluate_ranking(self.model, self.test, k=[10])
        world = _world(self.scale, self.seed)
        members = np.random.default_rng(self.seed).choice(
            world.n_members, size=min(self.truth_members, world.n_members), replace=False
        )
        slates = ranker_slates(self.model, world, members, k=world.config.row_size)
        self.metrics = {
            "ndcg@10": float(offline["ndcg@10"]),
            "recall@10": float(offline["recall@10"]),
            "true_plays_per_session": world.ranker_value(members, slates),
        }
        for metric, value in self.metrics.items():
            current.log_metric(metric, value)
        self.next(self.choose)

    @step
    def choose(self, inputs):
        baseline = next(i for i in inputs if i.name == "popularity")
        best = max(
            (i for i in inputs if i.name != "popularity"), key=lambda i: i.metrics["ndcg@10"]
        )
        self.baseline_version = current.register_model(
            "recs", baseline.model, metrics=baseline.metrics
        ).version
        self.challenger_version = current.register_model(
            "recs", best.model, metrics=best.metrics
        ).version
        self.leaderboard = {i.name: i.metrics for i in inputs}
        self.challenger = best.name
        self.next(self.end)

    @step
    def end(self):
        for name, metrics in self.leaderboard.items():
            print(name, {k: round(v, 4) for k, v in metrics.items()})


class DemoArtwork(Flow):
    scale = Param(default="small")
    seed = Param(default=0)
    sessions = Param(default=4000, help="sessions in the exploration log")
    policy = Param(default="reward-model", help="linucb or reward-model")
    bootstrap = Param(default=200)

    @step
    def start(self):
        if self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {sorted(POLICIES)}, not {self.policy!r}")
        world = _world(self.scale, self.seed)
        log = exploration_log(world, self.sessions, seed=self.seed + 1)
        current.use_dataset(
            "sim-artwork-exploration",
            f"{self.scale}-{self.seed}-{self.sessions}",
            license=SIM_LICENCE,
            usage="production",
        )
        half = len(log.rewards) // 2
        self.train_rows, self.test_rows = np.arange(half), np.arange(half, len(log.rewards))
        self.log = log
        self.n_arms = world.config.n_genres
        self.next(self.fit)

    @step
    def fit(self):
        world = _world(self.scale, self.seed)
        log = self.log
        bandit_log = BanditLog(
            context=log.contexts,
            action=log.arms,
            reward=log.rewards,
            pscore=log.propensities,
            n_actions=self.n_arms,
            licence=SIM_LICENCE,
            usage="production",
        )
        train, test = bandit_log.subset(self.train_rows), bandit_log.subset(self.test_rows)
        kwargs: dict[str, Any] = {
            "n_actions": self.n_arms,
            "n_features": world.context_dim,
            "random_state": self.seed,
        }
        self.policy_object = POLICIES[self.policy](**kwargs).fit(train)
        mask = log.candidate_mask()[self.test_rows]
        dist = self.policy_object.action_probabilities(test.context, mask)
        q_hat = estimate_rewards(test, n_folds=2, random_state=self.seed)
        estimates = evaluate(test, dist, q_hat, n_bootstrap=self.bootstrap, random_state=self.seed)
        members, titles = log.member_ids[self.test_rows], log.title_ids[self.test_rows]
        positions = log.positions[self.test_rows]
        probs = artwork_probabilities(self.policy_object, world, members, titles)
        uniform = np.full(probs.shape, 1.0 / probs.shape[1])
        self.truth = {
            "policy": world.artwork_policy_value(members, titles, probs, positions),
            "random": world.artwork_policy_value(members, titles, uniform, positions),
        }
        self.estimates = {name: e.to_dict() for name, e in estimates.items()}
        self.next(self.end)

    @step
    def end(self):
        metrics = {"true_value": self.truth["policy"], "random_true_value": self.truth["random"]}
        for name, e in self.estimates.items():
            for key, field in (("", "value"), (".low", "lower"), (".high", "upper")):
                metrics[name + key] = float(e[field])
        world = _world(self.scale, self.seed)
        titles = np.arange(world.n_titles)
        served = TitleArtworkPolicy(self.policy_object, titles, world.artwork_candidates(titles))
        self.version = current.register_model("artwork", served, metrics=metrics).version
        print({k: round(v, 5) for k, v in metrics.items()})
