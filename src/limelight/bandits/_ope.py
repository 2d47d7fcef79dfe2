"""Off-policy evaluation: the value of a target policy estimated from data logged by another.

Estimators (all take the target policy's action distribution on the logged contexts, of shape
(n_rounds, n_actions) or, for slates, (n_rounds, n_actions, len_list) as in Open Bandit
Pipeline): replay (Li et al. 2011; uniform logging only), IPS, self-normalised IPS, the direct
method and doubly robust. Each returns an :class:`Estimate` with a bootstrap (or normal)
confidence interval and importance-weight diagnostics; :func:`beats` turns two estimates into a
promotion decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike, NDArray

from limelight.bandits._log import BanditLog
from limelight.core.errors import InvalidInputError

__all__ = [
    "ESTIMATORS",
    "Estimate",
    "beats",
    "compare",
    "direct_method",
    "doubly_robust",
    "evaluate",
    "ips",
    "replay",
    "snips",
]

ESTIMATORS = ("replay", "ips", "snips", "dm", "dr")
_NEEDS_MODEL = ("dm", "dr")


@dataclass(frozen=True)
class Estimate:
    """A policy value estimate with its confidence interval and weight diagnostics.

    ``ess`` is the effective sample size of the importance weights, (sum w)^2 / sum w^2: far
    below ``n_rounds`` means few logged rounds carry the estimate and its interval is fragile.
    """

    estimator: str
    value: float
    lower: float
    upper: float
    level: float
    std_error: float
    n_rounds: int
    ess: float
    max_weight: float
    clipped_fraction: float
    n_bootstrap: int

    def to_dict(self) -> dict[str, float | int | str]:
        """The estimate as plain numbers (for metrics, registry gates and reports)."""
        return asdict(self)


@dataclass(frozen=True)
class _Terms:
    """Per-round terms whose mean (or ratio of means) is the estimate."""

    num: NDArray[np.float64]
    den: NDArray[np.float64] | None
    weights: NDArray[np.float64] | None
    clipped_fraction: float = 0.0


def _per_position(log: BanditLog, array: ArrayLike, name: str) -> NDArray[np.float64]:
    """``array`` of shape (n, K) or (n, K, L) as the (n, K) slice at each round's position."""
    arr = np.asarray(array, dtype=np.float64)
    n, k, length = log.n_rounds, log.n_actions, log.len_list
    if arr.ndim not in (2, 3) or arr.shape[0] != n:
        raise InvalidInputError(
            f"{name} must have shape ({n}, {k}) or ({n}, {k}, {length}) for this log, "
            f"got {arr.shape}"
        )
    if arr.shape[1] != k:
        raise InvalidInputError(
            f"{name} covers {arr.shape[1]} actions but the log's behaviour policy had {k}: "
            "evaluate the target policy on the logging policy's action set"
        )
    if arr.ndim == 3:
        if arr.shape[2] != length:
            raise InvalidInputError(
                f"{name} has {arr.shape[2]} positions but the log has len_list={length}"
            )
        arr = arr[np.arange(n), :, log.position]
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError(f"{name} has missing or infinite values")
    return arr


def _action_dist(log: BanditLog, action_dist: ArrayLike) -> NDArray[np.float64]:
    if not isinstance(log, BanditLog):
        raise InvalidInputError(f"expected a BanditLog, got {type(log).__name__}")
    dist = _per_position(log, action_dist, "action_dist")
    if np.any(dist < 0) or not np.allclose(dist.sum(axis=1), 1.0, atol=1e-6):
        raise InvalidInputError(
            "action_dist must hold probabilities: non-negative and summing to 1 over actions "
            "for every round (and position)"
        )
    return dist


def _importance(log: BanditLog, dist: NDArray, clip: float | None) -> tuple[NDArray, float]:
    w = dist[np.arange(log.n_rounds), log.action] / log.pscore
    if clip is None:
        return w, 0.0
    if not clip > 0:
        raise InvalidInputError(f"clip must be a positive maximum weight, got {clip!r}")
    clipped = float(np.mean(w > clip))
    return np.minimum(w, clip), clipped


