"""Recommenders on MovieLens: quality, time and memory of Limelight's models beside peers.

Protocol A: every rating is a positive, a seeded random 80/20 holdout per user, ranking over the
full catalogue with training items excluded. Datasets: ml-100k (``u.data``) and the ml-1m
(user, movie) pairs in ``ratings.parquet``, read from ``../shared/datasets/movielens``.

Peers, run on the same split in the same run: a plain numpy EASE written here (the reference
for EASE's speed) and ``implicit``'s ALS (its own virtual environment, see ``peers.py``), at
its defaults and at the hyperparameters of Limelight's ImplicitALS. Every model is timed
``--repeats`` times, interleaved with its peer; we quote medians. Peak memory is the growth of
the process's resident set during one fit + evaluation, sampled every 2 ms.

    .venv/bin/python benchmarks/recsys.py            # both datasets, 3 repeats
    .venv/bin/python benchmarks/recsys.py --quick    # ml-100k, 1 repeat (< 2 minutes)

Ends with one line of JSON: NDCG@10 of each model, the time ratios against the peers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.peers import peer_python, run_in_peer  # noqa: E402
from limelight.recsys import (  # noqa: E402
    EASE,
    ImplicitALS,
    Interactions,
    ItemKNN,
    Popularity,
    Recommender,
    evaluate,
    load_dataset,
    random_holdout,
    ranking_metrics,
)

MOVIELENS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "movielens"
K = (10, 20)
ALS_PARAMS = {"factors": 64, "iterations": 15}


class PeakRSS:
    """Peak growth of this process's resident memory while the block runs (sampled)."""

    def __enter__(self) -> PeakRSS:
        self.base = self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())

    @property
    def mib(self) -> float:
        return (self.peak - self.base) / 2**20


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


def load(name: str) -> Interactions:
    if name == "ml-100k":
        return load_dataset("movielens-100k", MOVIELENS / "ml-100k")
    return load_dataset("movielens-1m", MOVIELENS / "ml-1m" / "ratings.parquet")


# -- the plain numpy EASE reference ---------------------------------------------------------


def numpy_ease(X: sp.csr_matrix, test: sp.csr_matrix, l2: float) -> tuple[np.ndarray, np.ndarray]:
    """Textbook EASE (Steck 2019, float64 inverse) and its top-20 lists for the test users."""
    G = (X.T @ X).toarray().astype(np.float64)
    G[np.diag_indices_from(G)] += l2
    P = np.linalg.inv(G)
    B = P / (-np.diag(P))
    B[np.diag_indices_from(B)] = 0.0
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    recs = np.empty((len(users), max(K)), dtype=np.int64)
    for start in range(0, len(users), 1024):
        batch = users[start : start + 1024]
        scores = np.asarray(X[batch] @ B)
        scores[X[batch].nonzero()] = -np.inf
        top = np.argpartition(-scores, max(K), axis=1)[:, : max(K)]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
        recs[start : start + len(batch)] = np.take_along_axis(top, order, axis=1)
    return users, recs


# -- implicit, in its own environment -------------------------------------------------------

PEER_SCRIPT = r"""
import json, sys, threading, time
import numpy as np, scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares

def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096

folder, repeats, params = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
train = sp.load_npz(folder + "/train.npz").tocsr().astype(np.float32)
test = sp.load_npz(folder + "/test.npz").tocsr()
users = np.flatnonzero(np.diff(test.indptr) > 0)
fits, evals = [], []
base = peak = rss()
stop = threading.Event()
def sample():
    global peak
    while not stop.wait(0.002):
        peak = max(peak, rss())
threading.Thread(target=sample, daemon=True).start()
for _ in range(repeats):
    model = AlternatingLeastSquares(random_state=0, **params)
    t0 = time.perf_counter()
    model.fit(train, show_progress=False)
    t1 = time.perf_counter()
    ids, _ = model.recommend(users, train[users], N=20, filter_already_liked_items=True)
    t2 = time.perf_counter()
    fits.append(t1 - t0)
    evals.append(t2 - t1)
stop.set()
np.save(folder + "/recs.npy", np.asarray(ids, dtype=np.int64))
print(json.dumps({"fit": fits, "eval": evals, "mem": (max(peak, rss()) - base) / 2**20}))
"""


