"""Experiments benchmark: the analysis job at scale against pandas, and A/B vs interleaving.

1. Analysis. An event log of 10M impressions from 1M users (plus ~4M feedback events) is
   generated as Arrow arrays and written to Parquet. Limelight reads the columns it needs and
   runs ``analyze_events`` (per-user arrays, SRM, Welch, CUPED, delta method, sequential,
   Holm). The peer does the same computation in pandas (explode, groupby, merge, numpy
   statistics) in its own environment. Both read the same Parquet files; we report seconds
   end to end (median of the repetitions) and check that both find the same estimate.
2. Sensitivity. A small simulator: members with heavy-tailed activity and tastes, titles,
   position bias, and two rankers that see true relevance through different amounts of noise.
   Each member's potential outcomes under A, under B, and under team-draft interleaving of A
   and B are simulated once; then, by bootstrap over members, we find the smallest number of
   members for which an A/B test on plays per member (Welch, two-sided 5%) and the interleaving
   preference test reach 95% power.

    python benchmarks/experiments.py [--quick]

Prints a table and ends with one line of JSON (medians and ratios).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.peers import peer_python, run_in_peer  # noqa: E402
from limelight.experiments import (  # noqa: E402
    ExperimentSpec,
    Variant,
    analyze_events,
    interleaving_credit,
    interleaving_preference,
    team_draft_batch,
    welch_from_stats,
)

DAY = 86400.0
T0 = 1_700_000_000.0
PANDAS_PEER = ["pandas>=2,<3", "pyarrow>=15", "scipy>=1.11"]


@dataclass(frozen=True)
class Sizes:
    impressions: int
    users: int
    reps: int
    sim_users: int
    titles: int
    bootstrap: int


FULL = Sizes(10_000_000, 1_000_000, 3, 200_000, 300, 200)
QUICK = Sizes(1_000_000, 100_000, 3, 40_000, 200, 100)


# -- 1. the analysis job -------------------------------------------------------------------------
def spec() -> ExperimentSpec:
    return ExperimentSpec(
        name="rows-v2",
        salt="rows-v2",
        variants=(
            Variant("control", 0.5, "recs@champion"),
            Variant("treatment", 0.5, "recs@challenger"),
        ),
        start=T0,
        stop=T0 + 14 * DAY,
        status="running",
        secondary_metrics=("plays_per_impression", "play_value_per_user"),
    )


def strings(codes: np.ndarray, dictionary: list[str]) -> pa.Array:
    """A string array built without a Python loop over rows (dictionary decode)."""
    return pa.DictionaryArray.from_arrays(
        pa.array(codes.astype(np.int32)), pa.array(dictionary)
    ).cast(pa.string())


def lists(codes: np.ndarray, per_row: int, dictionary: list[str]) -> pa.Array:
    offsets = pa.array(np.arange(0, codes.size + 1, per_row, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, strings(codes, dictionary))


def make_log(sizes: Sizes, folder: Path, seed: int = 0) -> tuple[Path, Path]:
    """Write impressions and feedback Parquet files; users are hashed into variants."""
    from limelight.experiments import allocate_many

    rng = np.random.default_rng(seed)
    s = spec()
    n_users, n_imp = sizes.users, sizes.impressions
    user_names = [f"member-{i:07d}" for i in range(n_users)]
    arm = allocate_many(user_names, s.salt, s.shares)
    activity = rng.gamma(0.8, 1.25, n_users)
    imp_user = rng.choice(n_users, n_imp, p=activity / activity.sum())
    imp_ts = T0 + rng.uniform(0, 14 * DAY, n_imp)
    # every impression is also in one other experiment, listed first
    other = rng.integers(0, 2, n_imp)
    experiments = np.stack([1 + other, np.zeros(n_imp, np.int64)], axis=1).ravel()
    variants = np.stack([2 + rng.integers(0, 2, n_imp), arm[imp_user]], axis=1).ravel()
    imp = pa.table(
        {
            "request_id": strings(np.arange(n_imp) % 1000, [f"req-{i}" for i in range(1000)]),
            "ts": pa.array(imp_ts),
            "user_id": strings(imp_user, user_names),
            "items": lists(rng.integers(0, 5000, n_imp * 5), 5, [f"t{i}" for i in range(5000)]),
            "experiments": lists(experiments, 2, ["rows-v2", "artwork-7", "search-3"]),
            "variants": lists(variants, 2, ["control", "treatment", "a", "b"]),
        }
    )
    # plays: ~0.3 per impression, 5% more in treatment; pre-period plays from the same taste
    play_rate = 0.3 * (1 + 0.05 * arm[imp_user])
    played = rng.random(n_imp) < play_rate
    play_user = imp_user[played]
    play_ts = imp_ts[played] + rng.uniform(0, 600, play_user.size)
    n_pre = rng.poisson(activity * n_imp / n_users * 0.3 * 2)
    pre_user = np.repeat(np.arange(n_users), n_pre)
    pre_ts = T0 - rng.uniform(1, 28 * DAY, pre_user.size)
    n_pause = n_imp // 10
    pause_user = rng.integers(0, n_users, n_pause)
    fb_user = np.concatenate([play_user, pre_user, pause_user])
    events = np.concatenate([np.zeros(play_user.size + pre_user.size, int), np.ones(n_pause, int)])
    value = rng.exponential(40.0, fb_user.size)
    value[rng.random(fb_user.size) < 0.05] = np.nan
    fb = pa.table(
        {
            "request_id": strings(
                np.arange(fb_user.size) % 1000, [f"req-{i}" for i in range(1000)]
            ),
            "ts": pa.array(
                np.concatenate([play_ts, pre_ts, T0 + rng.uniform(0, 14 * DAY, n_pause)])
            ),
            "user_id": strings(fb_user, user_names),
            "item_id": strings(rng.integers(0, 5000, fb_user.size), [f"t{i}" for i in range(5000)]),
            "event": strings(events, ["play", "pause"]),
            "value": pa.array(value, from_pandas=True),
        }
    )
    imp_path, fb_path = folder / "impressions.parquet", folder / "feedback.parquet"
    pq.write_table(imp, imp_path)
    pq.write_table(fb, fb_path)
    return imp_path, fb_path


def limelight_analysis(imp_path: Path, fb_path: Path) -> tuple[float, dict[str, float]]:
    began = time.perf_counter()
    imp = pq.read_table(imp_path, columns=["ts", "user_id", "experiments", "variants"])
    fb = pq.read_table(fb_path, columns=["ts", "user_id", "event", "value"])
    result = analyze_events(imp, fb, spec())
    seconds = time.perf_counter() - began
    primary = result.result("plays_per_user").estimate
    ratio = result.result("plays_per_impression").estimate
    assert primary is not None and ratio is not None
    return seconds, {
        "users": float(sum(result.counts)),
        "cuped_diff": primary.diff,
        "cuped_se": primary.se,
        "ratio_diff": ratio.diff,
        "ratio_se": ratio.se,
        "srm_p": result.srm.p_value,
    }


PANDAS_SCRIPT = r"""
import json, sys, time
import numpy as np, pandas as pd
from scipy import stats

