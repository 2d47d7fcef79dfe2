"""Contextual bandits for artwork personalization, and off-policy evaluation of them.

Policies share one interface (``choose``, ``choose_many``, ``update``, ``fit``,
``action_probabilities``, ``get_state``/``from_state``) and log the propensity of every choice.
The estimators value a target policy from data logged by another and can gate a promotion.
Pure numpy: arrays in, arrays out (``load_obd`` reads the Open Bandit Dataset's CSV files).

Example::

    import numpy as np
    from limelight.bandits import LinUCB, BanditLog, beats, evaluate, estimate_rewards

    rng = np.random.default_rng(0)
    x = rng.normal(size=(5000, 4))
    logged = rng.integers(0, 3, 5000)                          # a uniform random logger
    clicks = (rng.random(5000) < 0.1 + 0.1 * (logged == (x[:, 0] > 0))).astype(float)
    log = BanditLog(context=x, action=logged, reward=clicks, pscore=np.full(5000, 1 / 3),
                    n_actions=3, licence="proprietary", usage="production")

    policy = LinUCB(n_actions=3, n_features=4, alpha=0.5, random_state=0).fit(log)
    choice, propensity = policy.choose(x[0])                   # log the propensity with it
    q = estimate_rewards(log)
    challenger = evaluate(log, policy.action_probabilities(x), q)["dr"]
    champion = evaluate(log, np.full((5000, 3), 1 / 3), q)["dr"]
    promote, reason = beats(challenger, champion)
    state = policy.get_state()                                 # arrays, ints, floats, strings
"""

from limelight.bandits._base import Policy, StateValue, policy_from_state
from limelight.bandits._context_free import BetaThompsonSampling, EpsilonGreedy, UniformRandom
from limelight.bandits._linear import LinearThompsonSampling, LinUCB, RewardModelPolicy
from limelight.bandits._log import BanditLog
from limelight.bandits._obd import OBD_LICENCE, load_obd
from limelight.bandits._ope import (
    ESTIMATORS,
    Estimate,
    beats,
    compare,
    direct_method,
    doubly_robust,
    evaluate,
    ips,
    replay,
    snips,
)
from limelight.bandits._ope_sums import ChoiceSums, estimate_from_sums
from limelight.bandits._replay import replay_policy
from limelight.bandits._reward_model import estimate_rewards

__all__ = [
    "ESTIMATORS",
    "OBD_LICENCE",
    "BanditLog",
    "BetaThompsonSampling",
    "ChoiceSums",
    "EpsilonGreedy",
    "Estimate",
    "LinUCB",
    "LinearThompsonSampling",
    "Policy",
    "RewardModelPolicy",
    "StateValue",
    "UniformRandom",
    "beats",
    "compare",
    "direct_method",
    "doubly_robust",
    "estimate_from_sums",
    "estimate_rewards",
    "evaluate",
    "ips",
    "load_obd",
    "policy_from_state",
    "replay",
    "replay_policy",
    "snips",
]