def run_implicit(
    python: Path, train: sp.csr_matrix, test: sp.csr_matrix, repeats: int, params: dict[str, Any]
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        sp.save_npz(f"{tmp}/train.npz", train)
        sp.save_npz(f"{tmp}/test.npz", test)
        out = json.loads(run_in_peer(python, PEER_SCRIPT, tmp, str(repeats), json.dumps(params)))
        recs = np.load(f"{tmp}/recs.npy")
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    metrics = ranking_metrics(
        recs, test[users], K, item_popularity=np.bincount(train.indices, minlength=train.shape[1])
    )
    return {"fit": out["fit"], "eval": out["eval"], "mem": out["mem"], "metrics": metrics}


# -- one dataset ----------------------------------------------------------------------------


def models() -> dict[str, Callable[[], Recommender]]:
    return {
        "Popularity": Popularity,
        "ItemKNN (100 nb)": lambda: ItemKNN(neighbors=100),
        "EASE (l2 500)": lambda: EASE(l2=500.0),
        "EASE (l2 60, user_weight 0.5)": lambda: EASE(l2=60.0, user_weight=0.5),
        "ImplicitALS": lambda: ImplicitALS(**ALS_PARAMS),
    }


def bench_dataset(name: str, repeats: int, implicit_python: Path | None) -> list[dict[str, Any]]:
    data = load(name)
    train, test = random_holdout(data, 0.2, seed=0)
    X, T = train.matrix(), test.matrix()
    print(
        f"\n{name}: {data.n_users} users, {data.n_items} items, {len(train)} train / "
        f"{len(test)} test interactions",
        flush=True,
    )
    popularity = np.bincount(X.indices, minlength=X.shape[1])
    # Warm up (imports, first BLAS/LAPACK calls) so that no engine pays for it in its timing.
    small = X[:200]
    EASE(l2=500.0).fit(small)
    numpy_ease(small, T[:200], 500.0)
    rows: list[dict[str, Any]] = []
    als = ImplicitALS(**ALS_PARAMS)
    implicit_runs = {
        "implicit ALS (defaults)": {**ALS_PARAMS},
        # implicit's confidence is alpha * r; Limelight's 1 + alpha * r: same systems
        "implicit ALS (Limelight's reg/alpha)": {
            **ALS_PARAMS,
            "regularization": float(als.regularization),
            "alpha": 1.0 + float(als.alpha),
        },
    }
    for label, make in models().items():
        is_ease = label == "EASE (l2 500)"
        fits, evals, mem, metrics = [], [], 0.0, {}
        ref_fits, ref_evals, ref_mem, ref_metrics = [], [], 0.0, {}
        for _ in range(repeats):
            model = make()
            with PeakRSS() as peak:
                t0 = time.perf_counter()
                model.fit(train)
                t1 = time.perf_counter()
                metrics = evaluate(model, test, K)
                t2 = time.perf_counter()
            fits.append(t1 - t0)
            evals.append(t2 - t1)
            mem = max(mem, peak.mib)
            del model
            if is_ease:  # the reference, interleaved with Limelight's EASE
                with PeakRSS() as peak:
                    t0 = time.perf_counter()
                    users, recs = numpy_ease(X, T, 500.0)
                    t1 = time.perf_counter()
                    ref_metrics = ranking_metrics(recs, T[users], K, item_popularity=popularity)
                    t2 = time.perf_counter()
                ref_fits.append(t1 - t0)
                ref_evals.append(t2 - t1)
                ref_mem = max(ref_mem, peak.mib)
        rows.append(_row(name, "limelight", label, fits, evals, mem, metrics))
        if is_ease:
            rows.append(
                _row(
                    name, "numpy", "numpy EASE (l2 500)", ref_fits, ref_evals, ref_mem, ref_metrics
                )
            )
        if label == "ImplicitALS" and implicit_python is not None:
            for peer_label, params in implicit_runs.items():
                out = run_implicit(implicit_python, X, T, repeats, params)
                rows.append(
                    _row(
                        name,
                        "implicit",
                        peer_label,
                        out["fit"],
                        out["eval"],
                        out["mem"],
                        out["metrics"],
                    )
                )
    return rows


def _row(
    dataset: str,
    engine: str,
    label: str,
    fits: list[float],
    evals: list[float],
    mem: float,
    metrics: dict[str, Any],
) -> dict[str, Any]:
    fit, ev = statistics.median(fits), statistics.median(evals)
    total = statistics.median([f + e for f, e in zip(fits, evals, strict=True)])
    row = {
        "dataset": dataset,
        "engine": engine,
        "model": label,
        "fit_s": fit,
        "eval_s": ev,
        "total_s": total,
        "peak_mib": mem,
        **{
            k: metrics[k]
            for k in (
                "ndcg@10",
                "recall@20",
                "capped_recall@20",
                "map@10",
                "mrr@10",
                "coverage@10",
                "popularity@10",
            )
            if k in metrics
        },
    }
    print(
        f"  {label:40s} ndcg@10 {row['ndcg@10']:.4f} recall@20 {row['recall@20']:.4f} "
        f"fit {fit:7.2f}s eval {ev:6.2f}s mem {mem:7.1f} MiB",
        flush=True,
    )
    return row


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| dataset | model | NDCG@10 | Recall@20 | MAP@10 | MRR@10 | Coverage@10 | Pop@10 "
        "| fit s | eval s | peak MiB |"
    )
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['model']} | {r['ndcg@10']:.4f} | {r['recall@20']:.4f} | "
            f"{r.get('map@10', float('nan')):.4f} | {r.get('mrr@10', float('nan')):.4f} | "
            f"{r.get('coverage@10', float('nan')):.3f} | {r.get('popularity@10', float('nan')):.0f}"
            f" | {r['fit_s']:.2f} | {r['eval_s']:.2f} | {r['peak_mib']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="ml-100k only, one repeat")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--no-peer", action="store_true", help="skip implicit")
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 3)
    datasets = ["ml-100k"] if args.quick else ["ml-100k", "ml-1m"]
    python = (
        None
        if args.no_peer
        else peer_python("implicit", ["implicit==0.7.3", "numpy", "scipy", "threadpoolctl"])
    )
    rows: list[dict[str, Any]] = []
    for name in datasets:
        rows += bench_dataset(name, repeats, python)
    print()
    print(table(rows))
    summary: dict[str, Any] = {"repeats": repeats, "datasets": datasets}
    for name in datasets:
        by = {r["model"]: r for r in rows if r["dataset"] == name}
        best = max(
            (r for r in by.values() if r["engine"] == "limelight"), key=lambda r: r["ndcg@10"]
        )
        entry: dict[str, Any] = {
            "ndcg@10": {m: round(r["ndcg@10"], 4) for m, r in by.items()},
            "best_limelight": best["model"],
            "best_ndcg@10": round(best["ndcg@10"], 4),
            "ease_total_vs_numpy": round(
                by["EASE (l2 500)"]["total_s"] / by["numpy EASE (l2 500)"]["total_s"], 3
            ),
        }
        for peer in ("implicit ALS (defaults)", "implicit ALS (Limelight's reg/alpha)"):
            if peer in by:
                entry[f"als_fit_vs_{peer}"] = round(
                    by["ImplicitALS"]["fit_s"] / by[peer]["fit_s"], 3
                )
        if "implicit ALS (defaults)" in by:
            entry["best_minus_implicit_ndcg@10"] = round(
                best["ndcg@10"] - by["implicit ALS (defaults)"]["ndcg@10"], 4
            )
        summary[name] = entry
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
