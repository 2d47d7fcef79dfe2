"""Monitoring: drift statistics against Evidently, and a full ``monitors check`` over a big day.

1. PSI, Jensen-Shannon, Kolmogorov-Smirnov (p-value) and normed Wasserstein on 10M scores and
   20 context features: ``limelight.monitoring.stats.drift`` against Evidently 0.7's stattests
   (its own venv) on the same arrays (read from the same ``.npy`` files). Both sides' times are
   medians of repeats; the figures carry the largest absolute difference of any statistic.
2. ``limelight monitors check`` (four monitors: psi, wasserstein, p99 latency, requests) over a
   day of 10M impressions written as Parquet files in the event log's layout
   (``<events>/impressions/date=YYYY-MM-DD/*.parquet``, in chunks), in a child process whose
   peak resident memory is measured.

    .venv/bin/python benchmarks/monitoring.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from limelight.core.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.peers import peer_python, run_in_peer

EVIDENTLY = ["evidently>=0.7,<0.8", "pandas<3"]  # Evidently 0.7 imports what pandas 3 removed
STATS = ("psi", "js", "ks", "wasserstein")

_PEER_SCRIPT = r"""
import json, sys, time
import numpy as np, pandas as pd
from evidently.legacy.calculations.stattests import (
    jensenshannon_stat_test, ks_stat_test, psi_stat_test, wasserstein_stat_test)
from evidently.legacy.core import ColumnType
tests = {"psi": psi_stat_test, "js": jensenshannon_stat_test, "ks": ks_stat_test,
         "wasserstein": wasserstein_stat_test}
folder, repeats = sys.argv[1], int(sys.argv[2])
names = json.loads(open(folder + "/columns.json").read())
out, times = {}, []
for repeat in range(repeats):
    t = time.perf_counter()
    for name in names:
        ref = pd.Series(np.load(f"{folder}/{name}.ref.npy"))
        cur = pd.Series(np.load(f"{folder}/{name}.cur.npy"))
        out[name] = {k: float(test.func(ref, cur, ColumnType.Numerical, 0.1)[0])
                     for k, test in tests.items()}
    times.append(time.perf_counter() - t)
print(json.dumps({"values": out, "times": times}))
"""


_MEASURED_CLI = """
import resource, sys
from limelight.cli import main
def peak_kib():
    # VmHWM is this program's own peak: ru_maxrss also keeps the peak of the process it was
    # forked from before exec (the benchmark, holding the day it wrote)
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    main(sys.argv[1:])
finally:
    print("peak_rss_kib", peak_kib(), file=sys.stderr)
"""


def evidently_python() -> Path:
    """Evidently's own venv (installed on first use)."""
    return peer_python("evidently", EVIDENTLY)


def evidently_values(
    columns: dict[str, tuple[np.ndarray, np.ndarray]], repeats: int = 1
) -> tuple[dict[str, dict[str, float]], list[float]]:
    """Evidently's four drift statistics of each (reference, current) pair, and its times."""
    python = evidently_python()
    with tempfile.TemporaryDirectory() as folder:
        for name, (ref, cur) in columns.items():
            np.save(f"{folder}/{name}.ref.npy", ref)
            np.save(f"{folder}/{name}.cur.npy", cur)
        Path(folder, "columns.json").write_text(json.dumps(list(columns)))
        found = json.loads(run_in_peer(python, _PEER_SCRIPT, folder, str(repeats)))
    return found["values"], found["times"]


