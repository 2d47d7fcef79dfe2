"""The policy contract: choose with a propensity, learn from rewards, save as plain arrays.

Every policy is an estimator in the scikit-learn sense: a keyword-only ``__init__`` that only
stores parameters, fitted attributes ending in ``_`` (created on first use), ``fit`` returning
``self``. Subclasses implement ``_init_state``, ``_probabilities`` and ``_learn``; the base
class validates input, samples choices from the probabilities (so every logged propensity is
the probability with which the logged choice was actually made) and saves state without pickle.
"""

from __future__ import annotations

import json
import math
import operator
from abc import ABC, abstractmethod
from typing import Any, ClassVar, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from limelight.bandits._log import BanditLog
from limelight.core.errors import InvalidInputError

__all__ = ["Policy", "StateValue", "policy_from_state"]

StateValue = np.ndarray | int | float | str
P = TypeVar("P", bound="Policy")
STATE_FORMAT = 1
_REGISTRY: dict[str, type[Policy]] = {}


def _check_param(
    cls_name: str, name: str, value: Any, rule: tuple[str, float | None, float | None]
) -> None:
    kind, low, high = rule
    if kind == "int":
        ok = isinstance(value, int | np.integer) and not isinstance(value, bool)
        shown = "a whole number"
    elif kind == "seed":
        ok = value is None or (isinstance(value, int | np.integer) and not isinstance(value, bool))
        shown = "None or a whole number"
    else:
        ok = isinstance(value, int | float | np.number) and not isinstance(value, bool)
        ok = ok and bool(np.isfinite(value))
        shown = "a finite number"
    if ok and value is not None:
        ok = (low is None or value >= low) and (high is None or value <= high)
        shown += f" in [{'-inf' if low is None else low}, {'inf' if high is None else high}]"
    if not ok:
        raise InvalidInputError(f"{cls_name}: {name} must be {shown}, got {value!r}")


