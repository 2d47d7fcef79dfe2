"""Li et al.'s replay of a learning policy along a uniformly random log."""

from __future__ import annotations

import numpy as np

from limelight.bandits._base import Policy
from limelight.bandits._log import BanditLog
from limelight.bandits._ope import Estimate, _estimates, _Terms
from limelight.core.errors import InvalidInputError

__all__ = ["replay_policy"]


def replay_policy(
    log: BanditLog,
    policy: Policy,
    *,
    learn: bool = True,
    level: float = 0.95,
    n_bootstrap: int = 1000,
    random_state: int | None = None,
) -> Estimate:
    """Run ``policy`` along the log in order; keep the rounds where it picks the logged action.

    The mean reward of the kept rounds estimates the policy's value, and with ``learn=True``
    the policy learns from them as it would online (Li et al., WSDM 2011). Unbiased only for
    uniformly random logs. The policy is changed in place: pass a fresh one or a copy
    (``policy_from_state(p.get_state())``). The interval resamples rounds and does not
    account for the policy's learning.
    """
    if not isinstance(log, BanditLog):
        raise InvalidInputError(f"expected a BanditLog, got {type(log).__name__}")
    if not isinstance(policy, Policy):
        raise InvalidInputError(f"expected a bandit Policy, got {type(policy).__name__}")
    if log.n_actions != policy.n_actions:
        raise InvalidInputError(
            f"the log comes from a policy with {log.n_actions} actions but the replayed policy "
            f"has n_actions={policy.n_actions}: the action sets differ"
        )
    if np.ptp(log.pscore) > 1e-12:
        raise InvalidInputError(
            "replay needs data logged by a uniform random policy (equal propensities); "
            "this log's propensities vary: use ips, snips or dr instead"
        )
    matched = np.zeros(log.n_rounds)
    for i in range(log.n_rounds):
        context = log.context[i] if policy.contextual else None
        choice, _ = policy.choose(context)
        if choice == log.action[i]:
            matched[i] = 1.0
            if learn:
                policy.update(context, choice, float(log.reward[i]))
    if not matched.any():
        raise InvalidInputError("replay: the policy never picked a logged action")
    terms = {"replay": _Terms(num=matched * log.reward, den=matched, weights=matched)}
    return _estimates(log, terms, level, n_bootstrap, random_state, max_groups=20_000)["replay"]