def _columns(n_scores: int, n_context: int, n_features: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    cols = {"scores": (rng.normal(0, 1, n_scores), rng.normal(0.05, 1.02, n_scores))}
    for j in range(n_features):
        shift = 0.2 if j % 5 == 0 else 0.0  # every fifth feature drifts
        ref = rng.gamma(2.0 + j % 3, 1.0, n_context)
        cur = rng.gamma(2.0 + j % 3, 1.0, n_context) + shift
        cols[f"context_{j:02d}"] = (ref, cur)
    return cols


def _limelight(columns: dict, repeats: int) -> tuple[dict, list[float]]:
    from limelight.monitoring.stats import drift

    times, out = [], {}
    for _ in range(repeats):
        t = time.perf_counter()
        for name, (ref, cur) in columns.items():
            d = drift(ref, cur)
            out[name] = {"psi": d.psi, "js": d.js, "ks": d.ks, "wasserstein": d.wasserstein}
        times.append(time.perf_counter() - t)
    return out, times


# -- a full `monitors check` over one big day -------------------------------------------------
def _write_day(config: Config, n: int, day: str, start: float, seed: int, shift: float) -> None:
    """Commit a day of ``n`` impressions to the impressions table, a million at a time."""
    import pyarrow as pa

    from limelight.store._event_table import open_event_log
    from limelight.store.events import IMPRESSION_SCHEMA

    rng = np.random.default_rng(seed)
    log = open_event_log(config)
    chunk, k = 1_000_000, 3
    for lo in range(0, n, chunk):
        m = min(chunk, n - lo)
        ts = start + np.sort(rng.uniform(0, 86400, m))
        items = rng.integers(0, 5000, size=m * k).astype(str)
        offsets = pa.array(np.arange(0, (m + 1) * k, k, dtype=np.int32))
        lists = {
            "request_id": pa.array(np.char.add(f"r{seed}-", np.arange(lo, lo + m).astype(str))),
            "ts": pa.array(ts),
            "user_id": pa.array(rng.integers(0, 100_000, m).astype(str)),
            "items": pa.ListArray.from_arrays(offsets, pa.array(items)),
            "scores": pa.ListArray.from_arrays(offsets, pa.array(rng.normal(shift, 1, m * k))),
            "models": pa.ListArray.from_arrays(
                pa.array(np.arange(m + 1, dtype=np.int32)), pa.array(["recs/1"] * m)
            ),
            "latency_ms": pa.array(rng.gamma(4.0, 2.5, m)),
        }
        cols = [
            lists[f.name] if f.name in lists else pa.nulls(m, f.type) for f in IMPRESSION_SCHEMA
        ]
        table = pa.Table.from_arrays(cols, schema=IMPRESSION_SCHEMA)
        log.append("impressions", table)
        print(f"[monitoring] committed {lo + m:,}/{n:,} impressions of {day}", file=sys.stderr)


def _check_day(n: int) -> dict[str, float]:
    """Time and peak memory of `limelight monitors check` over a day of ``n`` impressions."""
    from datetime import UTC, datetime

    with tempfile.TemporaryDirectory() as tmp:
        from limelight.core.config import resolve_config

        home = Path(tmp) / "home"
        config = resolve_config(home=home, cwd=home, environ={})
        t0 = datetime(2026, 3, 1, tzinfo=UTC).timestamp()
        _write_day(config, max(n // 10, 1000), "2026-03-01", t0, 1, 0.0)
        _write_day(config, n, "2026-03-02", t0 + 86400, 2, 0.02)
        env = {**os.environ, "LIMELIGHT_HOME": str(home)}
        cli = [sys.executable, "-c", "from limelight.cli import main; main()"]
        for name, check in [
            ("psi", "psi(scores)"),
            ("w", "wasserstein(scores)"),
            ("p99", "p99(latency_ms)"),
            ("req", "requests()"),
        ]:
            extra = [] if name in ("psi", "w") else ["--alert-above", "1e12"]
            subprocess.run(
                [*cli, "monitors", "create", name, "--model", "recs", "--check", check,
                 "--window", "1d", "--reference", "previous", *extra],
                env=env, check=True, capture_output=True,
            )  # fmt: skip
        t = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", _MEASURED_CLI, "monitors", "check", "--json",
             "--at", str(t0 + 2 * 86400)],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        seconds = time.perf_counter() - t
        if done.returncode not in (0, 1) or not done.stdout.strip():
            raise RuntimeError(done.stderr)
        peak_kib = int(done.stderr.strip().splitlines()[-1].split()[-1])
        results = json.loads(done.stdout)
        for r in results:
            print(f"  {r['monitor']:<5} version {r['version']}: {r['value']:.6g} ({r['status']})")
    return {"check_seconds": seconds, "check_peak_mb": peak_kib / 1024}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller arrays and day (< 2 min)")
    args = parser.parse_args(argv)
    if args.quick:
        n_scores, n_context, day, repeats = 1_000_000, 100_000, 1_000_000, 3
    else:
        n_scores, n_context, day, repeats = 10_000_000, 1_000_000, 10_000_000, 3
    columns = _columns(n_scores, n_context, 20)
    print(f"drift statistics on {n_scores:,} scores and 20 context features of {n_context:,}")
    ours, ours_t = _limelight(columns, repeats)
    theirs, theirs_t = evidently_values(columns, repeats)
    diff = max(abs(ours[c][s] - theirs[c][s]) for c in columns for s in STATS)
    ours_m, theirs_m = statistics.median(ours_t), statistics.median(theirs_t)
    print(f"{'':<24}{'median s':>10}{'runs':>30}")
    print(f"{'Limelight':<24}{ours_m:>10.2f}{' '.join(f'{x:.2f}' for x in ours_t):>30}")
    print(
        f"{'Evidently 0.7 (peer)':<24}{theirs_m:>10.2f}{' '.join(f'{x:.2f}' for x in theirs_t):>30}"
    )
    print(f"speed-up {theirs_m / ours_m:.1f}x; largest |difference| of any statistic {diff:.3g}")
    print(f"scores: {ours['scores']}")
    print(f"\nmonitors check over a day of {day:,} impressions (3 scores each)")
    check = _check_day(day)
    print(f"  {check['check_seconds']:.1f} s, peak memory {check['check_peak_mb']:.0f} MB")
    figures = {
        "scores": n_scores,
        "context_features": 20,
        "context_rows": n_context,
        "limelight_seconds_median": round(ours_m, 3),
        "evidently_seconds_median": round(theirs_m, 3),
        "speedup_vs_evidently": round(theirs_m / ours_m, 2),
        "max_abs_diff_vs_evidently": diff,
        "check_impressions": day,
        "check_seconds": round(check["check_seconds"], 2),
        "check_peak_mb": round(check["check_peak_mb"], 1),
    }
    print(json.dumps(figures, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
