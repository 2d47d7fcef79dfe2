"""Event log benchmark: ingest into the event log's tables, compaction, and ``limelight
experiments analyze`` out of core against hand-written DuckDB.

An event log of N impressions (10 items each, with scores, artworks and propensities; N/10
members; one experiment of two variants over 7 days; 10% of impressions with a play) is
generated in chunks as Parquet files in a staging folder outside the event log (one file per
chunk and kind: never all in memory), then ingested as users backfill a log: ``limelight events
import --kind impressions|feedback FILE...`` as a subprocess, in batches of ``--import-batch``
files (one import reads its files into memory before its one commit), timed. Then ``limelight
events compact`` (timed), and each in its own process (peak RSS from ``VmHWM``):

- ``limelight experiments analyze`` (reads the tables: DuckDB aggregation, numpy statistics),
- the peer: one hand-written DuckDB query over the same Parquet data files (those of the tables'
  current snapshots, from ``scan_events``) computing users and mean plays per variant (the same
  numbers; checked),
- today's in-memory path (``read_events`` + ``analyze_events``), at sizes where it fits.

The serving writer, ``import_events`` on small files, compaction of many small commits and the
kill -9 trials come from ``benchmarks/_eventlog_ingest.py`` (scaled down under ``--quick``).

    python benchmarks/eventlog.py [--quick] [--sizes 10000000,100000000] [--memory-max 2000000]

Prints a table and ends with one line of JSON (medians, ratios against DuckDB, peak RSS).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from limelight.experiments import ExperimentSpec, Variant, allocate_many  # noqa: E402
from limelight.store.event_queries import DEFAULT_MEMORY_LIMIT  # noqa: E402
from limelight.store.events import FEEDBACK_SCHEMA, IMPRESSION_SCHEMA  # noqa: E402

DAY = 86400.0
T0 = 1_700_006_400.0  # a midnight UTC
DAYS = 7
NAME = "bench-ab"
CHUNK = 200_000
ITEMS = 10
TITLES = 5_000
SPEC = ExperimentSpec(
    name=NAME,
    salt=NAME,
    variants=(Variant("control", 0.5, "recs/1"), Variant("treatment", 0.5, "recs/2")),
    start=T0,
    stop=T0 + DAYS * DAY,
    status="running",
)


def _lists(values: pa.Array, n: int, k: int) -> pa.Array:
    return pa.ListArray.from_arrays(pa.array(np.arange(0, n * k + 1, k, dtype=np.int32)), values)


def generate(staging: Path, n: int, seed: int = 0) -> dict[str, list[Path]]:
    """``n`` impressions and their plays as Parquet files under ``staging/<kind>/`` (in
    chunks of one day each), outside any event log; the files of each kind."""
    rng = np.random.default_rng(seed)
    members = max(n // 10, 2)
    ids = np.array([f"m{i:08d}" for i in range(members)], dtype=object)
    arm = np.asarray(allocate_many(ids.tolist(), SPEC.salt, SPEC.shares))
    titles = pa.array([f"t{i:05d}" for i in range(TITLES)])
    arts = pa.array([f"a{i}" for i in range(4)])
    variants = pa.array(["control", "treatment"])
    started, done, chunk_no = time.monotonic(), 0, 0
    written: dict[str, list[Path]] = {"impressions": [], "feedback": []}
    chunk = min(CHUNK, max(-(-n // (5 * DAYS)), 1))  # 5 files a day or more: work to compact
    while done < n:
        size = min(chunk, n - done)
        day = chunk_no % DAYS
        who = rng.integers(0, members, size)
        ts = T0 + day * DAY + np.sort(rng.uniform(0, DAY, size))
        request = pa.array(np.char.add("r", np.arange(done, done + size).astype(str)))
        k = size * ITEMS
        table = pa.table(
            {
                "request_id": request,
                "ts": ts,
                "user_id": pa.array(ids[who], pa.string()),
                "items": _lists(titles.take(pa.array(rng.integers(0, TITLES, k))), size, ITEMS),
                "scores": _lists(pa.array(rng.random(k)), size, ITEMS),
                "artworks": _lists(arts.take(pa.array(rng.integers(0, 4, k))), size, ITEMS),
                "propensities": _lists(pa.array(rng.uniform(0.1, 0.9, k)), size, ITEMS),
                "experiments": _lists(pa.array([NAME] * size), size, 1),
                "variants": _lists(variants.take(pa.array(arm[who])), size, 1),
                "decided": _lists(pa.array(np.ones(size, dtype=bool)), size, 1),
                "models": _lists(pa.array(np.where(arm[who] == 0, "recs/1", "recs/2")), size, 1),
                "latency_ms": rng.gamma(2.0, 4.0, size),
                "context": pa.nulls(size, IMPRESSION_SCHEMA.field("context").type),
            },
            schema=IMPRESSION_SCHEMA,
        )
        played = rng.random(size) < 0.1 + 0.01 * arm[who]
        m = int(played.sum())
        feedback = pa.table(
            {
                "request_id": request.filter(pa.array(played)),
                "ts": ts[played] + rng.uniform(1, 600, m),
                "user_id": pa.array(ids[who[played]], pa.string()),
                "item_id": titles.take(pa.array(rng.integers(0, TITLES, m))),
                "event": pa.array(["play"] * m),
                "value": rng.exponential(1800.0, m),
            },
            schema=FEEDBACK_SCHEMA,
        )
        for kind, part in (("impressions", table), ("feedback", feedback)):
            folder = staging / kind
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"chunk-{chunk_no:06d}.parquet"
            pq.write_table(part, path)
            written[kind].append(path)
        done += size
        chunk_no += 1
        rate = done / max(time.monotonic() - started, 1e-9)
        print(f"\r  generating {done:,}/{n:,} impressions ({rate:,.0f}/s)", end="", file=sys.stderr)
    print(file=sys.stderr)
    return written


# The child writes its own peak RSS (VmHWM) as it exits: the rusage of a child started by fork
# counts the parent's memory at the fork (Linux keeps the old mm's high-water mark over exec).
PEAK = """
import atexit, os
def _peak(path=os.environ["EVENTLOG_BENCH_PEAK"]):
    with open("/proc/self/status") as f:
        line = next(x for x in f if x.startswith("VmHWM"))
    with open(path, "w") as f:
        f.write(line.split()[1])
