"""Storage benchmark: the artifact store against raw files and pickle+gzip; SQLite metric writes.

Artifacts: save + load of a large float32 array and of an Arrow table through
``ArtifactStore``, beside ``np.save``/``np.load`` (for the table: uncompressed Feather, i.e. Arrow
IPC, and Parquet) and beside pickle + gzip level 3, which is how Metaflow stores artifacts
(``ContentAddressedStore._pack_v1`` uses ``compresslevel=3``). Every repetition writes new random
data into a fresh folder, so content addressing never makes a save free, and every load touches
all the data (sums it), so a memory-mapped load is not measured as free. Nothing is dropped from
the page cache: loads read files that were just written, from memory.

Metadata: metric values written into the ``metrics`` table through ``MetadataStore.transaction``
on SQLite, batched from one process, batched from 4 processes at once, and one value per
transaction, counting every exception a writer sees.

    python benchmarks/storage.py [--quick]

Prints a table and ends with one line of JSON (medians and ratios).
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing as mp
import pickle
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
from sqlalchemy.engine import Connection

from limelight.store import ArtifactRef, ArtifactStore, MetadataStore
from limelight.store.schema import metrics, runs

WORK = Path(__file__).resolve().parent / ".work"
GZIP_LEVEL = 3  # Metaflow's content-addressed store: gzip.GzipFile(..., compresslevel=3)
PICKLE_PROTOCOL = 4  # Metaflow's protocol for large objects (its default, 2, is slower still)


@dataclass(frozen=True)
class Sizes:
    reps: int
    array_mb: int
    table_rows: int
    metric_values: int
    batch: int
    single_values: int
    writers: int
    stress_values: int  # one-value transactions per writer in the 4-writer lock stress
    metadata_reps: int


FULL = Sizes(5, 100, 1_000_000, 100_000, 1_000, 3_000, 4, 500, 5)
QUICK = Sizes(3, 20, 200_000, 20_000, 1_000, 500, 4, 100, 3)


# -- artifacts ----------------------------------------------------------------------------------
def touch_array(arr: np.ndarray) -> float:
    """Read every element (a memory-mapped array is faulted in, page by page)."""
    return float(arr.sum())


def touch_table(table: pa.Table) -> int:
    """Read every byte of every buffer of ``table``."""
    total = 0
    for column in table.columns:
        for chunk in column.chunks:
            for buf in chunk.buffers():
                if buf is None or buf.size == 0:
                    continue
                words = buf.size // 8
                total += int(np.frombuffer(buf, dtype=np.uint64, count=words).sum())
                total += int(np.frombuffer(buf, dtype=np.uint8, offset=words * 8).sum())
    return total


def make_array(mb: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(mb * (1 << 20) // 4, dtype=np.float32)


GENRES = np.array(
    ["drama", "comedy", "thriller", "documentary", "kids", "anime", "horror", "romance"]
)


def make_table(rows: int, seed: int) -> pa.Table:
    """A table shaped like an interaction log: ids, a score, a timestamp and a genre string."""
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "user_id": rng.integers(0, 1_000_000, rows, dtype=np.int64),
            "item_id": rng.integers(0, 50_000, rows, dtype=np.int32),
            "score": rng.random(rows, dtype=np.float32),
            "timestamp": pa.array(
                rng.integers(1_600_000_000_000, 1_700_000_000_000, rows), pa.timestamp("ms")
            ),
            "genre": pa.array(GENRES[rng.integers(0, len(GENRES), rows)]),
        }
    )


Saver = Callable[[Any, Path], Any]
Loader = Callable[[Any], Any]


def limelight_save(obj: Any, folder: Path) -> tuple[Path, ArtifactRef]:
    return folder, ArtifactStore(folder).save(obj)


def limelight_load(handle: tuple[Path, ArtifactRef]) -> Any:
    # a new store object, as the next step of a flow (another process) would open: nothing the
    # saving store remembers (such as which blobs it already checked) helps the load
    folder, ref = handle
    return ArtifactStore(folder).load(ref)


def pickle_gzip_save(obj: Any, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "artifact.pkl.gz"
    blob = pickle.dumps(obj, protocol=PICKLE_PROTOCOL)
    with gzip.open(path, "wb", compresslevel=GZIP_LEVEL) as f:
        f.write(blob)
    return path


def pickle_gzip_load(path: Path) -> Any:
    with gzip.open(path, "rb") as f:
        return pickle.loads(f.read())


def npy_save(arr: np.ndarray, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "array.npy"
    np.save(path, arr)
    return path


def npy_load(path: Path) -> np.ndarray:
    return np.load(path, allow_pickle=False)


def feather_save(table: pa.Table, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "table.arrow"
    feather.write_feather(table, path, compression="uncompressed")
    return path


def feather_load(path: Path) -> pa.Table:
    return feather.read_table(path)


def parquet_save(table: pa.Table, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "table.parquet"
    pq.write_table(table, path)
    return path


def parquet_load(path: Path) -> pa.Table:
    return pq.read_table(path)


ARRAY_METHODS: dict[str, tuple[Saver, Loader]] = {
    "limelight": (limelight_save, limelight_load),
    "np.save/np.load": (npy_save, npy_load),
    "pickle+gzip": (pickle_gzip_save, pickle_gzip_load),
}
TABLE_METHODS: dict[str, tuple[Saver, Loader]] = {
    "limelight": (limelight_save, limelight_load),
    "feather (Arrow IPC)": (feather_save, feather_load),
    "parquet": (parquet_save, parquet_load),
    "pickle+gzip": (pickle_gzip_save, pickle_gzip_load),
}


def bench_artifacts(
    kind: str,
    make: Callable[[int], Any],
    methods: dict[str, tuple[Saver, Loader]],
    touch: Callable[[Any], Any],
    same: Callable[[Any, Any], bool],
    reps: int,
    root: Path,
) -> dict[str, dict[str, float]]:
    """Median save, load (+ touch) and round-trip seconds of each method over ``reps`` datasets.

    ``best`` is the fastest round trip, reported to show the spread on a shared machine.
    """
    times: dict[str, dict[str, list[float]]] = {
        m: {"save": [], "load": [], "roundtrip": []} for m in methods
    }
    names = list(methods)
    for rep in range(reps):
        obj = make(rep)
        # rotate the order so that no method always runs first (or right after a big write)
        for name in names[rep % len(names) :] + names[: rep % len(names)]:
            save, load = methods[name]
            folder = root / f"{kind}-{rep}-{names.index(name)}"
            t0 = time.perf_counter()
            handle = save(obj, folder)
            t1 = time.perf_counter()
            loaded = load(handle)
            touch(loaded)
            t2 = time.perf_counter()
            if not same(obj, loaded):
                raise RuntimeError(f"{name} did not give back the {kind} it saved")
            del loaded, handle
            shutil.rmtree(folder)
            times[name]["save"].append(t1 - t0)
            times[name]["load"].append(t2 - t1)
            times[name]["roundtrip"].append(t2 - t0)
        del obj
    return {
        name: {
            **{op: statistics.median(values) for op, values in ops.items()},
            "best": min(ops["roundtrip"]),  # shown beside the median: how noisy the machine was
        }
        for name, ops in times.items()
    }


# -- metadata -----------------------------------------------------------------------------------
def _insert_run(conn: Connection, flow: str) -> int:
    result = conn.execute(runs.insert().values(flow=flow, status="running", created_at=time.time()))
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def _insert_metrics(conn: Connection, rows: list[dict[str, Any]]) -> None:
    conn.execute(metrics.insert(), rows)


def write_metrics(
    url: str, worker: int, values: int, batch: int, barrier: Any = None
) -> dict[str, Any]:
    """Insert a run row, then ``values`` metric values in transactions of ``batch`` rows.

    Every exception is counted (and the first kept) instead of stopping the writer.
    """
    store = MetadataStore(url)
    errors = 0
    first_error = ""
    written = 0
    try:
        run_id = store.transaction(partial(_insert_run, flow=f"StorageBench{worker}"))
        if barrier is not None:
            barrier.wait()
        t0 = time.perf_counter()
        for start in range(0, values, batch):
            n = min(batch, values - start)
            now = time.time()
            rows = [
                {
                    "run_id": run_id,
                    "name": f"loss/{i % 4}",
                    "step": start + i,
                    "value": 1.0 / (1 + start + i),
                    "timestamp": now,
                }
                for i in range(n)
            ]
            try:
                store.transaction(partial(_insert_metrics, rows=rows))
                written += n
            except Exception as exc:
                errors += 1
                first_error = first_error or f"{type(exc).__name__}: {exc}"
        t1 = time.perf_counter()
    except Exception as exc:  # setup failed: the whole writer counts as one error
        return {
            "start": 0.0,
            "end": 0.0,
            "written": written,
            "errors": errors + 1,
            "first_error": f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}",
        }
    finally:
        store.dispose()
    return {
        "start": t0,
        "end": t1,
        "written": written,
        "errors": errors,
        "first_error": first_error,
    }


def _writer_process(url: str, worker: int, values: int, batch: int, barrier: Any, out: Any) -> None:
    out.put(write_metrics(url, worker, values, batch, barrier))


def count_metrics(url: str) -> int:
    import sqlalchemy as sa

    store = MetadataStore(url)
    try:
        with store.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(metrics)).scalar_one())
    finally:
        store.dispose()


def fresh_db(root: Path, name: str) -> str:
    """A new SQLite database with the schema in place (migrations run before any timing)."""
    path = root / f"{name}.db"
    url = f"sqlite:///{path}"
    store = MetadataStore(url)
    store.transaction(lambda conn: None)
    store.dispose()
    return url


def run_writers(url: str, writers: int, values_each: int, batch: int) -> dict[str, Any]:
    """Run ``writers`` processes released together; wall time from first start to last end."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(writers)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_writer_process, args=(url, w, values_each, batch, barrier, out))
        for w in range(writers)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    return combine(results)


