"""Bandits: Limelight against Open Bandit Pipeline, MABWiser and Vowpal Wabbit in one run.

1. OPE parity with OBP on the Open Bandit Dataset (random/all): IPS, SNIPS, DM, DR for the same
   action distribution and the same reward-model predictions.
2. OBP's quickstart: BernoulliTS (ZOZOTOWN prior) evaluated by IPW on the random log, against
   the on-policy truth of the bts log.
3. Speed on one stream (10 arms, 20 features): decisions/s (single, batches of 1,000 and
   10,000) and updates/s for LinUCB and linear TS against MABWiser, and learning against
   Vowpal Wabbit's --cb_explore_adf.
4. OPE of 1M logged rounds with all five estimators, bootstrap included.

    .venv/bin/python benchmarks/bandits.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.peers import peer_python, run_in_peer  # noqa: E402
from limelight.bandits import (  # noqa: E402
    BanditLog,
    BetaThompsonSampling,
    LinearThompsonSampling,
    LinUCB,
    estimate_rewards,
    evaluate,
    load_obd,
)
from limelight.core.data import find_data  # noqa: E402

K, D = 10, 20

OBP_REQUIREMENTS = [
    "pandas<3",
    "torch==2.13.0",
    "scikit-learn",
    "matplotlib",
    "seaborn",
    "tqdm",
    "pyyaml",
    "scipy",
]


def obp_python() -> Path:
    """Open Bandit Pipeline 0.5.7 in its own venv (it declares Python < 3.10, so --no-deps)."""
    python = peer_python("obp", OBP_REQUIREMENTS)
    check = subprocess.run([str(python), "-m", "pip", "show", "-q", "obp"], capture_output=True)
    if check.returncode != 0:
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                "--no-deps",
                "--ignore-requires-python",
                "obp==0.5.7",
            ],
            check=True,
        )
    return python


OBP_OPE = """
import json, sys, warnings
import numpy as np
warnings.filterwarnings("ignore")
from obp.dataset import OpenBanditDataset
from obp.ope import (OffPolicyEvaluation, InverseProbabilityWeighting as IPW, DirectMethod as DM,
                     SelfNormalizedInverseProbabilityWeighting as SNIPW, DoublyRobust as DR)
root, folder = sys.argv[1], sys.argv[2]
bf = OpenBanditDataset(behavior_policy="random", campaign="all",
                       data_path=root).obtain_batch_bandit_feedback()
np.savez(folder + "/feedback.npz", action=bf["action"], position=bf["position"],
         reward=bf["reward"], pscore=bf["pscore"], context=bf["context"].astype(float))
ope = OffPolicyEvaluation(bandit_feedback=bf, ope_estimators=[IPW(), SNIPW(), DM(), DR()])
values = ope.estimate_policy_values(
    action_dist=np.load(folder + "/dist.npy"),
    estimated_rewards_by_reg_model=np.load(folder + "/q.npy"))
print(json.dumps({k: float(v) for k, v in values.items()}))
"""


def obp_ope_values(log: BanditLog, dist: np.ndarray, q: np.ndarray) -> tuple[dict, dict]:
    """OBP's IPS/SNIPS/DM/DR on OBD random/all for ``dist`` and ``q``, and its loaded arrays."""
    with tempfile.TemporaryDirectory() as folder:
        np.save(f"{folder}/dist.npy", dist)
        np.save(f"{folder}/q.npy", q)
        out = run_in_peer(obp_python(), OBP_OPE, str(find_data("obd")), folder)
        with np.load(f"{folder}/feedback.npz") as f:
            feedback = {k: f[k] for k in f.files}
    raw = json.loads(out.strip().splitlines()[-1])
    return {"ips": raw["ipw"], "snips": raw["snipw"], "dm": raw["dm"], "dr": raw["dr"]}, feedback


OBP_QUICKSTART = """
import json, sys, time, warnings
import numpy as np
warnings.filterwarnings("ignore")
from obp.dataset import OpenBanditDataset
from obp.policy import BernoulliTS
from obp.ope import OffPolicyEvaluation, InverseProbabilityWeighting as IPW
from obp.policy.contextfree import production_prior_for_bts
root, n_sim, folder = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ds = OpenBanditDataset(behavior_policy="random", campaign="all", data_path=root)
bf = ds.obtain_batch_bandit_feedback()
policy = BernoulliTS(n_actions=ds.n_actions, len_list=ds.len_list, is_zozotown_prior=True,
                     campaign="all", random_state=12345)
t = time.perf_counter()
dist = policy.compute_batch_action_dist(n_sim=n_sim, n_rounds=bf["n_rounds"])
seconds = time.perf_counter() - t
np.save(folder + "/bts_dist.npy", dist[0])
ipw = OffPolicyEvaluation(bandit_feedback=bf, ope_estimators=[IPW()]).estimate_policy_values(
    action_dist=dist)["ipw"]
truth = OpenBanditDataset.calc_on_policy_policy_value_estimate(
    behavior_policy="bts", campaign="all", data_path=root)
print(json.dumps({"ipw": float(ipw), "relative": float(ipw / bf["reward"].mean()),
                  "truth": float(truth), "seconds": seconds,
                  "alpha": list(map(float, production_prior_for_bts["all"]["alpha"])),
                  "beta": list(map(float, production_prior_for_bts["all"]["beta"]))}))
"""