imp_path, fb_path, start, stop, pre_period, name = sys.argv[1:7]
start, stop, pre_period = float(start), float(stop), float(pre_period)
began = time.perf_counter()
imp = pd.read_parquet(imp_path, columns=["ts", "user_id", "experiments", "variants"])
fb = pd.read_parquet(fb_path, columns=["ts", "user_id", "event", "value"])
imp = imp[(imp.ts >= start) & (imp.ts < stop)]
ex = imp.explode(["experiments", "variants"])
ex = ex[ex.experiments == name]
users = ex.groupby("user_id").agg(first=("ts", "min"), vmin=("variants", "min"),
                                  vmax=("variants", "max"), impressions=("ts", "size"))
users = users[users.vmin == users.vmax]
plays = fb[fb.event == "play"].merge(users[["first"]], left_on="user_id", right_index=True)
post = plays[(plays.ts >= plays["first"]) & (plays.ts < stop)]
pre = plays[(plays.ts < start) & (plays.ts >= start - pre_period)]
users["plays"] = post.groupby("user_id").size().reindex(users.index, fill_value=0)
users["value"] = post.groupby("user_id")["value"].sum().reindex(users.index, fill_value=0)
users["pre"] = pre.groupby("user_id").size().reindex(users.index, fill_value=0)
c, t = users[users.vmin == "control"], users[users.vmin == "treatment"]
srm_p = stats.chisquare([len(c), len(t)]).pvalue
y, x = users.plays.to_numpy(float), users.pre.to_numpy(float)
theta = np.cov(y, x)[0, 1] / x.var(ddof=1)
adj = lambda d: d.plays - theta * (d.pre - x.mean())
ac, at = adj(c), adj(t)
cuped_diff = at.mean() - ac.mean()
cuped_se = np.sqrt(ac.var() / len(ac) + at.var() / len(at))
def ratio(d):
    r = d.plays.sum() / d.impressions.sum()
    lin = (d.plays - r * d.impressions) / d.impressions.mean()
    return r, lin.var() / len(d)