def combine(results: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in results if r["end"] > 0]
    wall = max(r["end"] for r in ok) - min(r["start"] for r in ok) if ok else float("nan")
    written = sum(r["written"] for r in results)
    return {
        "wall": wall,
        "written": written,
        "errors": sum(r["errors"] for r in results),
        "first_error": next((r["first_error"] for r in results if r["first_error"]), ""),
        "rate": written / wall if ok and wall > 0 else 0.0,
    }


def bench_metadata(sizes: Sizes, root: Path) -> dict[str, dict[str, Any]]:
    """Values per second (median over repetitions) and error counts of each write pattern."""
    cases: dict[str, tuple[int, int, int]] = {  # writers, values per writer, batch
        f"batched ({sizes.batch}/txn), 1 process": (1, sizes.metric_values, sizes.batch),
        f"batched ({sizes.batch}/txn), {sizes.writers} processes": (
            sizes.writers,
            sizes.metric_values // sizes.writers,
            sizes.batch,
        ),
        "1 value/txn, 1 process": (1, sizes.single_values, 1),
        f"1 value/txn, {sizes.writers} processes": (sizes.writers, sizes.stress_values, 1),
    }
    summary: dict[str, dict[str, Any]] = {}
    for case, (writers, each, batch) in cases.items():
        rates: list[float] = []
        errors = 0
        first_error = ""
        for rep in range(sizes.metadata_reps):
            url = fresh_db(root, f"metrics-{len(summary)}-{rep}")
            if writers == 1:
                result = combine([write_metrics(url, 0, each, batch)])
            else:
                result = run_writers(url, writers, each, batch)
            stored = count_metrics(url)
            if stored != result["written"]:
                result["errors"] += 1
                result["first_error"] = result["first_error"] or (
                    f"{stored} rows in the database, {result['written']} reported written"
                )
            rates.append(result["rate"])
            errors += result["errors"]
            first_error = first_error or result["first_error"]
        summary[case] = {
            "writers": writers,
            "values": writers * each,
            "values_per_s": statistics.median(rates),
            "errors": errors,
            "first_error": first_error,
        }
    return summary


