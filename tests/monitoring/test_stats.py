"""The drift statistics as statistics: their definitions on known answers, equal to Evidently's
on the same arrays, the same whether computed from arrays or in SQL over the event log, and the
default thresholds' detection and false-alarm rates over many simulated windows."""

from __future__ import annotations

import math
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats as sps
from tests._peers import PEER_INSTALL_TIMEOUT
from tests.monitoring._log import DAY, T0, impressions, write

from limelight.core.errors import InvalidInputError
from limelight.monitoring import DEFAULT_THRESHOLDS, parse_check
from limelight.monitoring import stats as S
from limelight.monitoring._queries import EventWindow, measure

STATS = ("psi", "js", "ks", "wasserstein")


def test_bin_edges_are_numpys_sturges_edges_from_count_and_range() -> None:
    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 7, 100, 1000, 12345, 100_000):
        x = rng.normal(rng.uniform(-5, 5), rng.uniform(0.001, 100), n)
        expected = np.histogram_bin_edges(x, "sturges")
        np.testing.assert_array_equal(S.histogram_edges(n, x.min(), x.max()), expected)
    np.testing.assert_array_equal(
        S.histogram_edges(5, 2.0, 2.0), np.histogram_bin_edges(np.full(5, 2.0), "sturges")
    )


def test_psi_and_js_follow_their_formulas_on_hand_made_counts() -> None:
    ref, cur = np.array([50.0, 30, 20]), np.array([20.0, 30, 50])
    p, q = ref / 100, cur / 100
    assert S.psi_from_counts(ref, cur) == pytest.approx(np.sum((p - q) * np.log(p / q)), abs=1e-15)
    m = (p + q) / 2
    kl = lambda a, b: np.sum(a * np.log(a / b))  # noqa: E731
    assert S.jensen_shannon_from_counts(ref, cur) == pytest.approx(
        math.sqrt((kl(p, m) + kl(q, m)) / 2), abs=1e-15
    )
    assert S.psi_from_counts(ref, ref) == 0.0
    # an empty current bin gets Evidently's small share (1e-4 here), not a division by zero
    filled = S.psi_from_counts([1, 1], [2, 0])
    assert filled == pytest.approx((0.5 - 1) * math.log(0.5 / 1) + (0.5 - 1e-4) * math.log(0.5e4))


def test_cdf_statistics_equal_scipys_ks_and_wasserstein() -> None:
    rng = np.random.default_rng(1)
    for n, m in ((50, 70), (3000, 20_000), (20_000, 15_000)):
        ref, cur = rng.normal(0, 1, n), rng.normal(0.1, 1.2, m)
        cur[:10] = ref[:10]  # ties across the samples
        ours, scipys = S.ks_pvalue(ref, cur), sps.ks_2samp(ref, cur).pvalue
        if scipys >= S.KS_BOUND_BELOW:
            assert ours == pytest.approx(scipys, rel=1e-9)
        else:  # the bound: never below scipy's p-value, within 1e-10 of it
            assert scipys <= ours < S.KS_BOUND_BELOW
        assert S.wasserstein_normed(ref, cur) == pytest.approx(
            sps.wasserstein_distance(ref, cur) / np.std(ref), rel=1e-12
        )


