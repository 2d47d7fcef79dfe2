"""Learn an artwork policy from logged data and value it off-policy before it ever serves.

Uses the Open Bandit Dataset sample logged by a uniform random policy (80 items, 3 positions):
the earlier half of the rounds trains, the later half evaluates. Fit several policies in
parallel (foreach), value each on the later half with every off-policy estimator (replay, IPS,
SNIPS, DM, DR) with bootstrap intervals, and register the best by DR as ``artwork-obd``
with its estimates as metrics (``dr``, ``dr.low``, ``dr.high``, ...), so that the registry's
``IntervalGate("dr")`` can decide a promotion.

    limelight run examples/artwork_policy.py --data ../shared/datasets/obd
"""

import numpy as np

from limelight.bandits import (
    EpsilonGreedy,
    LinearThompsonSampling,
    LinUCB,
    RewardModelPolicy,
    UniformRandom,
    estimate_rewards,
    evaluate,
    load_obd,
)
from limelight.flows import Flow, Param, current, step

POLICIES = {
    "uniform": UniformRandom,
    "epsilon-greedy": EpsilonGreedy,
    "linucb": LinUCB,
    "linear-ts": LinearThompsonSampling,
    "reward-model": RewardModelPolicy,
}


class ArtworkPolicy(Flow):
    data = Param(default="../shared/datasets/obd", help="the Open Bandit Dataset folder")
    candidates = Param(default=["uniform", "epsilon-greedy", "linucb", "linear-ts", "reward-model"])
    bootstrap = Param(default=200, help="bootstrap resamples for the intervals")
    seed = Param(default=0)

    @step
    def start(self):
        unknown = sorted(set(self.candidates) - set(POLICIES))
        if unknown:
            raise ValueError(f"unknown policies {unknown}; choose from {sorted(POLICIES)}")
        log = load_obd(self.data, "random")
        current.use_dataset(
            "open-bandit-dataset",
            "random/all",
            path=self.data,
            license=log.licence,
            usage=log.usage,
        )
        half = log.n_rounds // 2  # rounds are in time order: train on the past, value on the future
        self.train, self.test = (
            log.subset(np.arange(half)),
            log.subset(np.arange(half, log.n_rounds)),
        )
        self.logged_ctr = float(np.mean(self.test.reward))
        self.rewards_hat = estimate_rewards(self.test, n_folds=2, random_state=self.seed)
        self.next(self.fit, foreach="candidates")

    @step
    def fit(self):
        name = self.input
        cls = POLICIES[name]
        kwargs = {"n_actions": self.train.n_actions, "random_state": self.seed}
        if name in ("linucb", "linear-ts", "reward-model"):
            kwargs["n_features"] = self.train.n_features
        self.name = name
        self.policy = cls(**kwargs).fit(self.train)
        dist = self.policy.action_probabilities(self.test.context)
        estimates = evaluate(
            self.test, dist, self.rewards_hat, n_bootstrap=self.bootstrap, random_state=self.seed
        )
        self.estimates = {k: e.to_dict() for k, e in estimates.items()}
        for estimator, e in estimates.items():
            current.log_metric(estimator, e.value)
        print(name, {k: round(e.value, 5) for k, e in estimates.items()})
        self.next(self.choose)

    @step
    def choose(self, inputs):
        self.table = {i.name: {k: v["value"] for k, v in i.estimates.items()} for i in inputs}
        best = max(inputs, key=lambda i: i.estimates["dr"]["value"])
        metrics = {}
        for estimator, e in best.estimates.items():
            metrics[estimator] = e["value"]
            metrics[f"{estimator}.low"] = e["lower"]
            metrics[f"{estimator}.high"] = e["upper"]
        self.best = best.name
        self.logged_ctr = inputs[0].logged_ctr
        self.version = current.register_model("artwork-obd", best.policy, metrics=metrics).version
        self.next(self.end)

    @step
    def end(self):
        for name, values in sorted(self.table.items(), key=lambda kv: -kv[1]["dr"]):
            print(f"{name:15s} " + "  ".join(f"{k}={v:.5f}" for k, v in values.items()))
        print(
            f"registered artwork-obd/{self.version}: {self.best} (logged CTR {self.logged_ctr:.4f})"
        )
