"""Drift and concentration statistics: arrays (or their aggregates) in, numbers out. Pure.

The drift statistics follow Evidently's definitions (``evidently.legacy.calculations.stattests``,
0.7.x) so a number here means what it means there:

- **PSI** and **Jensen-Shannon** compare the shares of reference and current values in bins.
  A numerical column with more than 20 distinct reference values is cut into equal-width bins
  over the range of both samples, as many as Sturges' rule gives for their combined size (numpy's
  ``histogram_bin_edges(..., "sturges")``); otherwise each distinct value is a bin. PSI replaces
  empty bins with a small share (the smallest non-zero share / 1e6 if that is at most 1e-4, else
  1e-4); Jensen-Shannon does not (natural logarithm).
- **KS** is the two-sided two-sample Kolmogorov-Smirnov test's p-value (scipy's ``ks_2samp``:
  exact up to 10,000 values per sample, Smirnov's asymptotic distribution beyond): a drift is a
  *small* value.
- **Wasserstein** is the first Wasserstein distance divided by the reference's standard
  deviation (population, at least 0.001).

Each statistic has two entry points that share one implementation: one on raw arrays, and one
on the aggregates an engine computes out of core (bin counts, or the distinct values with their
counts in each sample), which is how monitors run them over the event log.
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from limelight.core.errors import InvalidInputError

__all__ = [
    "DISTINCT_VALUES_AS_BINS",
    "KS_BOUND_BELOW",
    "KS_EXACT_MAX_N",
    "CdfAccumulator",
    "CdfDistances",
    "Drift",
    "binned_shares",
    "drift",
    "effective_sample_size",
    "ess_from_sums",
    "gini",
    "histogram_edges",
    "jensen_shannon",
    "jensen_shannon_from_counts",
    "ks_pvalue",
    "ks_pvalue_from_statistic",
    "psi",
    "psi_from_counts",
    "wasserstein_normed",
]

DISTINCT_VALUES_AS_BINS = 20
"""A column with at most this many distinct reference values is binned by value."""
KS_EXACT_MAX_N = 10_000
"""scipy's ``ks_2samp`` computes the exact p-value when neither sample is larger."""
KS_BOUND_BELOW = 1e-10
"""A KS p-value whose upper bound is below this is given as the bound (see
:func:`ks_pvalue_from_statistic`)."""
_MERGE_CHUNK = 1 << 18  # current values merged at once by CdfDistances.from_sorted
_PARALLEL_SORT_MIN = 100_000  # samples at least this large are sorted in two threads


def _clean(values: ArrayLike, what: str) -> NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64).ravel()
    finite = np.isfinite(array)
    if not finite.all():
        array = array[finite]
    if array.size == 0:
        raise InvalidInputError(f"the {what} sample has no finite values")
    return array


def histogram_edges(n: int, low: float, high: float) -> NDArray[np.float64]:
    """numpy's Sturges bin edges for ``n`` values between ``low`` and ``high``, from those three
    numbers alone (equal to ``np.histogram_bin_edges(values, "sturges")``)."""
    if n <= 0:
        raise InvalidInputError("bin edges need at least one value")
    if low == high:
        low, high = low - 0.5, high + 0.5
        bins = 1
    else:
        width = (high - low) / (np.log2(n) + 1.0)
        bins = int(np.ceil((high - low) / width)) if width else 1
    return np.linspace(low, high, bins + 1, endpoint=True)


def _fill_zeroes(shares: NDArray[np.float64]) -> NDArray[np.float64]:
    nonzero = shares[shares != 0]
    if nonzero.size == 0:
        return shares
    smallest = float(nonzero.min())
    out = shares.copy()
    out[out == 0] = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return out