(rc, vc), (rt, vt) = ratio(c), ratio(t)
welch = stats.ttest_ind(t.value, c.value, equal_var=False)
seconds = time.perf_counter() - began
print(json.dumps({"seconds": seconds, "users": float(len(users)), "cuped_diff": cuped_diff,
                  "cuped_se": cuped_se, "ratio_diff": rt - rc, "ratio_se": float(np.sqrt(vc + vt)),
                  "srm_p": float(srm_p)}))
"""


def pandas_analysis(python: Path, imp_path: Path, fb_path: Path) -> tuple[float, dict[str, float]]:
    s = spec()
    out = json.loads(
        run_in_peer(
            python,
            PANDAS_SCRIPT,
            str(imp_path),
            str(fb_path),
            str(s.start),
            str(s.stop),
            str(28 * DAY),
            s.name,
        )
    )
    return out.pop("seconds"), out


# -- 2. sensitivity: A/B test against interleaving -----------------------------------------------
@dataclass(frozen=True)
class Outcomes:
    plays_a: np.ndarray  # plays per member if shown ranker A (potential outcome)
    plays_b: np.ndarray
    credit_a: np.ndarray  # plays credited to A and to B under team-draft interleaving
    credit_b: np.ndarray


def simulate_members(sizes: Sizes, seed: int = 1, k: int = 10) -> Outcomes:
    """Potential outcomes of every member under A, B and interleaving (two rankers, k slots)."""
    rng = np.random.default_rng(seed)
    n, m, dim = sizes.sim_users, sizes.titles, 8
    sessions = 1 + rng.poisson(rng.gamma(0.7, 12.0, n))  # heavy-tailed activity
    taste = rng.standard_normal((n, dim)) / np.sqrt(dim)
    titles = rng.standard_normal((m, dim))
    popularity = rng.normal(0, 0.5, m)
    affinity = taste @ titles.T + popularity  # true relevance on a logit scale
    base = rng.normal(-2.5, 0.7, n)[:, None]  # some members play much more per session
    p_play = 1 / (1 + np.exp(-(base + affinity)))
    position = 1 / np.log2(np.arange(k) + 2)  # DCG-like position bias

    def ranking(noise: float) -> np.ndarray:
        scores = affinity + noise * rng.standard_normal((n, m))
        top = np.argpartition(-scores, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
        return np.take_along_axis(top, order, axis=1)

    rank_a, rank_b = ranking(0.6), ranking(0.8)  # A sees relevance through less noise

    def plays_for(items: np.ndarray) -> np.ndarray:
        p = np.take_along_axis(p_play, np.maximum(items, 0), axis=1) * position * (items >= 0)
        return rng.binomial(sessions[:, None], p)

    shown, teams = team_draft_batch(rank_a, rank_b, k, seed=rng)
    credit_a, credit_b = interleaving_credit(teams, plays_for(shown))
    return Outcomes(
        plays_for(rank_a).sum(axis=1).astype(float),
        plays_for(rank_b).sum(axis=1).astype(float),
        credit_a,
        credit_b,
    )


def ab_power(out: Outcomes, members: int, reps: int, rng: np.random.Generator) -> float:
    """Share of bootstrap A/B tests (members split evenly) that find A better at 5%."""
    half = max(2, members // 2)
    a = out.plays_a[rng.integers(0, out.plays_a.size, (reps, half))]
    b = out.plays_b[rng.integers(0, out.plays_b.size, (reps, half))]
    est = welch_from_stats(half, b.mean(1), b.var(1, ddof=1), half, a.mean(1), a.var(1, ddof=1))
    return float(((est.p_value < 0.05) & (est.diff > 0)).mean())


def interleaving_power(out: Outcomes, members: int, reps: int, rng: np.random.Generator) -> float:
    """Share of bootstrap interleaving experiments whose preference test finds A at 5%."""
    wins = 0
    for _ in range(reps):
        idx = rng.integers(0, out.credit_a.size, members)
        try:
            res = interleaving_preference(out.credit_a[idx], out.credit_b[idx])
        except ValueError:  # nobody played: no evidence
            continue
        wins += res.p_value < 0.05 and res.preference > 0
    return wins / reps


def members_needed(power, reps: int, seed: int, limit: float) -> int:  # type: ignore[no-untyped-def]
    """Smallest member count with >= 95% power: doubling, then bisection (about 5%)."""
    rng = np.random.default_rng(seed)
    n = 16
    while power(n, reps, rng) < 0.95:
        n *= 2
        if n > limit:
            return -1
    lo, hi = n // 2, n
    while hi - lo > max(2, lo // 20):
        mid = (lo + hi) // 2
        if power(mid, reps, rng) >= 0.95:
            hi = mid
        else:
            lo = mid
    return hi


# -- run ------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, under two minutes")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    python = peer_python("pandas-experiments", PANDAS_PEER)

    with tempfile.TemporaryDirectory(prefix="limelight-exp-bench-") as tmp:
        began = time.perf_counter()
        imp_path, fb_path = make_log(sizes, Path(tmp))
        print(
            f"generated {sizes.impressions:,} impressions for {sizes.users:,} members in "
            f"{time.perf_counter() - began:.1f} s",
            file=sys.stderr,
        )
        ours, theirs = [], []
        for _ in range(sizes.reps):
            seconds, ours_out = limelight_analysis(imp_path, fb_path)
            ours.append(seconds)
            seconds, peer_out = pandas_analysis(python, imp_path, fb_path)
            theirs.append(seconds)
    for key in ("users", "cuped_diff", "cuped_se", "ratio_diff", "ratio_se"):
        if not np.isclose(ours_out[key], peer_out[key], rtol=1e-6):
            raise SystemExit(f"limelight and pandas disagree on {key}: {ours_out} vs {peer_out}")

    began = time.perf_counter()
    out = simulate_members(sizes)
    sim_seconds = time.perf_counter() - began
    limit = 64.0 * sizes.sim_users
    n_ab = members_needed(lambda n, r, g: ab_power(out, n, r, g), sizes.bootstrap, 2, limit)
    n_il = members_needed(
        lambda n, r, g: interleaving_power(out, n, r, g), sizes.bootstrap, 3, limit
    )
    ratio = n_ab / n_il if n_ab > 0 and n_il > 0 else float("nan")
    lift = out.plays_a.mean() / out.plays_b.mean() - 1
    engaged = (out.credit_a + out.credit_b) > 0
    pref = np.sign(out.credit_a - out.credit_b)[engaged].mean()

    ours_median, theirs_median = statistics.median(ours), statistics.median(theirs)
    print(
        f"\nAnalysis of {sizes.impressions:,} impressions / {sizes.users:,} members "
        f"(median of {sizes.reps}, seconds end to end from Parquet)"
    )
    print(f"{'engine':<28}{'median s':>10}{'runs':>30}")
    print(
        f"{'limelight (pyarrow/numpy)':<28}{ours_median:>10.2f}"
        f"{' '.join(f'{x:.2f}' for x in ours):>30}"
    )
    print(
        f"{'pandas (peer venv)':<28}{theirs_median:>10.2f}"
        f"{' '.join(f'{x:.2f}' for x in theirs):>30}"
    )
    print(
        f"speed-up: {theirs_median / ours_median:.1f}x; both: CUPED diff "
        f"{ours_out['cuped_diff']:.5f} (se {ours_out['cuped_se']:.5f}), users "
        f"{ours_out['users']:,.0f}"
    )
    print(
        f"\nSensitivity ({sizes.sim_users:,} simulated members, {sizes.titles} titles, "
        f"{sizes.bootstrap} bootstrap samples per size; simulated in {sim_seconds:.1f} s)"
    )
    print(
        f"true lift of A over B in plays per member: {100 * lift:+.2f}%; "
        f"interleaving preference for A: {pref:+.3f}"
    )
    print(f"{'test':<34}{'members for 95% power':>24}")
    print(f"{'A/B, plays per member (Welch)':<34}{n_ab:>24,}")
    print(f"{'team-draft interleaving':<34}{n_il:>24,}")
    print(f"ratio A/B / interleaving: {ratio:.1f}x")
    figures = {
        "analysis_impressions": sizes.impressions,
        "analysis_users": sizes.users,
        "limelight_seconds_median": round(ours_median, 3),
        "pandas_seconds_median": round(theirs_median, 3),
        "speedup_vs_pandas": round(theirs_median / ours_median, 2),
        "ab_members_for_95_power": n_ab,
        "interleaving_members_for_95_power": n_il,
        "ab_over_interleaving": round(ratio, 1),
        "true_lift_plays_per_member": round(float(lift), 4),
    }
    print(json.dumps(figures, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