atexit.register(_peak)
"""


def run_measured(
    code: str, args: list[str], env: dict[str, str]
) -> tuple[float, float, str, float]:
    """Wall seconds, peak RSS (MB), standard output and CPU seconds (user + system, from the
    child's rusage: steadier than wall time on a shared machine) of ``python -c code args``."""
    with tempfile.TemporaryDirectory() as tmp:
        peak = Path(tmp) / "peak"
        out, err = Path(tmp) / "out", Path(tmp) / "err"
        started = time.perf_counter()
        with out.open("wb") as o, err.open("wb") as e:
            child = subprocess.Popen(
                [sys.executable, "-c", PEAK + code, *args],
                stdout=o,
                stderr=e,
                env={**env, "EVENTLOG_BENCH_PEAK": str(peak)},
            )
            _, status, usage = os.wait4(child.pid, 0)
            child.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        if child.returncode != 0:
            raise RuntimeError(f"{args[:3]} failed ({child.returncode}): {err.read_text()[-2000:]}")
        cpu = usage.ru_utime + usage.ru_stime
        return wall, int(peak.read_text()) / 1024.0, out.read_text(), cpu


DUCKDB_PEER = """
import json, sys, duckdb
files = json.load(open(sys.argv[1]))
name, lo, hi = sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
if len(sys.argv) > 5:  # --peer-memory: the same cap as Limelight's DuckDB, spilling beyond it
    con.execute(f"SET memory_limit = '{sys.argv[5]}'")
    con.execute("SET preserve_insertion_order = false")
rows = con.execute('''
  WITH e AS (
    SELECT user_id, min(ts) AS first, min(variants[1]) AS v, max(variants[1]) AS w
    FROM read_parquet($imp)
    WHERE list_contains(experiments, $name) AND ts >= $lo AND ts < $hi GROUP BY user_id),
  u AS (SELECT * FROM e WHERE v = w),
  p AS (
    SELECT f.user_id, count(*) AS n FROM read_parquet($fb) f
    JOIN u USING (user_id) WHERE f.event = 'play' AND f.ts >= u.first AND f.ts < $hi
    GROUP BY f.user_id)
  SELECT v, count(*), avg(coalesce(p.n, 0)) FROM u LEFT JOIN p USING (user_id)
  GROUP BY v ORDER BY v''',
  {"imp": files["impressions"], "fb": files["feedback"], "name": name, "lo": lo, "hi": hi},
).fetchall()
print(json.dumps({v: [n, mean] for v, n, mean in rows}))
"""

# The Parquet data files of each kind's current snapshot, as an analysis plans them.
SCAN = """
import json
from limelight.core.config import resolve_config
from limelight.store.event_queries import scan_events
events = resolve_config().events
scans = {k: scan_events(events, k) for k in ("impressions", "feedback")}
print(json.dumps({k: {"files": list(s.files), "snapshot": s.snapshot} for k, s in scans.items()}))
"""

MEMORY_PATH = """
import json, sys
from limelight.experiments.store import get_experiment
from limelight.experiments import analyze_events
from limelight.store import open_store
store = open_store()
spec = get_experiment(store.metadata, sys.argv[1])
a = analyze_events(store.read_events("impressions"), store.read_events("feedback"), spec)
r = a.result("plays_per_user")
print(json.dumps({"counts": a.counts, "means": [r.estimate.control_mean, r.estimate.treatment_mean]}))
"""

CLI = "from limelight.cli import main; main()"
INGEST_NAMES = ("serving_writer_rate", "import_rate", "compaction_seconds", "kill9_trials")


def ingest_figures(quick: bool) -> dict[str, Any]:
    """The small-scale ingest figures of ``benchmarks/_eventlog_ingest.py``: the durable serving
    writer, ``import_events`` of a few files, compaction of many small commits, and kill -9
    trials of a serving worker under load (20 in the full run, as issue 17 asks)."""
    from benchmarks import _eventlog_ingest as ingest

    calls: dict[str, Any] = {
        "serving_writer_rate": lambda: ingest.serving_writer_rate(20_000 if quick else 100_000),
        "import_rate": lambda: ingest.import_rate(rows=200_000 if quick else 1_000_000),
        "compaction_seconds": lambda: ingest.compaction_seconds(50 if quick else 200, 2_000),
        "kill9_trials": lambda: ingest.kill9_trials(3 if quick else 20),
    }
    found: dict[str, Any] = {}
    for name in INGEST_NAMES:
        print(f"ingest: {name}", file=sys.stderr)
        try:
            found[name] = calls[name]()
        except Exception as exc:  # a failing measure is reported, not fatal
            found[name] = f"failed: {type(exc).__name__}: {exc}"
    return found


def import_staged(files: dict[str, list[Path]], batch: int, env: dict[str, str]) -> dict[str, Any]:
    """``limelight events import`` of the staged files, ``batch`` files per command; rows/s of
    each kind (the commands' wall time, start-up included) and the largest peak RSS."""
    figures: dict[str, Any] = {}
    for kind, paths in files.items():
        rows = sum(pq.ParquetFile(p).metadata.num_rows for p in paths)
        seconds, peak = 0.0, 0.0
        batches = [paths[i : i + batch] for i in range(0, len(paths), batch)]
        for i, part in enumerate(batches):
            args = ["events", "import", "--kind", kind, *map(str, part)]
            wall, rss, out, _ = run_measured(CLI, args, env)
            seconds, peak = seconds + wall, max(peak, rss)
            print(
                f"  import {kind} {i + 1}/{len(batches)}: {wall:.1f} s, {rss:.0f} MB: "
                + out.strip(),
                file=sys.stderr,
            )
        figures[kind] = {
            "rows": rows,
            "files": len(paths),
            "commands": len(batches),
            "seconds": round(seconds, 2),
            "rows_per_s": round(rows / seconds),
            "peak_rss_mb": round(peak),
        }
    return figures


def compact_all(env: dict[str, str]) -> dict[str, Any]:
    """``limelight events compact`` (every kind, every day with small files), timed."""
    wall, rss, out, _ = run_measured(CLI, ["events", "compact"], env)
    print("  " + out.strip().replace("\n", "\n  "), file=sys.stderr)
    return {"seconds": round(wall, 2), "peak_rss_mb": round(rss)}


def scan(env: dict[str, str]) -> dict[str, Any]:
    """Data files and snapshot of each kind's table, from ``scan_events``."""
    return dict(json.loads(run_measured(SCAN, [], env)[2]))


def measure(
    n: int,
    reps: int,
    memory_max: int,
    memory_reps: int,
    work: Path,
    reuse: bool,
    keep: bool,
    batch: int,
    compact: bool = True,
    peer_memory: str | None = None,
) -> dict[str, Any]:
    home = work / f"home-{n}"
    marker = home / "generated"
    print(f"{n:,} impressions", file=sys.stderr)
    env = {**os.environ, "LIMELIGHT_HOME": str(home), "PYTHONPATH": str(ROOT / "src")}
    for name in ("LIMELIGHT_DB", "LIMELIGHT_ARTIFACTS", "LIMELIGHT_EVENTS"):
        env.pop(name, None)
    imported: dict[str, Any] = {"not measured": "--reuse of a log imported earlier"}
    compaction: dict[str, Any] = imported
    if not (reuse and marker.exists()):
        shutil.rmtree(home, ignore_errors=True)
        staging = work / f"staging-{n}"
        shutil.rmtree(staging, ignore_errors=True)
        staged = generate(staging, n)
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from limelight.experiments.store import "
                "create_experiment; from limelight.store import open_store; "
                "from benchmarks.eventlog import SPEC; create_experiment(open_store().metadata, SPEC)",
            ],
            env={**env, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"},
            check=True,
        )
        imported = import_staged(staged, batch, env)
        shutil.rmtree(staging, ignore_errors=True)
        if compact:
            before = scan(env)
            compaction = compact_all(env)
            compaction["files_before"] = {k: len(v["files"]) for k, v in before.items()}
        else:
            compaction = {"not measured": "--no-compact"}
        marker.write_text(str(n))
    tables = scan(env)
    data_files = {k: len(v["files"]) for k, v in tables.items()}
    snapshots = {k: v["snapshot"] for k, v in tables.items()}
    print(f"  tables: snapshots {snapshots}, data files {data_files}", file=sys.stderr)
    listing = home / "peer-files.json"
    listing.write_text(json.dumps({k: v["files"] for k, v in tables.items()}))
    cli = (CLI, ["experiments", "analyze", NAME, "--json"])
    peer = (
        DUCKDB_PEER,
        [
            str(listing),
            NAME,
            str(SPEC.start),
            str(SPEC.stop),
            *([peer_memory] if peer_memory else []),
        ],
    )
    runs: dict[str, list[tuple[float, float, float]]] = {
        "limelight": [],
        "duckdb": [],
        "in-memory": [],
    }
    found: dict[str, Any] = {}
    for rep in range(reps):
        print(f"  repetition {rep + 1}/{reps}", file=sys.stderr)
        wall, rss, out, cpu = run_measured(*cli, env)
        runs["limelight"].append((wall, rss, cpu))
        found["limelight"] = json.loads(out)  # the whole output is the --json document
        wall, rss, out, cpu = run_measured(*peer, env)
        runs["duckdb"].append((wall, rss, cpu))
        found["duckdb"] = json.loads(out)
        if n <= memory_max and rep < memory_reps:
            wall, rss, out, cpu = run_measured(MEMORY_PATH, [NAME], env)
            runs["in-memory"].append((wall, rss, cpu))
            found["in-memory"] = json.loads(out)
    ours = found["limelight"]
    primary = next(r for r in ours["results"] if r["metric"] == "plays_per_user")
    peer_counts = [found["duckdb"][v][0] for v in ("control", "treatment")]
    peer_means = [found["duckdb"][v][1] for v in ("control", "treatment")]
    means = [primary["estimate"]["control_mean"], primary["estimate"]["treatment_mean"]]
    same = ours["counts"] == peer_counts and np.allclose(means, peer_means, rtol=1e-9)
    if "in-memory" in found:
        same = same and found["in-memory"]["counts"] == ours["counts"]
        same = same and bool(np.allclose(found["in-memory"]["means"], means, rtol=1e-9))
    medians = {
        k: {
            "wall_s": statistics.median(w for w, _, _ in v),
            "peak_rss_mb": max(r for _, r, _ in v),
            "cpu_s": statistics.median(c for _, _, c in v),
        }
        for k, v in runs.items()
        if v
    }
    result = {
        "impressions": n,
        "members": max(n // 10, 2),
        "peer_memory_limit": peer_memory or "DuckDB's default (80% of RAM)",
        "limelight_duckdb_memory_limit": os.environ.get(
            "LIMELIGHT_DUCKDB_MEMORY", DEFAULT_MEMORY_LIMIT
        ),
        "same_results": bool(same),
        "snapshots": snapshots,
        "analyze_read_snapshots": ours.get("snapshots"),
        "data_files": data_files,
        "import": imported,
        "compaction": compaction,
        **{f"{k}_{m}": v[m] for k, v in medians.items() for m in v},
        "wall_ratio_vs_duckdb": medians["limelight"]["wall_s"] / medians["duckdb"]["wall_s"],
        "cpu_ratio_vs_duckdb": medians["limelight"]["cpu_s"] / medians["duckdb"]["cpu_s"],
        "load_average": os.getloadavg()[0],
    }
    if not keep:
        shutil.rmtree(home, ignore_errors=True)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1M impressions only")
    parser.add_argument("--sizes", help="comma-separated impression counts (default 10M,100M)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions (median wall time)")
    parser.add_argument(
        "--memory-max",
        type=int,
        default=2_000_000,
        help="largest size at which the in-memory path is run too",
    )
    parser.add_argument(
        "--memory-reps", type=int, default=1, help="repetitions of the in-memory path"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="reuse logs generated earlier under --work"
    )
    parser.add_argument("--keep", action="store_true", help="keep the generated logs")
    parser.add_argument("--work", help="folder for the generated logs (default: a temp folder)")
    parser.add_argument(
        "--no-compact",
        action="store_true",
        help="skip `events compact` (it holds about --target-size of input at a time)",
    )
    parser.add_argument(
        "--no-ingest-figures",
        action="store_true",
        help="skip benchmarks/_eventlog_ingest.py's figures (writer, kill -9 trials, ...)",
    )
    parser.add_argument(
        "--import-batch",
        type=int,
        default=7,
        help="files per `events import` command (one import holds its files in memory)",
    )
    parser.add_argument(
        "--peer-memory",
        help="memory_limit for the peer's DuckDB too, e.g. 768MB (default: DuckDB's own, 80%% "
        "of RAM, which it may need beyond 1 GB)",
    )
    args = parser.parse_args(argv)
    if args.sizes:
        sizes = [int(s) for s in args.sizes.split(",")]
    else:
        sizes = [1_000_000] if args.quick else [10_000_000, 100_000_000]
    work = Path(args.work or tempfile.mkdtemp(prefix="limelight-eventlog-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in sizes:
        try:
            rows.append(
                measure(
                    n,
                    args.reps,
                    args.memory_max,
                    args.memory_reps,
                    work,
                    args.reuse,
                    args.keep,
                    args.import_batch,
                    not args.no_compact,
                    args.peer_memory,
                )
            )
        except RuntimeError as exc:  # a size that fails is reported, the others still are
            rows.append({"impressions": n, "failed": str(exc)[:600]})
        print(json.dumps(rows[-1]), file=sys.stderr)  # each size as soon as it is measured
    ingest: dict[str, Any] = {"not measured": "--no-ingest-figures"}
    if not args.no_ingest_figures:
        ingest = ingest_figures(args.quick)
    print()
    print(
        f"{'impressions':>12} {'limelight s':>12} {'MB':>7} {'duckdb s':>9} {'MB':>7} "
        f"{'in-memory s':>12} {'MB':>7} {'/duckdb':>8} {'cpu s':>6} {'duckdb cpu':>10} "
        f"{'/duckdb':>8}  same"
    )
    for r in rows:
        if "failed" in r:
            print(f"{r['impressions']:>12,} failed: {r['failed'][:300]}")
            continue
        mem_s = f"{r['in-memory_wall_s']:.2f}" if "in-memory_wall_s" in r else "-"
        mem_mb = f"{r['in-memory_peak_rss_mb']:.0f}" if "in-memory_peak_rss_mb" in r else "-"
        print(
            f"{r['impressions']:>12,} {r['limelight_wall_s']:>12.2f} "
            f"{r['limelight_peak_rss_mb']:>7.0f} {r['duckdb_wall_s']:>9.2f} "
            f"{r['duckdb_peak_rss_mb']:>7.0f} {mem_s:>12} {mem_mb:>7} "
            f"{r['wall_ratio_vs_duckdb']:>7.2f}x {r['limelight_cpu_s']:>6.2f} "
            f"{r['duckdb_cpu_s']:>10.2f} {r['cpu_ratio_vs_duckdb']:>7.2f}x  {r['same_results']}"
        )
    print("targets: wall within 1.5x of DuckDB, peak RSS under 1024 MB at every size")
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.2f}")
    print()
    print(
        f"{'impressions':>12} {'import imp/s':>13} {'cmds':>5} {'MB':>6} {'import fb/s':>12} "
        f"{'compact s':>10} {'MB':>6} {'files before':>13} {'after':>6}"
    )
    for r in rows:
        imp = r.get("import", {})
        if "failed" in r or "impressions" not in imp:
            continue
        fb, comp = imp["feedback"], r["compaction"]
        seconds = f"{comp['seconds']:.1f}" if "seconds" in comp else "-"
        mb = str(comp.get("peak_rss_mb", "-"))
        before = sum(comp["files_before"].values()) if "files_before" in comp else "-"
        print(
            f"{r['impressions']:>12,} {imp['impressions']['rows_per_s']:>13,} "
            f"{imp['impressions']['commands']:>5} {imp['impressions']['peak_rss_mb']:>6} "
            f"{fb['rows_per_s']:>12,} {seconds:>10} {mb:>6} "
            f"{before:>13} {sum(r['data_files'].values()):>6}"
        )
    for name, value in ingest.items():
        print(f"{name}: {value}")
    print(json.dumps({"benchmark": "eventlog", "sizes": rows, "ingest": ingest}))


if __name__ == "__main__":
    main()
