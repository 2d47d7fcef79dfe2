"""Contextual bandits for artwork personalization, and off-policy evaluation of them.

Policies share one interface (``choose``, ``choose_many``, ``update``, ``fit``,
``action_probabilities``, ``get_state``/``from_state``) and log the propensity of every choice.
The estimators value a target policy from data logged by another and can gate a promotion.
Pure numpy/scipy: arrays in, arrays out.
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
    direct_method,
    doubly_robust,
    evaluate,
    ips,
    replay,
    snips,
)
from limelight.bandits._replay import replay_policy
from limelight.bandits._reward_model import estimate_rewards

__all__ = [
    "ESTIMATORS",
    "OBD_LICENCE",
    "BanditLog",
    "BetaThompsonSampling",
    "EpsilonGreedy",
    "Estimate",
    "LinUCB",
    "LinearThompsonSampling",
    "Policy",
    "RewardModelPolicy",
    "StateValue",
    "UniformRandom",
    "beats",
    "direct_method",
    "doubly_robust",
    "estimate_rewards",
    "evaluate",
    "ips",
    "load_obd",
    "policy_from_state",
    "replay",
    "replay_policy",
    "snips",
]
