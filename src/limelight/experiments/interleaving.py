"""Team-draft interleaving (Radlinski et al. 2008) and the test of which ranker users prefer.

Each user sees one list merged from two rankers: in every round the team with fewer picks
(a coin flip on ties) adds its best item not yet shown. Every shown item remembers the team
that picked it, so a play credits that ranker. A user prefers the ranker with more credited
plays; the preference over users is tested with a t-test on the per-user sign and a sign test.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from limelight.core.errors import InvalidInputError

__all__ = [
    "InterleavingResult",
    "interleaving_credit",
    "interleaving_preference",
    "team_draft",
    "team_draft_batch",
]

TEAM_A = 0
TEAM_B = 1
NO_TEAM = -1


def _as_rng(seed: np.random.Generator | int | None) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _take(rankings: NDArray[np.int64], ptr: NDArray[np.int64]) -> NDArray[np.int64]:
    length = rankings.shape[1]
    safe = np.minimum(ptr, length - 1) if length else ptr
    values = (
        rankings[np.arange(rankings.shape[0]), safe]
        if length
        else np.full(ptr.shape, -1, dtype=np.int64)
    )
    return np.where(ptr < length, values, -1)


def _advance(
    rankings: NDArray[np.int64], ptr: NDArray[np.int64], shown: NDArray[np.int64]
) -> NDArray[np.int64]:
    """The pointer moved past items already shown; -1 candidates mean the ranker is spent."""
    while True:
        cand = _take(rankings, ptr)
        dup = (cand >= 0) & (shown == cand[:, None]).any(axis=1)
        if not dup.any():
            return ptr
        ptr = ptr + dup


def team_draft_batch(
    rankings_a: ArrayLike,
    rankings_b: ArrayLike,
    k: int,
    *,
    seed: np.random.Generator | int | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.int8]]:
    """Interleave many users at once: ``(items, teams)``, each of shape ``(users, k)``.

    Rankings are non-negative integer item codes per row, padded with -1 at the end. Unfilled
    slots (both rankers spent) hold item -1 and team -1; teams are 0 for A and 1 for B.
    """
    a = np.asarray(rankings_a)
    b = np.asarray(rankings_b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[0]:
        raise InvalidInputError(
            f"rankings must be 2-D with one row per user and the same number of rows; got "
            f"shapes {a.shape} and {b.shape}"
        )
    if not (np.issubdtype(a.dtype, np.integer) and np.issubdtype(b.dtype, np.integer)):
        raise InvalidInputError("rankings must hold integer item codes (pad with -1)")
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise InvalidInputError(f"k must be a positive integer, got {k!r}")
    a = a.astype(np.int64)
    b = b.astype(np.int64)
    rng = _as_rng(seed)
    users = a.shape[0]
    items = np.full((users, k), -1, dtype=np.int64)
    teams = np.full((users, k), NO_TEAM, dtype=np.int8)
    ptr_a = np.zeros(users, dtype=np.int64)
    ptr_b = np.zeros(users, dtype=np.int64)
    count_a = np.zeros(users, dtype=np.int64)
    count_b = np.zeros(users, dtype=np.int64)
    rows = np.arange(users)
    for slot in range(k):
        shown = items[:, :slot]
        ptr_a = _advance(a, ptr_a, shown)
        ptr_b = _advance(b, ptr_b, shown)
        cand_a, cand_b = _take(a, ptr_a), _take(b, ptr_b)
        live_a, live_b = cand_a >= 0, cand_b >= 0
        coin = rng.random(users) < 0.5
        a_turn = (count_a < count_b) | ((count_a == count_b) & coin)
        pick_a = live_a & (a_turn | ~live_b)
        pick_b = live_b & ~pick_a
        items[rows, slot] = np.where(pick_a, cand_a, np.where(pick_b, cand_b, -1))
        teams[rows, slot] = np.where(pick_a, TEAM_A, np.where(pick_b, TEAM_B, NO_TEAM))
        count_a += pick_a
        count_b += pick_b
        ptr_a += pick_a
        ptr_b += pick_b
    return items, teams


def team_draft(
    ranking_a: Sequence[Hashable],
    ranking_b: Sequence[Hashable],
    k: int,
    *,
    seed: np.random.Generator | int | None = None,
) -> tuple[list[Hashable], list[str]]:
    """Interleave two rankings for one request: the shown items and who picked each ("a"/"b")."""
    if isinstance(ranking_a, str | bytes) or isinstance(ranking_b, str | bytes):
        raise InvalidInputError("rankings must be sequences of item ids, not a single string")
    vocab: dict[Hashable, int] = {}
    for ranking, name in ((ranking_a, "ranking_a"), (ranking_b, "ranking_b")):
        if len(set(ranking)) != len(ranking):
            raise InvalidInputError(f"{name} lists an item twice: rankings must be duplicate-free")
        for item in ranking:
            vocab.setdefault(item, len(vocab))
    width = max(len(ranking_a), len(ranking_b), 1)
    codes = np.full((2, width), -1, dtype=np.int64)
    codes[0, : len(ranking_a)] = [vocab[i] for i in ranking_a]
    codes[1, : len(ranking_b)] = [vocab[i] for i in ranking_b]
    items, teams = team_draft_batch(codes[:1], codes[1:], k, seed=seed)
    lookup = list(vocab)
    shown = [lookup[c] for c in items[0] if c >= 0]
    who = ["a" if t == TEAM_A else "b" for t in teams[0] if t != NO_TEAM]
    return shown, who


def interleaving_credit(
    teams: ArrayLike, plays: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-user plays credited to ranker A and to ranker B (plays weighted per shown slot)."""
    t = np.asarray(teams)
    p = np.asarray(plays, dtype=np.float64)
    if t.shape != p.shape:
        raise InvalidInputError(
            f"teams {t.shape} and plays {p.shape} must have the same shape (users, slots)"
        )
    if t.ndim == 1:
        t, p = t[None, :], p[None, :]
    return (p * (t == TEAM_A)).sum(axis=-1), (p * (t == TEAM_B)).sum(axis=-1)