def _terms(
    name: str, log: BanditLog, dist: NDArray, q: NDArray | None, clip: float | None
) -> _Terms:
    n = log.n_rounds
    rows = np.arange(n)
    if name == "replay":
        if np.ptp(log.pscore) > 1e-12:
            raise InvalidInputError(
                "replay needs data logged by a uniform random policy (equal propensities); "
                "this log's propensities vary: use ips, snips or dr instead"
            )
        pi = dist[rows, log.action]
        if pi.sum() <= 0:
            raise InvalidInputError(
                "replay: the target policy never picks a logged action, nothing to replay"
            )
        return _Terms(num=pi * log.reward, den=pi, weights=pi)
    if name in _NEEDS_MODEL:
        if q is None:
            raise InvalidInputError(
                f"{name} needs estimated_rewards (a reward model's prediction for every round "
                "and action); see limelight.bandits.estimate_rewards"
            )
        baseline = np.einsum("nk,nk->n", dist, q)
        if name == "dm":
            return _Terms(num=baseline, den=None, weights=None)
        w, clipped = _importance(log, dist, clip)
        num = baseline + w * (log.reward - q[rows, log.action])
        return _Terms(num=num, den=None, weights=w, clipped_fraction=clipped)
    if name in ("ips", "snips"):
        w, clipped = _importance(log, dist, clip)
        if name == "snips" and not w.any():
            raise InvalidInputError(
                "snips is undefined: the target policy gives zero probability to every logged "
                "action (all importance weights are 0); use ips or dr"
            )
        return _Terms(
            num=w * log.reward,
            den=w if name == "snips" else None,
            weights=w,
            clipped_fraction=clipped,
        )
    raise InvalidInputError(f"unknown estimator {name!r}; choose from {ESTIMATORS}")