class Policy(ABC):
    """Base class of the bandit policies: one interface for choosing, learning and saving."""

    contextual: ClassVar[bool] = False
    _constraints: ClassVar[dict[str, tuple[str, float | None, float | None]]] = {}
    _state_arrays: ClassVar[tuple[str, ...]] = ()

    n_actions: int
    n_features: int
    random_state: int | None
    rng_: np.random.Generator
    n_updates_: int

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):  # shared private bases are not policies
            _REGISTRY[cls.__name__] = cls

    # --- parameters and state ---------------------------------------------------------------

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters, by name."""
        return {name: getattr(self, name) for name in self._constraints}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _validate_params(self) -> None:
        for name, rule in self._constraints.items():
            _check_param(type(self).__name__, name, getattr(self, name), rule)

    def _reset(self) -> None:
        self._validate_params()
        self.rng_ = np.random.default_rng(self.random_state)
        self.n_updates_ = 0
        self._all_actions = np.ones(self.n_actions, dtype=bool)
        self._all_actions.flags.writeable = False
        self._init_state()

    def _ensure_state(self) -> None:
        if not hasattr(self, "rng_"):
            self._reset()

    @abstractmethod
    def _init_state(self) -> None:
        """Each subclass says."""

    def get_state(self) -> dict[str, StateValue]:
        """Everything needed to rebuild this policy, as numpy arrays, ints, floats and strings."""
        self._ensure_state()
        state: dict[str, StateValue] = {"policy": type(self).__name__, "format": STATE_FORMAT}
        for name, value in self.get_params().items():
            if value is None:
                continue
            state[name] = np.array(value) if isinstance(value, np.ndarray | list) else value
        for name in self._state_arrays:
            state[name] = np.array(getattr(self, name), copy=True)
        state["n_updates_"] = int(self.n_updates_)
        state["rng_state"] = json.dumps(self.rng_.bit_generator.state)
        return state

    @classmethod
    def from_state(cls: type[P], state: dict[str, StateValue]) -> P:
        """Rebuild a policy saved with :meth:`get_state`; it continues the same random stream."""
        if state.get("policy") != cls.__name__:
            raise InvalidInputError(
                f"this state is of a {state.get('policy')!r} policy, not {cls.__name__}: "
                "use limelight.bandits.policy_from_state to rebuild any policy"
            )
        if state.get("format") != STATE_FORMAT:
            raise InvalidInputError(f"unknown policy state format {state.get('format')!r}")
        params = {}
        for name in cls._constraints:
            if name in state:
                value = state[name]
                if isinstance(value, np.ndarray) and value.ndim == 0:
                    value = value.item()
                params[name] = value
        policy = cls(**params)
        policy._reset()
        for name in cls._state_arrays:
            if name not in state:
                raise InvalidInputError(f"{cls.__name__} state lacks the array {name!r}")
            current = getattr(policy, name)
            value = np.asarray(state[name], dtype=current.dtype)
            if value.shape != current.shape:
                raise InvalidInputError(
                    f"{cls.__name__} state array {name!r} has shape {value.shape}, "
                    f"expected {current.shape} for these parameters"
                )
            setattr(policy, name, value.copy())
        policy.n_updates_ = int(state.get("n_updates_", 0))
        if "rng_state" in state:
            policy.rng_.bit_generator.state = json.loads(str(state["rng_state"]))
        policy._after_load()
        return policy

    def _after_load(self) -> None:
        """Recompute derived quantities after the state arrays were restored."""
        return None  # an optional hook: nothing to do unless a subclass says

    # --- input checks -----------------------------------------------------------------------

    def _contexts(self, contexts: ArrayLike | int | None, single: bool) -> NDArray[np.float64]:
        if not self.contextual:
            if contexts is None:
                return np.zeros((1, 0))
            if isinstance(contexts, int | np.integer):
                return np.zeros((int(contexts), 0))
            arr = np.asarray(contexts, dtype=np.float64)
            n = 1 if single or arr.ndim == 0 else arr.shape[0]
            return np.zeros((n, 0))
        if contexts is None or isinstance(contexts, int | np.integer):
            raise InvalidInputError(
                f"{type(self).__name__} is contextual: pass a context of {self.n_features} features"
            )
        arr = np.asarray(contexts, dtype=np.float64)
        if single:
            if arr.ndim != 1:
                raise InvalidInputError(
                    f"a single context must be a 1-d array of {self.n_features} features, got "
                    f"shape {arr.shape}; use choose_many for a batch"
                )
            arr = arr.reshape(1, -1)
        elif arr.ndim != 2:
            raise InvalidInputError(
                f"contexts must have shape (n_rounds, {self.n_features}), got {arr.shape}"
            )
        if arr.shape[1] != self.n_features:
            raise InvalidInputError(
                f"context has {arr.shape[1]} features but {type(self).__name__} was built with "
                f"n_features={self.n_features}: build the features the same way as in training"
            )
        if not math.isfinite(float(arr.sum())) and not np.all(np.isfinite(arr)):
            raise InvalidInputError("context has missing or infinite values: fill them first")
        return arr

    def _candidates(self, candidates: ArrayLike | None, n: int) -> NDArray[np.bool_]:
        """A (n_actions,) or (n, n_actions) mask of the actions that may be chosen."""
        k = self.n_actions
        if candidates is None:
            return self._all_actions
        arr = np.asarray(candidates)
        if arr.dtype == bool:
            if arr.shape not in ((k,), (n, k)):
                raise InvalidInputError(
                    f"a boolean candidate mask must have shape ({k},) or ({n}, {k}), "
                    f"got {arr.shape}"
                )
            if not np.all(arr.any(axis=-1)):
                raise InvalidInputError("every round needs at least one candidate action")
            return arr
        if arr.ndim != 1 or arr.size == 0:
            raise InvalidInputError(
                "candidates must be a non-empty 1-d array of action ids (or a boolean mask)"
            )
        if not np.issubdtype(arr.dtype, np.integer):
            raise InvalidInputError(f"candidate action ids must be integers, got {arr.dtype}")
        bad = arr[(arr < 0) | (arr >= k)]
        if bad.size:
            raise InvalidInputError(
                f"unknown action {int(bad[0])}: this policy's actions are 0..{k - 1}"
            )
        mask = np.zeros(k, dtype=bool)
        mask[arr] = True
        return mask

    def _actions(self, choices: ArrayLike, n: int) -> NDArray[np.int64]:
        arr = np.asarray(choices)
        if arr.shape != (n,):
            raise InvalidInputError(f"expected {n} chosen actions, got shape {arr.shape}")
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise InvalidInputError(f"chosen actions must be integer ids, got {arr.dtype}")
        bad = arr[(arr < 0) | (arr >= self.n_actions)]
        if bad.size:
            raise InvalidInputError(
                f"unknown action {int(bad[0])}: this policy's actions are 0..{self.n_actions - 1}"
            )
        return arr.astype(np.int64)

    def _rewards(self, rewards: ArrayLike, n: int) -> NDArray[np.float64]:
        arr = np.asarray(rewards, dtype=np.float64)
        if arr.shape != (n,):
            raise InvalidInputError(f"expected {n} rewards, got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise InvalidInputError("rewards must be finite numbers")
        return arr

    # --- the interface ----------------------------------------------------------------------

    @abstractmethod
    def _probabilities(self, x: NDArray[np.float64], mask: NDArray[np.bool_]) -> NDArray:
        """Each subclass says."""

    @abstractmethod
    def _learn(
        self,
        x: NDArray[np.float64],
        a: NDArray[np.int64],
        r: NDArray[np.float64],
    ) -> None:
        """Each subclass says."""

    def action_probabilities(
        self, context: ArrayLike | int | None, candidates: ArrayLike | None = None
    ) -> NDArray[np.float64]:
        """Probabilities of choosing each action: shape (n_actions,) for one context (1-d or
        None), (n_rounds, n_actions) for a batch; zero outside ``candidates``."""
        self._ensure_state()
        if self.contextual:
            single = context is not None and np.ndim(context) == 1
        else:
            single = context is None or (
                not isinstance(context, int | np.integer) and np.ndim(context) <= 1
            )
        x = self._contexts(context, single)
        mask = self._candidates(candidates, x.shape[0])
        probs = self._probabilities(x, mask)
        return probs[0] if single else probs

    def choose_many(
        self,
        contexts: ArrayLike | int,
        candidates: ArrayLike | None = None,
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Choose one action per row of ``contexts``; return (choices, propensities).

        For a context-free policy ``contexts`` may be just the number of rounds.
        """
        self._ensure_state()
        x = self._contexts(contexts, single=False)
        mask = self._candidates(candidates, x.shape[0])
        probs = self._probabilities(x, mask)
        cum = np.cumsum(probs, axis=1)
        u = self.rng_.random(x.shape[0]) * cum[:, -1]
        choices = np.argmax(cum > u[:, None], axis=1)
        return choices, probs[np.arange(x.shape[0]), choices]

    def choose(
        self,
        context: ArrayLike | None = None,
        candidates: ArrayLike | None = None,
    ) -> tuple[int, float]:
        """Choose one action for one context; return (choice, propensity of that choice)."""
        self._ensure_state()
        x = self._contexts(context, single=True)
        return self._choose_one(x, self._candidates(candidates, 1))

    def _choose_one(self, x: NDArray[np.float64], mask: NDArray[np.bool_]) -> tuple[int, float]:
        probs = self._probabilities(x, mask)[0]
        cum = np.cumsum(probs)
        choice = int(np.argmax(cum > self.rng_.random() * cum[-1]))
        return choice, float(probs[choice])

    def update(self, context: ArrayLike | None, choice: int, reward: float) -> Policy:
        """Learn from the reward of one choice."""
        self._ensure_state()
        x = self._contexts(context, single=True)
        try:
            k = operator.index(choice)
        except TypeError:
            msg = f"a chosen action must be an integer id, got {choice!r}"
            raise InvalidInputError(msg) from None
        if not 0 <= k < self.n_actions:
            raise InvalidInputError(
                f"unknown action {k}: this policy's actions are 0..{self.n_actions - 1}"
            )
        r = float(reward)
        if not math.isfinite(r):
            raise InvalidInputError("rewards must be finite numbers")
        self._learn_one(x, k, r)
        self.n_updates_ += 1
        return self

    def _learn_one(self, x: NDArray[np.float64], k: int, r: float) -> None:
        self._learn(x, np.array([k]), np.array([r]))

    def update_many(
        self,
        contexts: ArrayLike | int,
        choices: ArrayLike,
        rewards: ArrayLike,
    ) -> Policy:
        """Learn from a batch of (context, choice, reward) rounds at once (for a context-free
        policy ``contexts`` may be just the number of rounds)."""
        self._ensure_state()
        x = self._contexts(contexts, single=False)
        n = x.shape[0]
        self._learn(x, self._actions(choices, n), self._rewards(rewards, n))
        self.n_updates_ += n
        return self

    def fit(self: P, log: BanditLog) -> P:
        """Start afresh and learn from logged data (the log's action set must be this policy's)."""
        if not isinstance(log, BanditLog):
            raise InvalidInputError(f"fit expects a BanditLog, got {type(log).__name__}")
        if log.n_actions != self.n_actions:
            raise InvalidInputError(
                f"the log comes from a policy with {log.n_actions} actions but "
                f"{type(self).__name__} has n_actions={self.n_actions}: the action sets differ"
            )
        self._reset()
        self._fit_log(log)
        return self

    def _fit_log(self, log: BanditLog) -> None:
        self.update_many(log.context if self.contextual else log.n_rounds, log.action, log.reward)