# -- report -------------------------------------------------------------------------------------
def artifact_rows(
    title: str, results: dict[str, dict[str, float]], raw: str, megabytes: float
) -> list[str]:
    lines = [
        f"{title} ({megabytes:.0f} MB in memory)",
        f"  {'method':<22}{'save s':>9}{'load s':>9}{'total s':>9}{'best s':>9}{'MB/s':>8}"
        f"{'/limelight':>12}",
    ]
    base = results["limelight"]["roundtrip"]
    for name, r in results.items():
        lines.append(
            f"  {name:<22}{r['save']:>9.3f}{r['load']:>9.3f}{r['roundtrip']:>9.3f}{r['best']:>9.3f}"
            f"{megabytes / r['roundtrip']:>8.0f}{r['roundtrip'] / base:>11.2f}x"
        )
    ll, peer, pg = results["limelight"], results[raw], results["pickle+gzip"]
    lines.append(
        f"  limelight / {raw}: save {ll['save'] / peer['save']:.2f}x, "
        f"load {ll['load'] / peer['load']:.2f}x, total {ll['roundtrip'] / peer['roundtrip']:.2f}x"
        f" (target <= 1.5x); best {ll['best'] / peer['best']:.2f}x"
    )
    lines.append(
        f"  pickle+gzip / limelight: save {pg['save'] / ll['save']:.1f}x, "
        f"load {pg['load'] / ll['load']:.1f}x, total {pg['roundtrip'] / ll['roundtrip']:.1f}x"
        f" (target >= 5x); best {pg['best'] / ll['best']:.1f}x"
    )
    return lines