@pytest.mark.parametrize("chunk", [1, 7, 256, 1 << 18])
def test_the_chunked_merge_in_threads_gives_scipys_cdf_distances(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large samples are merged in chunks, in two threads, after two threads sort them: small
    chunks and a low threshold run those paths on small samples, ties across chunk edges
    included (values rounded to few distinct ones, samples of unequal sizes)."""
    monkeypatch.setattr(S, "_MERGE_CHUNK", chunk)
    monkeypatch.setattr(S, "_PARALLEL_SORT_MIN", 10)
    rng = np.random.default_rng(chunk)
    cases = [
        (rng.normal(0, 1, 3000), rng.normal(0.2, 1.1, 2000)),
        (np.round(rng.normal(0, 1, 4000), 1), np.round(rng.normal(0.1, 1, 2500), 1)),
        (rng.integers(0, 5, 1500).astype(float), rng.integers(0, 6, 3100).astype(float)),
        (rng.normal(5, 1, 500), rng.normal(0, 1, 800)),  # no overlap at all
        (np.full(300, 2.0), np.full(200, 2.0)),  # one value in both
    ]
    for ref, cur in cases:
        got = S.CdfDistances.from_sorted(np.sort(ref), np.sort(cur))
        assert got.ks_statistic == pytest.approx(sps.ks_2samp(ref, cur).statistic, abs=1e-15)
        assert got.wasserstein == pytest.approx(
            sps.wasserstein_distance(ref, cur), rel=1e-12, abs=1e-15
        )
        drift = S.drift(ref, cur)
        assert drift.wasserstein == pytest.approx(
            sps.wasserstein_distance(ref, cur) / max(np.std(ref), 0.001), rel=1e-12, abs=1e-15
        )


def test_a_tiny_ks_pvalue_is_scipys_or_a_bound_within_1e_10_above_it() -> None:
    from scipy.stats import kstwo

    for d, n in ((0.01, 1_000_000), (0.004, 3_000_000), (0.02, 200_000), (0.0015, 1_000_000)):
        exact = float(kstwo.sf(d, round(n * n / (2 * n))))
        ours = S.ks_pvalue_from_statistic(d, n, n)
        assert exact <= ours <= exact + 1e-10
        if exact >= S.KS_BOUND_BELOW:
            assert ours == pytest.approx(exact, rel=1e-12)
    assert S.ks_pvalue_from_statistic(0.0015, 1_000_000, 1_000_000) > S.KS_BOUND_BELOW


def test_gini_and_effective_sample_size_on_known_answers() -> None:
    assert S.gini([5, 5, 5, 5]) == pytest.approx(0.0)
    assert S.gini([0, 0, 0, 12]) == pytest.approx(0.75)  # (n - 1) / n: one item shown
    assert S.gini([1, 2, 3, 4]) == pytest.approx(0.25)
    assert S.effective_sample_size([0.5] * 40) == pytest.approx(40)
    assert S.effective_sample_size([1.0, 1.0, 0.01]) == pytest.approx(102**2 / 10002)
    with pytest.raises(InvalidInputError, match="propensities"):
        S.effective_sample_size([0.0, 0.5])
    with pytest.raises(InvalidInputError, match="non-negative"):
        S.gini([1, -1])
    with pytest.raises(InvalidInputError, match="no finite values"):
        S.psi([np.nan], [1.0])


def _columns(seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return {
        "normal": (rng.normal(0, 1, 30_000), rng.normal(0.05, 1.1, 20_000)),
        "small": (rng.gamma(2, 1, 400), rng.gamma(2, 1, 600) + 0.3),
        "few_values": (
            rng.integers(0, 6, 5000).astype(float),
            rng.integers(0, 8, 4000).astype(float),
        ),
        "shifted": (rng.uniform(0, 1, 12_000), rng.uniform(0.5, 1.5, 9_000)),
    }


@pytest.mark.slow
@pytest.mark.timeout(PEER_INSTALL_TIMEOUT)
def test_each_statistic_equals_evidentlys_on_the_same_arrays() -> None:
    from benchmarks.monitoring import evidently_values

    columns = _columns(2)
    try:
        theirs, _ = evidently_values(columns)
    except (subprocess.CalledProcessError, OSError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Evidently could not be installed in its venv: {exc}", pytrace=False)
        pytest.skip(f"Evidently could not be installed in its venv: {exc}")
    for name, (ref, cur) in columns.items():
        d = S.drift(ref, cur)
        single = {"psi": S.psi, "js": S.jensen_shannon, "ks": S.ks_pvalue,
                  "wasserstein": S.wasserstein_normed}  # fmt: skip
        for stat in STATS:
            assert abs(getattr(d, stat) - theirs[name][stat]) <= 1e-9, (name, stat)
            assert abs(single[stat](ref, cur) - theirs[name][stat]) <= 1e-9, (name, stat)


def test_sql_over_the_event_log_equals_the_array_statistics(tmp_path: Path) -> None:
    """The monitors' DuckDB path (bins and CDFs in SQL) gives the array functions' numbers."""
    rng = np.random.default_rng(3)
    ref = impressions(rng, 2500, T0, DAY, k=4)
    cur = impressions(rng, 3000, T0 + DAY, DAY, k=4, shift=0.2, version=2)
    write(tmp_path, "impressions", ref, "ref")
    write(tmp_path, "impressions", cur, "cur")
    ref_scores = np.concatenate(ref["scores"])
    cur_scores = np.concatenate(cur["scores"])
    d = S.drift(ref_scores, cur_scores)
    for stat in STATS:
        [m] = measure(
            str(tmp_path), "recs", parse_check(f"{stat}(scores)"),
            EventWindow(T0 + DAY, T0 + 2 * DAY), EventWindow(T0, T0 + DAY),
        )  # fmt: skip
        assert m.version == 2
        assert m.value == pytest.approx(getattr(d, stat), rel=1e-10, abs=1e-12), stat
    # small samples: the exact KS p-value, from the values themselves
    small_ref, small_cur = (
        impressions(rng, 40, T0 + 5 * DAY, 3600),
        impressions(rng, 30, T0 + 6 * DAY, 3600, shift=0.5),
    )
    write(tmp_path, "impressions", small_ref, "sref")
    write(tmp_path, "impressions", small_cur, "scur")
    [m] = measure(
        str(tmp_path), "recs", parse_check("ks(scores)"),
        EventWindow(T0 + 6 * DAY, T0 + 7 * DAY), EventWindow(T0 + 5 * DAY, T0 + 6 * DAY),
    )  # fmt: skip
    expected = sps.ks_2samp(
        np.concatenate(small_ref["scores"]), np.concatenate(small_cur["scores"])
    )
    assert m.value == pytest.approx(expected.pvalue, rel=1e-9)


def _alarms(ref: np.ndarray, cur: np.ndarray) -> dict[str, bool]:
    d = S.drift(ref, cur)
    out = {}
    for stat in STATS:
        side, threshold = DEFAULT_THRESHOLDS[stat]
        value = getattr(d, stat)
        out[stat] = value > threshold if side == "above" else value < threshold
    return out


@pytest.mark.slow
def test_default_thresholds_detect_a_shift_and_rarely_alarm_without_one() -> None:
    """200 windows of 2,000 scores against a reference of 5,000, with and without a shift of
    half a standard deviation: the rates docs/monitoring.md quotes."""
    rng = np.random.default_rng(4)
    ref = rng.normal(0, 1, 5000)
    windows = 200
    false = [_alarms(ref, rng.normal(0, 1, 2000)) for _ in range(windows)]
    hit = [_alarms(ref, rng.normal(0.5, 1, 2000)) for _ in range(windows)]
    rates = {
        stat: (sum(h[stat] for h in hit) / windows, sum(f[stat] for f in false) / windows)
        for stat in STATS
    }
    for stat, (detection, false_alarm) in rates.items():
        assert detection >= 0.99, (stat, rates)
        assert false_alarm <= 0.10, (stat, rates)
    assert 0.01 <= rates["ks"][1] <= 0.10  # a p-value below 0.05 under no shift: about 5%


def test_value_checks_in_sql_equal_their_definitions_on_the_same_events(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    ref = impressions(rng, 800, T0, DAY, k=3, items=40)
    cur = impressions(rng, 900, T0 + DAY, DAY, k=3, items=30, version=2)
    write(tmp_path, "impressions", ref, "ref")
    write(tmp_path, "impressions", cur, "cur")
    window, reference = EventWindow(T0 + DAY, T0 + 2 * DAY), EventWindow(T0, T0 + DAY)

    def value(check: str) -> float:
        [m] = measure(str(tmp_path), "recs", parse_check(check), window, reference)
        return m.value

    latency = np.array(cur["latency_ms"])
    props = np.concatenate(cur["propensities"])
    assert value("p50(latency_ms)") == pytest.approx(np.percentile(latency, 50), rel=1e-12)
    assert value("p99(latency_ms)") == pytest.approx(np.percentile(latency, 99), rel=1e-12)
    assert value("mean(scores)") == pytest.approx(np.mean(np.concatenate(cur["scores"])))
    assert value("min(propensities)") == props.min()
    assert value("ess(propensities)") == pytest.approx(S.effective_sample_size(props), rel=1e-12)
    assert value("requests()") == 900
    shown = [i for row in cur["items"] for i in row]
    catalogue = sorted({i for row in ref["items"] + cur["items"] for i in row})
    assert value("coverage(items)") == pytest.approx(len(set(shown)) / len(catalogue))
    counts = [shown.count(i) for i in catalogue]
    assert value("gini(items)") == pytest.approx(S.gini(counts), rel=1e-12)


def _drift_in_child(results: Any) -> None:
    rng = np.random.default_rng(3)
    results.put(S.drift(rng.normal(0, 1, 300_000), rng.normal(0.1, 1, 300_000)).wasserstein)


def test_drift_in_a_process_forked_after_the_thread_pool_started() -> None:
    """The sorts' thread pool is started once per process; a child forked after it has none of
    its threads and must start its own rather than queue work that never runs."""
    import multiprocessing

    rng = np.random.default_rng(3)
    expected = S.drift(rng.normal(0, 1, 300_000), rng.normal(0.1, 1, 300_000)).wasserstein
    assert S._POOL, "the parent's drift started the pool"
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    child = context.Process(target=_drift_in_child, args=(results,))
    child.start()
    child.join(60)
    if child.is_alive():
        child.kill()
        child.join()
        pytest.fail("the forked child hung on the parent's thread pool")
    assert child.exitcode == 0
    assert results.get(timeout=5) == expected