@dataclass(frozen=True)
class InterleavingResult:
    """Which ranker users prefer: +1 means every engaged user preferred A, -1 B."""

    n_users: int
    n_engaged: int
    wins_a: int
    wins_b: int
    ties: int
    preference: float
    ci_low: float
    ci_high: float
    p_value: float
    sign_test_p: float
    alpha: float

    @property
    def delta(self) -> float:
        """Chapelle et al.'s Delta_AB = (wins_A + ties/2) / engaged - 1/2, in [-1/2, 1/2]."""
        return self.preference / 2.0


def interleaving_preference(
    credit_a: ArrayLike, credit_b: ArrayLike, *, alpha: float = 0.05
) -> InterleavingResult:
    """Test whether users prefer ranker A over B from per-user credited plays.

    Each engaged user (any credited play) scores +1 (more plays for A), -1 (more for B) or
    0; ``preference`` is the mean score with a t interval, and the sign test counts wins.
    """
    a = np.asarray(credit_a, dtype=np.float64)
    b = np.asarray(credit_b, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise InvalidInputError(
            f"credit_a ({a.size}) and credit_b ({b.size}) must be parallel 1-D arrays, one "
            "entry per user"
        )
    if not 0.0 < alpha < 1.0:
        raise InvalidInputError(f"alpha must be in (0, 1), got {alpha!r}")
    engaged = (a + b) > 0
    score = np.sign(a - b)[engaged]
    n = int(score.size)
    if n == 0:
        raise InvalidInputError(
            "no user played anything from the interleaved lists: no preference can be measured"
        )
    wins_a, wins_b = int((score > 0).sum()), int((score < 0).sum())
    mean = float(score.mean())
    sd = float(score.std(ddof=1)) if n > 1 else 0.0
    decided = wins_a + wins_b
    sign_p = float(_binomtest(wins_a, decided, 0.5).pvalue) if decided else 1.0
    if sd == 0.0:  # every engaged user agrees (or ties): the t-test is undefined, use signs
        low = high = mean
        p = sign_p
    else:
        se = sd / np.sqrt(n)
        half = float(special.stdtrit(n - 1, 1 - alpha / 2)) * se
        low, high = mean - half, mean + half
        p = float(2 * special.stdtr(n - 1, -abs(mean) / se))
    return InterleavingResult(
        n_users=int(a.size),
        n_engaged=n,
        wins_a=wins_a,
        wins_b=wins_b,
        ties=n - decided,
        preference=mean,
        ci_low=low,
        ci_high=high,
        p_value=p,
        sign_test_p=sign_p,
        alpha=alpha,
    )


def _binomtest(k: int, n: int, p: float) -> Any:
    """``scipy.stats.binomtest``, imported on first use (scipy.stats takes ~0.5 s to import)."""
    from scipy import stats

    return stats.binomtest(k, n, p)