def ratios(results: dict[str, dict[str, float]], raw: str) -> dict[str, dict[str, float]]:
    ll, peer, pg = results["limelight"], results[raw], results["pickle+gzip"]
    ops = ("save", "load", "roundtrip", "best")
    return {
        "limelight_over_raw": {op: round(ll[op] / peer[op], 3) for op in ops},
        "pickle_gzip_over_limelight": {op: round(pg[op] / ll[op], 2) for op in ops},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repetitions")
    parser.add_argument(
        "--workdir", type=Path, default=WORK, help="where the temporary folder is made"
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    args.workdir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="storage-", dir=args.workdir))
    started = time.perf_counter()
    try:
        array_results = bench_artifacts(
            "array",
            lambda seed: make_array(sizes.array_mb, seed),
            ARRAY_METHODS,
            touch_array,
            lambda a, b: bool(np.array_equal(a, b)),
            sizes.reps,
            root,
        )
        table = make_table(sizes.table_rows, 0)
        table_mb = table.nbytes / (1 << 20)
        del table
        table_results = bench_artifacts(
            "table",
            lambda seed: make_table(sizes.table_rows, seed),
            TABLE_METHODS,
            touch_table,
            lambda a, b: bool(a.equals(b)),
            sizes.reps,
            root,
        )
        meta = bench_metadata(sizes, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    elapsed = time.perf_counter() - started

    array_ratios = ratios(array_results, "np.save/np.load")
    table_ratios = ratios(table_results, "feather (Arrow IPC)")
    batched_one = meta[f"batched ({sizes.batch}/txn), 1 process"]
    multi = [m for m in meta.values() if m["writers"] > 1]
    multi_errors = sum(m["errors"] for m in multi)
    targets = {
        "array_within_1.5x_of_np": array_ratios["limelight_over_raw"]["roundtrip"] <= 1.5,
        "array_5x_faster_than_pickle_gzip": (
            array_ratios["pickle_gzip_over_limelight"]["roundtrip"] >= 5
        ),
        "table_within_1.5x_of_feather": table_ratios["limelight_over_raw"]["roundtrip"] <= 1.5,
        "table_5x_faster_than_pickle_gzip": (
            table_ratios["pickle_gzip_over_limelight"]["roundtrip"] >= 5
        ),
        "metrics_50k_per_s_batched": batched_one["values_per_s"] >= 50_000,
        "zero_errors_with_4_writers": multi_errors == 0,
    }

    lines = [
        f"Storage benchmark ({'quick' if args.quick else 'full'}): medians of {sizes.reps} "
        f"repetitions, new random data in a fresh folder each time; loads sum every value and "
        f"read from the page cache (files just written; nothing dropped).",
        "",
        *artifact_rows(
            f"float32 array, {sizes.array_mb * (1 << 20) // 4:,} values",
            array_results,
            "np.save/np.load",
            sizes.array_mb,
        ),
        "",
        *artifact_rows(
            f"Arrow table, {sizes.table_rows:,} rows x 5 columns",
            table_results,
            "feather (Arrow IPC)",
            table_mb,
        ),
        "",
        f"Metric values into SQLite through MetadataStore.transaction (medians of "
        f"{sizes.metadata_reps}, fresh database each time)",
        f"  {'pattern':<32}{'values':>9}{'values/s':>11}{'errors':>8}",
    ]
    for case, m in meta.items():
        lines.append(f"  {case:<32}{m['values']:>9,}{m['values_per_s']:>11,.0f}{m['errors']:>8}")
    for case, m in meta.items():
        if m["first_error"]:
            lines.append(f"  first error ({case}): {m['first_error'][:500]}")
    lines += [
        "",
        "Targets: " + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in targets.items()),
        f"({elapsed:.0f} s)",
    ]
    print("\n".join(lines), flush=True)

    figures = {
        "benchmark": "storage",
        "quick": args.quick,
        "reps": sizes.reps,
        "array_mb": sizes.array_mb,
        "table_rows": sizes.table_rows,
        "array_median_s": {
            k: {op: round(v, 4) for op, v in r.items()} for k, r in array_results.items()
        },
        "array_ratios": array_ratios,
        "table_median_s": {
            k: {op: round(v, 4) for op, v in r.items()} for k, r in table_results.items()
        },
        "table_ratios": table_ratios,
        "metrics_values_per_s": {k: round(m["values_per_s"]) for k, m in meta.items()},
        "metrics_errors": {k: m["errors"] for k, m in meta.items()},
        "targets_met": targets,
        "seconds": round(elapsed, 1),
    }
    print(json.dumps(figures, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