def _bootstrap_means(
    columns: NDArray[np.float64], n_bootstrap: int, rng: np.random.Generator, max_groups: int
) -> NDArray[np.float64]:
    """Column means of ``n_bootstrap`` resamples (with replacement) of the rows: (B, c).

    Past ``max_groups`` rows, the rows are first shuffled into ``max_groups`` near-equal random
    groups and whole groups are resampled: the groups are i.i.d. like the rows, so the bootstrap
    stays valid while each replicate costs O(groups) instead of O(rows).
    """
    n, c = columns.shape
    data: NDArray[np.float64] = columns
    sizes: NDArray[np.float64] = np.ones(n)
    if n > max_groups:
        group = rng.permutation(n) % max_groups
        data = np.column_stack(
            [np.bincount(group, weights=columns[:, j], minlength=max_groups) for j in range(c)]
        ).astype(np.float64)
        sizes = np.bincount(group, minlength=max_groups).astype(np.float64)
    g = data.shape[0]
    out = np.empty((n_bootstrap, c))
    block = max(1, min(n_bootstrap, 2_000_000 // g))
    for start in range(0, n_bootstrap, block):
        b = min(block, n_bootstrap - start)
        idx = rng.integers(0, g, size=(b, g)) + (np.arange(b) * g)[:, None]
        counts = np.bincount(idx.ravel(), minlength=b * g).reshape(b, g).astype(np.float64)
        out[start : start + b] = (counts @ data) / (counts @ sizes)[:, None]
    return out


def _estimates(
    log: BanditLog,
    terms: dict[str, _Terms],
    level: float,
    n_bootstrap: int,
    random_state: int | np.random.Generator | None,
    max_groups: int,
) -> dict[str, Estimate]:
    if not 0 < level < 1:
        raise InvalidInputError(f"level must be in (0, 1), e.g. 0.95; got {level!r}")
    if n_bootstrap < 0 or int(n_bootstrap) != n_bootstrap:
        raise InvalidInputError(f"n_bootstrap must be a whole number >= 0, got {n_bootstrap!r}")
    if max_groups < 100 or int(max_groups) != max_groups:
        raise InvalidInputError(f"max_groups must be a whole number >= 100, got {max_groups!r}")
    n = log.n_rounds
    cols: list[NDArray] = []
    slots: dict[str, tuple[int, int | None]] = {}
    for name, t in terms.items():
        slots[name] = (len(cols), None if t.den is None else len(cols) + 1)
        cols.append(t.num)
        if t.den is not None:
            cols.append(t.den)
    matrix = np.column_stack(cols)
    sums = matrix.sum(axis=0)
    boot = None
    if n_bootstrap > 0:
        rng = np.random.default_rng(random_state)
        boot = _bootstrap_means(matrix, int(n_bootstrap), rng, max_groups)
    tail = (1.0 - level) / 2
    out = {}
    for name, t in terms.items():
        i, j = slots[name]
        value = sums[i] / n if j is None else sums[i] / sums[j]
        if boot is not None:
            with np.errstate(invalid="ignore", divide="ignore"):
                reps = boot[:, i] if j is None else boot[:, i] / boot[:, j]
            reps = reps[np.isfinite(reps)]
            lower, upper = np.quantile(reps, [tail, 1 - tail])
            se = float(np.std(reps, ddof=1)) if reps.size > 1 else float("nan")
        else:  # normal approximation (delta method for the ratio estimators)
            infl = t.num - value if t.den is None else (t.num - value * t.den) / t.den.mean()
            se = float(np.std(infl, ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
            z = NormalDist().inv_cdf(1 - tail)
            lower, upper = value - z * se, value + z * se
        w = t.weights
        ess = float(n) if w is None or not np.any(w) else float(w.sum() ** 2 / (w @ w))
        out[name] = Estimate(
            estimator=name,
            value=float(value),
            lower=float(lower),
            upper=float(upper),
            level=level,
            std_error=se,
            n_rounds=n,
            ess=ess,
            max_weight=float(w.max()) if w is not None else 1.0,
            clipped_fraction=t.clipped_fraction,
            n_bootstrap=int(n_bootstrap),
        )
    return out


def evaluate(
    log: BanditLog,
    action_dist: ArrayLike,
    estimated_rewards: ArrayLike | None = None,
    *,
    estimators: Sequence[str] | None = None,
    clip: float | None = None,
    level: float = 0.95,
    n_bootstrap: int = 1000,
    random_state: int | np.random.Generator | None = None,
    max_groups: int = 20_000,
) -> dict[str, Estimate]:
    """Several estimates of one target policy, sharing one set of bootstrap resamples.

    By default every estimator that applies: replay when the log is uniform random, dm and dr
    when ``estimated_rewards`` is given. ``clip`` caps importance weights (IPS, SNIPS, DR);
    ``n_bootstrap=0`` gives normal-approximation intervals instead of bootstrap ones; logs
    longer than ``max_groups`` rounds are bootstrapped by random groups of rounds.
    """
    dist = _action_dist(log, action_dist)
    q = (
        None
        if estimated_rewards is None
        else _per_position(log, estimated_rewards, "estimated_rewards")
    )
    if estimators is None:
        uniform = np.ptp(log.pscore) <= 1e-12
        estimators = [
            e
            for e in ESTIMATORS
            if (e != "replay" or uniform) and (e not in _NEEDS_MODEL or q is not None)
        ]
    if isinstance(estimators, str) or not estimators:
        raise InvalidInputError(f"estimators must be a non-empty list drawn from {ESTIMATORS}")
    terms = {name: _terms(name, log, dist, q, clip) for name in estimators}
    return _estimates(log, terms, level, n_bootstrap, random_state, max_groups)


def _single(
    name: str,
    log: BanditLog,
    action_dist: ArrayLike,
    estimated_rewards: ArrayLike | None,
    clip: float | None,
    level: float,
    n_bootstrap: int,
    random_state: int | np.random.Generator | None,
) -> Estimate:
    return evaluate(
        log,
        action_dist,
        estimated_rewards,
        estimators=[name],
        clip=clip,
        level=level,
        n_bootstrap=n_bootstrap,
        random_state=random_state,
    )[name]


def replay(
    log: BanditLog,
    action_dist: ArrayLike,
    *,
    level: float = 0.95,
    n_bootstrap: int = 1000,
    random_state: int | np.random.Generator | None = None,
) -> Estimate:
    """Replay (Li et al. 2011): the mean reward of the logged rounds where the target policy
    would have chosen the logged action (weighted by its probability). Uniform logging only."""
    return _single("replay", log, action_dist, None, None, level, n_bootstrap, random_state)


def ips(
    log: BanditLog,
    action_dist: ArrayLike,
    *,
    clip: float | None = None,
    level: float = 0.95,
    n_bootstrap: int = 1000,
    random_state: int | np.random.Generator | None = None,
) -> Estimate:
    """Inverse propensity scoring: mean of (target prob / logging prob) x reward."""
    return _single("ips", log, action_dist, None, clip, level, n_bootstrap, random_state)


def snips(
    log: BanditLog,
    action_dist: ArrayLike,
    *,
    clip: float | None = None,
    level: float = 0.95,
    n_bootstrap: int = 1000,
    random_state: int | np.random.Generator | None = None,
) -> Estimate:
    """Self-normalised IPS: IPS divided by the mean importance weight (less variance, slight
    bias)."""
    return _single("snips", log, action_dist, None, clip, level, n_bootstrap, random_state)


def direct_method(
    log: BanditLog,
    action_dist: ArrayLike,
    estimated_rewards: ArrayLike,
    *,
    level: float = 0.95,
    n_bootstrap: int = 1000,
    random_state: int | np.random.Generator | None = None,
) -> Estimate:
    """Direct method: the reward model's prediction averaged over the target policy."""
    return _single(
        "dm", log, action_dist, estimated_rewards, None, level, n_bootstrap, random_state
    )


def doubly_robust(
    log: BanditLog,
    action_dist: ArrayLike,
    estimated_rewards: ArrayLike,
    *,
    clip: float | None = None,
    level: float = 0.95,
    n_bootstrap: int = 1000,
    random_state: int | np.random.Generator | None = None,
) -> Estimate:
    """Doubly robust: the direct method corrected by IPS on the model's residuals."""
    return _single(
        "dr", log, action_dist, estimated_rewards, clip, level, n_bootstrap, random_state
    )


def compare(
    log: BanditLog,
    challenger_dist: ArrayLike,
    champion_dist: ArrayLike,
    estimated_rewards: ArrayLike | None = None,
    *,
    estimator: str = "dr",
    clip: float | None = None,
    level: float = 0.95,
    n_bootstrap: int = 1000,
    random_state: int | np.random.Generator | None = None,
) -> Estimate:
    """The challenger's value minus the champion's, on the same log, with a paired interval.

    Both policies are valued on the same rounds, so their errors largely cancel and the
    interval of the difference is narrower than the two separate intervals suggest: promote
    when ``lower > 0``. ``estimator`` is one of ips, dm, dr (the estimators that are means of
    per-round terms); the weight diagnostics are the challenger's.
    """
    if estimator not in ("ips", "dm", "dr"):
        raise InvalidInputError(
            f"compare supports the estimators ips, dm and dr, got {estimator!r}; for snips or "
            "replay compare two separate estimates with beats"
        )
    q = (
        None
        if estimated_rewards is None
        else _per_position(log, estimated_rewards, "estimated_rewards")
    )
    challenger = _terms(estimator, log, _action_dist(log, challenger_dist), q, clip)
    champion = _terms(estimator, log, _action_dist(log, champion_dist), q, clip)
    diff = _Terms(
        num=challenger.num - champion.num,
        den=None,
        weights=challenger.weights,
        clipped_fraction=challenger.clipped_fraction,
    )
    name = f"{estimator} difference"
    return _estimates(log, {name: diff}, level, n_bootstrap, random_state, 20_000)[name]


def beats(
    challenger: Estimate,
    champion: Estimate,
    *,
    margin: float = 0.0,
) -> tuple[bool, str]:
    """Whether the challenger's interval lies above the champion's estimate (plus ``margin``).

    Returns (decision, reason). Both estimates must come from the same estimator at the same
    confidence level, or the comparison means nothing. :func:`compare` gives the sharper,
    paired version of the same question when both policies are valued on one log.
    """
    for name, e in (("challenger", challenger), ("champion", champion)):
        if not isinstance(e, Estimate):
            raise InvalidInputError(f"{name} must be an Estimate, got {type(e).__name__}")
    if challenger.estimator != champion.estimator or challenger.level != champion.level:
        raise InvalidInputError(
            f"cannot compare a {challenger.estimator} estimate at level {challenger.level} with "
            f"a {champion.estimator} estimate at level {champion.level}: use the same estimator "
            "and level for both"
        )
    if not np.isfinite(margin) or margin < 0:
        raise InvalidInputError(f"margin must be a finite number >= 0, got {margin!r}")
    bar = champion.value + margin
    pct = f"{100 * challenger.level:g}%"
    if challenger.lower > bar:
        return True, (
            f"challenger {challenger.estimator} {challenger.value:.6g} with {pct} interval "
            f"[{challenger.lower:.6g}, {challenger.upper:.6g}] lies above the champion's "
            f"{champion.value:.6g}" + (f" + margin {margin:g}" if margin else "")
        )
    return False, (
        f"challenger {challenger.estimator} {challenger.value:.6g} has {pct} lower bound "
        f"{challenger.lower:.6g}, not above the champion's {champion.value:.6g}"
        + (f" + margin {margin:g}" if margin else "")
        + ": keep the champion"
    )