def policy_from_state(state: dict[str, StateValue]) -> Policy:
    """Rebuild any policy saved with ``get_state`` (the class is named in the state)."""
    name = state.get("policy")
    cls = _REGISTRY.get(str(name))
    if cls is None:
        raise InvalidInputError(
            f"unknown policy {name!r} in state; known policies: {sorted(_REGISTRY)}"
        )
    return cls.from_state(state)


def greedy_probabilities(scores: NDArray[np.float64], mask: NDArray[np.bool_]) -> NDArray:
    """Probability 1 on the best candidate, split evenly among exact ties."""
    s = np.where(mask, scores, -np.inf)
    best = s == s.max(axis=1, keepdims=True)
    return best / best.sum(axis=1, keepdims=True)


def uniform_probabilities(mask: NDArray[np.bool_], n: int, k: int) -> NDArray[np.float64]:
    """Uniform over the candidates of each round."""
    m = np.broadcast_to(mask, (n, k)).astype(np.float64)
    return m / m.sum(axis=1, keepdims=True)


def sampled_argmax_probabilities(
    draw: Any, mask: NDArray[np.bool_], n: int, k: int, n_samples: int
) -> NDArray[np.float64]:
    """How often each candidate wins among ``n_samples`` Thompson draws, per round.

    ``draw(arm, rows, m)`` returns the sampled scores of one arm, shape (len(rows), m). Arms
    are swept one at a time (a running maximum), which is much faster than an argmax over a
    short last axis and bounds memory; rounds are processed in chunks.
    """
    probs = np.empty((n, k))
    full_mask = np.broadcast_to(mask, (n, k))
    chunk = max(1, 500_000 // n_samples)
    for start in range(0, n, chunk):
        rows = np.arange(start, min(n, start + chunk))
        allowed = full_mask[rows]
        best = np.full((rows.size, n_samples), -np.inf)
        winner = np.zeros((rows.size, n_samples), dtype=np.int64)
        better = np.empty((rows.size, n_samples), dtype=bool)
        for arm in range(k):
            if not allowed[:, arm].any():
                continue
            scores = draw(arm, rows, n_samples)
            if not allowed[:, arm].all():
                scores[~allowed[:, arm]] = -np.inf
            np.greater(scores, best, out=better)
            np.maximum(best, scores, out=best)
            np.putmask(winner, better, arm)
        winner += (np.arange(rows.size) * k)[:, None]
        counts = np.bincount(winner.ravel(), minlength=rows.size * k)
        probs[rows] = counts.reshape(rows.size, k) / n_samples
    return probs