def _sorted_samples(
    reference: ArrayLike, current: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Both samples, cleaned and sorted; large ones side by side (numpy's sort releases the
    GIL, so two threads sort two samples in about the time of one)."""
    ref, cur = _clean(reference, "reference"), _clean(current, "current")
    if min(ref.size, cur.size) < _PARALLEL_SORT_MIN:
        return np.sort(ref), np.sort(cur)
    sorted_ref, sorted_cur = _pool().map(np.sort, (ref, cur))
    return sorted_ref, sorted_cur


_POOL: list[ThreadPoolExecutor] = []
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """Two threads for numpy work that releases the GIL, started once (starting threads for
    each column cost a tenth of the drift of small columns). Its tasks never wait on it."""
    with _POOL_LOCK:
        if not _POOL:
            _POOL.append(ThreadPoolExecutor(2, thread_name_prefix="limelight-stats"))
        return _POOL[0]


def _forget_pool_in_child() -> None:
    """A forked child has none of the parent's threads: an inherited pool would queue its
    tasks forever, so the child starts its own."""
    global _POOL_LOCK
    _POOL.clear()
    _POOL_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_forget_pool_in_child)


def _counts_in(
    sorted_values: NDArray[np.float64], edges: NDArray[np.float64]
) -> NDArray[np.float64]:
    """numpy's histogram of sorted values: edges[i] <= x < edges[i+1], the last bin closed."""
    cut = np.concatenate(
        [
            sorted_values.searchsorted(edges[:-1], "left"),
            sorted_values.searchsorted(edges[-1:], "right"),
        ]
    )
    return np.diff(cut).astype(np.float64)


def _binned_sorted(
    ref: NDArray[np.float64], cur: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    distinct = 1 + int(np.count_nonzero(ref[1:] != ref[:-1]))
    if distinct > DISTINCT_VALUES_AS_BINS:
        edges = histogram_edges(
            ref.size + cur.size, float(min(ref[0], cur[0])), float(max(ref[-1], cur[-1]))
        )
        return _counts_in(ref, edges) / ref.size, _counts_in(cur, edges) / cur.size
    keys = np.union1d(ref, cur)
    ref_counts = ref.searchsorted(keys, "right") - ref.searchsorted(keys, "left")
    cur_counts = cur.searchsorted(keys, "right") - cur.searchsorted(keys, "left")
    return ref_counts / ref.size, cur_counts / cur.size


def binned_shares(
    reference: ArrayLike, current: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The share of each sample in each bin (Evidently's binning; see the module docstring)."""
    return _binned_sorted(*_sorted_samples(reference, current))


def _shares(counts: ArrayLike) -> NDArray[np.float64]:
    array = np.asarray(counts, dtype=np.float64)
    total = array.sum()
    if total <= 0:
        raise InvalidInputError("a sample with no values has no shares")
    return array / total


def psi_from_counts(reference_counts: ArrayLike, current_counts: ArrayLike) -> float:
    """Population stability index of two samples given as counts in the same bins."""
    ref = _fill_zeroes(_shares(reference_counts))
    cur = _fill_zeroes(_shares(current_counts))
    return float(np.sum((ref - cur) * np.log(ref / cur)))


def jensen_shannon_from_counts(reference_counts: ArrayLike, current_counts: ArrayLike) -> float:
    """Jensen-Shannon distance (natural log) of two samples given as counts in the same bins."""
    from scipy.spatial import distance

    return float(distance.jensenshannon(_shares(reference_counts), _shares(current_counts)))


def psi(reference: ArrayLike, current: ArrayLike) -> float:
    """Population stability index of ``current`` against ``reference`` (Evidently's bins)."""
    return psi_from_counts(*binned_shares(reference, current))


def jensen_shannon(reference: ArrayLike, current: ArrayLike) -> float:
    """Jensen-Shannon distance of ``current`` from ``reference`` (Evidently's bins)."""
    return jensen_shannon_from_counts(*binned_shares(reference, current))


def ks_pvalue_from_statistic(statistic: float, n_reference: int, n_current: int) -> float:
    """The asymptotic two-sided p-value scipy's ``ks_2samp`` gives for samples this large.

    scipy's ``kstwo.sf`` takes up to a second where the p-value is tiny but not zero. Where
    the Dvoretzky-Kiefer-Wolfowitz-Massart bound ``2 exp(-2 n d^2)`` (``n`` the effective size
    scipy uses) is below :data:`KS_BOUND_BELOW`, that bound is returned: a p-value never smaller
    than scipy's, and within 1e-10 of it.
    """
    from scipy.stats import kstwo

    m, n = sorted([float(n_reference), float(n_current)], reverse=True)
    en = float(np.round(m * n / (m + n)))
    bound = 2.0 * math.exp(-2.0 * en * statistic * statistic)
    if bound < KS_BOUND_BELOW:
        return bound
    return float(np.clip(kstwo.sf(statistic, en), 0, 1))


@dataclass(frozen=True)
class CdfDistances:
    """What the two empirical CDFs give: the KS statistic and the Wasserstein-1 distance."""

    ks_statistic: float
    wasserstein: float

    @classmethod
    def from_sorted(cls, ref: NDArray[np.float64], cur: NDArray[np.float64]) -> CdfDistances:
        """From both samples, sorted: both CDFs at every value of either, as scipy evaluates
        them, merging the samples a chunk at a time; the chunks of large samples in two
        threads.

        The gap between the CDFs is kept as ``n_ref * n_cur`` times the gap, a whole number:
        a running sum of ``+n_cur`` for each reference value and ``-n_ref`` for each current
        one, so where a chunk starts the sum is known from the chunk's place alone. A chunk's
        arrays stay small (no array as large as both samples is made): on ten million values
        several times faster than one merge of everything.
        """
        n_ref, n_cur = ref.size, cur.size
        cur_edges = np.append(np.arange(0, n_cur, _MERGE_CHUNK), n_cur)
        ref_edges = ref.searchsorted(cur[cur_edges[1:-1]], "left")
        ref_edges = np.concatenate([[0], ref_edges, [n_ref]])

        def chunk(k: int) -> tuple[int, float, float, float, int]:
            r = ref[ref_edges[k] : ref_edges[k + 1]]
            c = cur[cur_edges[k] : cur_edges[k + 1]]
            # a stable sort of two sorted runs is one merge (timsort); the current values
            # first, so that a current value comes before a reference value equal to it
            both = np.concatenate([c, r])
            order = np.argsort(both, kind="stable")
            merged = both[order]
            gap = np.where(order < c.size, np.int64(-n_ref), np.int64(n_cur))
            del both, order
            np.cumsum(gap, out=gap)
            gap += n_cur * int(ref_edges[k]) - n_ref * int(cur_edges[k])  # the sum before it
            np.abs(gap, out=gap)
            steps = np.diff(merged)
            inner = gap[:-1]
            return (
                int(inner[steps != 0].max(initial=0)),
                float(np.dot(inner.astype(np.float64), steps)),
                float(merged[0]),
                float(merged[-1]),
                int(gap[-1]),
            )

        count = cur_edges.size - 1
        parts = list(_pool().map(chunk, range(count))) if count > 1 else [chunk(0)]
        largest, area = 0, 0.0
        for k, (inner_largest, inner_area, _first, last, last_gap) in enumerate(parts):
            largest, area = max(largest, inner_largest), area + inner_area
            following = parts[k + 1][2] if k + 1 < count else None
            # within a run of equal values only the last position has both CDFs complete
            if following is None or following != last:
                largest = max(largest, last_gap)
                if following is not None:
                    area += last_gap * (following - last)
        scale = float(n_ref) * float(n_cur)
        return cls(largest / scale, area / scale)


class CdfAccumulator:
    """The KS statistic and the Wasserstein-1 distance from the distinct values of both samples
    in ascending order, with each sample's count of each, fed in batches (an engine streams
    them out of a sort that may spill; only a batch is in memory at once)."""

    def __init__(self, n_reference: int, n_current: int) -> None:
        self.n_ref, self.n_cur = n_reference, n_current
        self._below_ref = self._below_cur = 0
        self._last_x: float | None = None
        self._last_gap = 0.0
        self.ks_statistic = 0.0
        self.wasserstein = 0.0

    def add(
        self, values: ArrayLike, reference_counts: ArrayLike, current_counts: ArrayLike
    ) -> None:
        x = np.asarray(values, dtype=np.float64)
        if x.size == 0:
            return
        ref = self._below_ref + np.cumsum(np.asarray(reference_counts, dtype=np.int64))
        cur = self._below_cur + np.cumsum(np.asarray(current_counts, dtype=np.int64))
        gap = np.abs(ref / self.n_ref - cur / self.n_cur)
        self.ks_statistic = max(self.ks_statistic, float(gap.max()))
        if self._last_x is not None:
            self.wasserstein += self._last_gap * (float(x[0]) - self._last_x)
        self.wasserstein += float(np.sum(gap[:-1] * np.diff(x)))
        self._below_ref, self._below_cur = int(ref[-1]), int(cur[-1])
        self._last_x, self._last_gap = float(x[-1]), float(gap[-1])


def _ks_sorted(ref: NDArray[np.float64], cur: NDArray[np.float64], statistic: float) -> float:
    if max(ref.size, cur.size) <= KS_EXACT_MAX_N:
        from scipy.stats import ks_2samp

        return float(ks_2samp(ref, cur).pvalue)
    return ks_pvalue_from_statistic(statistic, ref.size, cur.size)


def ks_pvalue(reference: ArrayLike, current: ArrayLike) -> float:
    """Two-sided two-sample Kolmogorov-Smirnov p-value (small: the samples differ)."""
    ref, cur = _sorted_samples(reference, current)
    return _ks_sorted(ref, cur, CdfDistances.from_sorted(ref, cur).ks_statistic)


def wasserstein_normed(reference: ArrayLike, current: ArrayLike) -> float:
    """Wasserstein-1 distance over the reference's standard deviation (at least 0.001)."""
    ref, cur = _sorted_samples(reference, current)
    return CdfDistances.from_sorted(ref, cur).wasserstein / _norm(ref)


def _norm(ref: NDArray[np.float64]) -> float:
    return max(float(np.std(ref)), 0.001)


@dataclass(frozen=True)
class Drift:
    """The four drift statistics of one column (see the module docstring for each)."""

    psi: float
    js: float
    ks: float
    wasserstein: float


def drift(reference: ArrayLike, current: ArrayLike) -> Drift:
    """All four drift statistics at once: both samples are sorted once and shared."""
    ref, cur = _sorted_samples(reference, current)
    ref_shares, cur_shares = _binned_sorted(ref, cur)
    cdf = CdfDistances.from_sorted(ref, cur)
    return Drift(
        psi_from_counts(ref_shares, cur_shares),
        jensen_shannon_from_counts(ref_shares, cur_shares),
        _ks_sorted(ref, cur, cdf.ks_statistic),
        cdf.wasserstein / _norm(ref),
    )


def gini(counts: ArrayLike) -> float:
    """Gini coefficient of how often each item was shown (0: evenly; near 1: one item).

    Items of the catalogue that were never shown count as zeros.
    """
    x = np.sort(np.asarray(counts, dtype=np.float64).ravel())
    if x.size == 0 or np.any(x < 0) or not np.all(np.isfinite(x)):
        raise InvalidInputError("gini needs one finite, non-negative count per item")
    total = x.sum()
    if total == 0:
        return math.nan
    n = x.size
    ranks = np.arange(1, n + 1, dtype=np.float64)
    return float(2.0 * np.sum(ranks * x) / (n * total) - (n + 1.0) / n)


def effective_sample_size(propensities: ArrayLike) -> float:
    """Kish's effective sample size of the inverse-propensity weights of the logged choices:
    ``(sum w)^2 / sum w^2`` with ``w = 1/p``; ``n`` when every choice was equally likely, far
    fewer when a few rare choices carry the off-policy estimate."""
    p = np.asarray(propensities, dtype=np.float64).ravel()
    p = p[np.isfinite(p)]
    if p.size == 0:
        return math.nan
    if np.any(p <= 0) or np.any(p > 1):
        raise InvalidInputError("propensities must lie in (0, 1]")
    w = 1.0 / p
    return ess_from_sums(float(w.sum()), float(np.sum(w * w)))


def ess_from_sums(sum_weights: float, sum_squared_weights: float) -> float:
    """Kish's effective sample size from the sum of the weights and of their squares."""
    if not sum_squared_weights > 0:
        return math.nan
    return sum_weights**2 / sum_squared_weights