def obp_quickstart(n_sim: int) -> tuple[dict, np.ndarray]:
    with tempfile.TemporaryDirectory() as folder:
        out = run_in_peer(obp_python(), OBP_QUICKSTART, str(find_data("obd")), str(n_sim), folder)
        dist = np.load(f"{folder}/bts_dist.npy")
    return json.loads(out.strip().splitlines()[-1]), dist


MABWISER = """
import json, sys, time
import numpy as np
from mabwiser.mab import MAB, LearningPolicy
folder, reps, n_single, n_upd = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
X, A, R = (np.load(f"{folder}/{n}.npy") for n in "XAR")
med = lambda xs: float(np.median(xs))
out = {}
for name, lp in (("linucb", LearningPolicy.LinUCB(alpha=1.0, l2_lambda=1.0)),
                 ("lints", LearningPolicy.LinTS(alpha=1.0, l2_lambda=1.0))):
    mab = MAB(arms=list(range(10)), learning_policy=lp, seed=0)
    mab.fit(decisions=A[:1000], rewards=R[:1000], contexts=X[:1000])
    rates = []
    for _ in range(reps):
        t = time.perf_counter()
        for i in range(n_single):
            mab.predict(X[i:i + 1])
        rates.append(n_single / (time.perf_counter() - t))
    out[name + "_single"] = med(rates)
    for b in (1000, 10000):
        rates = []
        for _ in range(reps):
            t = time.perf_counter()
            mab.predict(X[:b])
            rates.append(b / (time.perf_counter() - t))
        out[f"{name}_batch{b}"] = med(rates)
    rates = []
    for _ in range(reps):
        t = time.perf_counter()
        for i in range(n_upd):
            mab.partial_fit(decisions=A[i:i + 1], rewards=R[i:i + 1], contexts=X[i:i + 1])
        rates.append(n_upd / (time.perf_counter() - t))
    out[name + "_update"] = med(rates)
    rates = []
    for _ in range(reps):
        t = time.perf_counter()
        mab.partial_fit(decisions=A[:10000], rewards=R[:10000], contexts=X[:10000])
        rates.append(10000 / (time.perf_counter() - t))
    out[name + "_update_batch10000"] = med(rates)
print(json.dumps(out))
"""

VW = """
import json, sys, time
import numpy as np
import vowpalwabbit
folder, reps, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
X, A, R, P = (np.load(f"{folder}/{m}.npy") for m in "XARP")
def lines(i, label):
    shared = "shared |s " + " ".join(f"f{j}:{v:.6f}" for j, v in enumerate(X[i]))
    acts = [f"|a arm{k}" for k in range(10)]
    if label:
        acts[A[i]] = f"0:{-R[i]}:{P[i]} " + acts[A[i]]
    return [shared] + acts
learn = [lines(i, True) for i in range(n)]
predict = [lines(i, False) for i in range(n)]
out, learn_rates, predict_rates = {}, [], []
for _ in range(reps):
    vw = vowpalwabbit.Workspace("--cb_explore_adf -q sa --epsilon 0.1 --quiet")
    t = time.perf_counter()
    for ex in learn:
        vw.learn(ex)
    learn_rates.append(n / (time.perf_counter() - t))
    t = time.perf_counter()
    for ex in predict:
        vw.predict(ex)
    predict_rates.append(n / (time.perf_counter() - t))
    vw.finish()
out["learn"] = float(np.median(learn_rates))
out["single"] = float(np.median(predict_rates))
print(json.dumps(out))
"""


def rate(fn: Callable[[], object], count: int, reps: int) -> float:
    """Median items per second of ``fn`` (which handles ``count`` items) over ``reps`` runs."""
    rates = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        rates.append(count / (time.perf_counter() - t))
    return statistics.median(rates)


def stream(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """A logged stream: contexts, uniform random actions, clicks from a linear model."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, D)) / np.sqrt(D)
    theta = rng.normal(size=(K, D))
    actions = rng.integers(0, K, n)
    p = 1 / (1 + np.exp(-(np.sum(x * theta[actions], axis=1) - 1.0)))
    rewards = (rng.random(n) < p).astype(float)
    return {"X": x, "A": actions, "R": rewards, "P": np.full(n, 1 / K)}


def limelight_speed(data: dict[str, np.ndarray], reps: int, n_single: int) -> dict[str, float]:
    x, a, r = data["X"], data["A"], data["R"]
    out = {}
    for name, make in (
        ("linucb", lambda: LinUCB(n_actions=K, n_features=D, random_state=0)),
        ("lints", lambda: LinearThompsonSampling(n_actions=K, n_features=D, random_state=0)),
    ):
        policy = make().update_many(x[:1000], a[:1000], r[:1000])

        def single(policy: LinUCB | LinearThompsonSampling = policy) -> None:
            for i in range(n_single):
                policy.choose(x[i])

        out[name + "_single"] = rate(single, n_single, reps)
        for b in (1000, 10000):
            out[f"{name}_batch{b}"] = rate(lambda b=b, p=policy: p.choose_many(x[:b]), b, reps)

        def updates(policy: LinUCB | LinearThompsonSampling = policy) -> None:
            for i in range(n_single):
                policy.update(x[i], int(a[i]), float(r[i]))

        out[name + "_update"] = rate(updates, n_single, reps)
        out[name + "_update_batch10000"] = rate(
            lambda p=policy: p.update_many(x[:10000], a[:10000], r[:10000]), 10000, reps
        )
    return out


def ope_million(reps: int) -> tuple[float, dict]:
    rng = np.random.default_rng(1)
    n = 1_000_000
    actions = rng.integers(0, K, n)
    log = BanditLog(
        context=np.zeros((n, 1)),
        action=actions,
        reward=(rng.random(n) < 0.05 + 0.01 * actions).astype(float),
        pscore=np.full(n, 1 / K),
        n_actions=K,
    )
    dist = rng.dirichlet(np.ones(K), size=n)
    q = np.tile(0.05 + 0.01 * np.arange(K), (n, 1))
    times, out = [], {}
    for rep in range(reps):
        t = time.perf_counter()
        out = evaluate(log, dist, q, random_state=rep)
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (< 2 minutes)")
    args = parser.parse_args()
    reps = 1 if args.quick else 5
    summary: dict[str, object] = {"quick": args.quick}

    # 1. OPE parity with OBP
    log = load_obd(None, "random")
    rng = np.random.default_rng(0)
    dist = rng.dirichlet(np.ones(log.n_actions), size=(log.n_rounds, log.len_list))
    dist = dist.transpose(0, 2, 1)
    q = estimate_rewards(log, n_folds=3, random_state=0)
    peer, feedback = obp_ope_values(log, dist, q)
    mine = evaluate(log, dist, q, n_bootstrap=0)
    same_data = all(
        np.array_equal(feedback[k], getattr(log, k))
        for k in ("action", "position", "reward", "pscore", "context")
    )
    print("\nOPE on OBD random/all (same action_dist, same reward-model predictions)")
    print(f"{'estimator':<10}{'Limelight':>14}{'OBP 0.5.7':>14}{'|diff|':>10}")
    diffs = {}
    for name, value in peer.items():
        diffs[name] = abs(mine[name].value - value)
        print(f"{name:<10}{mine[name].value:>14.8f}{value:>14.8f}{diffs[name]:>10.1e}")
    print(f"loaded arrays identical to OBP's: {same_data}")
    summary["obp_max_abs_diff"] = max(diffs.values())
    summary["obp_same_data"] = same_data

    # 2. OBP's quickstart: BernoulliTS by IPW on the random log, against the bts log
    n_sim = 100_000
    quick, obp_dist = obp_quickstart(n_sim)
    ours_on_obp_dist = evaluate(
        log,
        np.broadcast_to(obp_dist, (log.n_rounds, *obp_dist.shape)),
        estimators=["ips"],
        random_state=0,
    )["ips"]
    bts = BetaThompsonSampling(
        n_actions=log.n_actions, alpha=quick["alpha"], beta=quick["beta"], random_state=12345
    )
    t = time.perf_counter()
    own_dist = bts.rank_probabilities(log.len_list, n_samples=n_sim)
    own_seconds = time.perf_counter() - t
    ours_own = evaluate(
        log,
        np.broadcast_to(own_dist, (log.n_rounds, *own_dist.shape)),
        estimators=["ips"],
        random_state=0,
    )["ips"]
    truth = load_obd(None, "bts").reward.mean()
    base = log.reward.mean()
    print("\nOBP quickstart: BernoulliTS (ZOZOTOWN prior) valued on the random log")
    print(f"{'':<40}{'IPS':>10}{'x random':>10}{'95% interval':>22}")
    print(f"{'OBP IPW (its action dist)':<40}{quick['ipw']:>10.6f}{quick['relative']:>10.3f}")
    print(
        f"{'Limelight IPS (OBP action dist)':<40}{ours_on_obp_dist.value:>10.6f}"
        f"{ours_on_obp_dist.value / base:>10.3f}"
        f"   [{ours_on_obp_dist.lower:.6f}, {ours_on_obp_dist.upper:.6f}]"
    )
    print(
        f"{'Limelight IPS (own BetaTS, same prior)':<40}{ours_own.value:>10.6f}"
        f"{ours_own.value / base:>10.3f}   [{ours_own.lower:.6f}, {ours_own.upper:.6f}]"
    )
    print(f"{'on-policy truth (bts log mean click)':<40}{truth:>10.6f}{truth / base:>10.3f}")
    print(
        f"action dist from {n_sim:,} draws: OBP {quick['seconds']:.2f} s, "
        f"Limelight {own_seconds:.2f} s"
    )
    summary["quickstart"] = {
        "obp_ipw": quick["ipw"],
        "obp_relative": quick["relative"],
        "limelight_ips_obp_dist": ours_on_obp_dist.value,
        "limelight_ips_own_ts": ours_own.value,
        "limelight_interval": [ours_own.lower, ours_own.upper],
        "truth_bts": truth,
        "dist_seconds_ratio_obp_over_limelight": quick["seconds"] / own_seconds,
    }

    # 3. speed on one stream
    data = stream(20_000)
    n_single = 2000 if args.quick else 10_000
    mab_python = peer_python("mabwiser", ["mabwiser"])
    vw_python = peer_python("vowpalwabbit", ["vowpalwabbit", "numpy"])
    n_peer = str(200 if args.quick else 500)
    runs: dict[str, list[dict[str, float]]] = {"mab": [], "vw": [], "ours": []}
    with tempfile.TemporaryDirectory() as folder:
        for name, arr in data.items():
            np.save(f"{folder}/{name}.npy", arr)
        # The machine is shared: interleave the tools, one repetition each per round, so
        # that every tool sees the same spread of background load; then take medians.
        for _ in range(reps):
            out = run_in_peer(mab_python, MABWISER, folder, "1", n_peer, n_peer)
            runs["mab"].append(json.loads(out.strip().splitlines()[-1]))
            out = run_in_peer(vw_python, VW, folder, "1", str(n_single))
            runs["vw"].append(json.loads(out.strip().splitlines()[-1]))
            runs["ours"].append(limelight_speed(data, 1, n_single))
    mab, vw, ours = (
        {key: statistics.median(r[key] for r in runs[tool]) for key in runs[tool][0]}
        for tool in ("mab", "vw", "ours")
    )
    print("\nSpeed, 10 arms, 20 features (items per second, median)")
    print(f"{'operation':<28}{'Limelight':>12}{'MABWiser':>12}{'ratio':>8}")
    ratios = {}
    for key in ours:  # the median of the per-round ratios: paired in time, so less noisy
        ratios[key] = statistics.median(
            o[key] / m[key] for o, m in zip(runs["ours"], runs["mab"], strict=True)
        )
        print(f"{key:<28}{ours[key]:>12,.0f}{mab[key]:>12,.0f}{ratios[key]:>8.1f}")
    print(f"{'operation':<28}{'Limelight':>12}{'VW':>12}{'ratio':>8}")
    vw_rows = {
        "single decision (LinUCB)": ("linucb_single", "single"),
        "learn one round (LinUCB)": ("linucb_update", "learn"),
        "learn one round (LinTS)": ("lints_update", "learn"),
        "learn, batches of 10,000": ("linucb_update_batch10000", "learn"),
    }
    vw_ratios = {}
    for label, (a, b) in vw_rows.items():
        vw_ratios[a] = statistics.median(
            o[a] / v[b] for o, v in zip(runs["ours"], runs["vw"], strict=True)
        )
        print(f"{label:<28}{ours[a]:>12,.0f}{vw[b]:>12,.0f}{vw_ratios[a]:>8.1f}")
    summary["limelight"] = ours
    summary["mabwiser"] = mab
    summary["vw"] = vw
    summary["ratio_vs_mabwiser"] = ratios
    summary["ratio_vs_vw"] = vw_ratios

    # 4. OPE of 1M rounds, five estimators with bootstrap
    seconds, result = ope_million(1 if args.quick else 3)
    print(
        f"\nOPE of 1,000,000 rounds, {len(result)} estimators, 1,000 bootstrap resamples: "
        f"{seconds:.2f} s (median)"
    )
    summary["ope_1m_seconds"] = seconds
    print(json.dumps(summary, default=float))


if __name__ == "__main__":
    main()
