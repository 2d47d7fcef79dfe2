"""Ingest figures of the event log, for ``benchmarks/eventlog.py`` to call (each returns a dict
and shows progress on stderr), and the serving latency of the durable writer against the
previous writer.

- :func:`serving_writer_rate`: events/s acknowledged through the durable writer (group fsync)
  and committed to the table, from many concurrent "requests" on one event loop;
- :func:`import_rate`: rows/s through ``limelight events import``;
- :func:`compaction_seconds`: one day of many small files compacted into one;
- :func:`kill9_trials`: acknowledged events lost over kill -9 trials of a serving worker under
  load (target 0);
- :func:`serving_latency`: p50/p99 of ``/v1/recommend`` and ``/v1/feedback`` under wrk load
  (32 connections, as ``benchmarks/serving.py``), for two checkouts of Limelight in one run.

    .venv/bin/python benchmarks/_eventlog_ingest.py --quick \\
        --old-src /path/to/previous/src      # ends with one line of JSON
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DAY = 86_400.0


def _say(text: str) -> None:
    print(f"[eventlog-ingest] {text}", file=sys.stderr, flush=True)


@contextmanager
def _home(keep: Path | None = None) -> Iterator[Any]:
    """A fresh Limelight home (a Store over it)."""
    from limelight.core.config import Config
    from limelight.store import Store

    folder = keep or Path(tempfile.mkdtemp(prefix="limelight-bench-ingest-"))
    config = Config(
        home=folder,
        db=f"sqlite:///{folder / 'limelight.db'}",
        artifacts=str(folder / "artifacts"),
        events=str(folder / "events"),
    )
    try:
        yield Store(config)
    finally:
        if keep is None:
            shutil.rmtree(folder, ignore_errors=True)


def _feedback_rows(n: int, start: int = 0, t0: float = 20_000 * DAY) -> Any:
    import numpy as np
    import pyarrow as pa

    from limelight.store.events import FEEDBACK_SCHEMA

    i = np.arange(start, start + n)
    return pa.table(
        {
            "request_id": pa.array([f"r{k}" for k in i]),
            "ts": pa.array(t0 + i * 0.01),
            "user_id": pa.array([f"u{k % 100_000}" for k in i]),
            "item_id": pa.array([f"i{k % 5000}" for k in i]),
            "event": pa.array(["play"] * n),
            "value": pa.nulls(n, pa.float64()),
        },
        schema=FEEDBACK_SCHEMA,
    )


def serving_writer_rate(
    n_events: int = 100_000, *, concurrency: int = 64, flush_seconds: float = 1.0
) -> dict[str, Any]:
    """Events/s acknowledged (fsynced) by the durable writer from ``concurrency`` concurrent
    requests on one event loop, and until every one is committed to the table."""
    with _home() as store:
        writer = store.event_writer("feedback", flush_seconds=flush_seconds)
        writer.warm_up()
        per_task = n_events // concurrency

        async def request(task: int) -> None:
            for k in range(per_task):
                i = task * per_task + k
                await writer.acknowledge(
                    {"request_id": f"r{i}", "ts": time.time(), "user_id": "u", "item_id": "x"}
                )

        async def drive() -> None:
            await asyncio.gather(*(request(t) for t in range(concurrency)))

        start = time.perf_counter()
        asyncio.run(drive())
        acknowledged = time.perf_counter() - start
        writer.close()
        committed = time.perf_counter() - start
        total = per_task * concurrency
        rows = store.read_events("feedback").num_rows
        syncs = writer.buffer.syncs
        _say(f"writer: {total} events acknowledged in {acknowledged:.2f} s, {syncs} fsyncs")
        return {
            "events": total,
            "acknowledged_per_s": round(total / acknowledged),
            "committed_per_s": round(total / committed),
            "events_per_fsync": round(total / max(syncs, 1), 1),
            "in_table": rows,
        }


def import_rate(
    paths: Sequence[str | Path] | None = None, *, rows: int = 1_000_000
) -> dict[str, Any]:
    """Rows/s through ``events import`` of ``paths`` (default: ``rows`` feedback rows written
    as 4 Parquet files first)."""
    import pyarrow.parquet as pq

    from limelight.store.event_maintenance import import_events

    with _home() as store:
        if paths is None:
            folder = store.config.home / "import"
            folder.mkdir(parents=True)
            paths = []
            for k in range(4):
                path = folder / f"part-{k}.parquet"
                pq.write_table(_feedback_rows(rows // 4, start=k * rows // 4), path)
                paths.append(path)
        start = time.perf_counter()
        result = import_events(store, "feedback", list(paths), _say)
        seconds = time.perf_counter() - start
        return {
            "rows": result["rows"],
            "seconds": round(seconds, 2),
            "rows_per_s": round(result["rows"] / seconds),
        }


def compaction_seconds(n_files: int = 200, rows_per_file: int = 2_000) -> dict[str, Any]:
    """Seconds to compact one day of ``n_files`` small files (one commit each) into one."""
    with _home() as store:
        log = store.event_log
        for k in range(n_files):
            log.append("feedback", _feedback_rows(rows_per_file, start=k * rows_per_file))
            if (k + 1) % 50 == 0:
                _say(f"compaction: {k + 1}/{n_files} small files committed")
        day = log.stats("feedback")[0].day
        start = time.perf_counter()
        result = log.compact("feedback", day, 256 * 1024 * 1024, _say)
        seconds = time.perf_counter() - start
        return {
            "files_before": n_files,
            "files_after": log.stats("feedback")[0].files,
            "rows": result["rows"],
            "seconds": round(seconds, 2),
        }


def _register_toy_model(home: Path) -> None:
    from limelight.core.config import resolve_config
    from limelight.recsys import Interactions, Popularity
    from limelight.registry import Registry

    os.environ["LIMELIGHT_HOME"] = str(home)
    registry = Registry(resolve_config())
    data = Interactions.from_arrays([f"u{i % 50}" for i in range(500)], list(range(500)))
    version = registry.register("recs", Popularity().fit(data))
    registry.set_alias("recs", "champion", version.version, why="a benchmark model")


def kill9_trials(trials: int = 20, *, clients: int = 4, seconds: float = 1.0) -> dict[str, Any]:
    """Acknowledged events lost over ``trials`` kill -9s of a serving worker under load.

    ``clients`` threads send recommend + feedback without pause; after a random part of
    ``seconds`` the worker is killed; its replacement replays the dead worker's buffer. At the
    end every answered recommend's impression and every 202's feedback is looked up.
    """
    import httpx

    from limelight.core.config import resolve_config
    from limelight.serving import serve_in_background
    from limelight.store import Store

    folder = Path(tempfile.mkdtemp(prefix="limelight-bench-kill9-"))
    saved = {k: os.environ.get(k) for k in ("LIMELIGHT_HOME", "LIMELIGHT_EVENTS", "LIMELIGHT_DB")}
    try:
        for k in ("LIMELIGHT_EVENTS", "LIMELIGHT_DB"):
            os.environ.pop(k, None)
        _register_toy_model(folder / "home")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]))
        handle = serve_in_background({"recs": "recs@champion"}, workers=1, env=env)
        assert handle.pid is not None
        impressions: set[str] = set()
        feedback: set[str] = set()
        lock = threading.Lock()
        rng = random.Random(0)
        try:
            for trial in range(trials):
                stop = threading.Event()

                def load(stop: threading.Event = stop) -> None:
                    with httpx.Client(base_url=handle.url, timeout=10) as client:
                        while not stop.is_set():
                            try:
                                r = client.post("/v1/recommend", json={"user_id": "u1", "k": 2})
                                if r.status_code != 200:
                                    continue
                                answer = r.json()
                                with lock:
                                    impressions.add(answer["request_id"])
                                item = answer["items"][0]["item_id"]
                                body = {"request_id": answer["request_id"], "item_id": item}
                                f = client.post("/v1/feedback", json=body | {"event": "play"})
                                if f.status_code == 202 and not f.json()["duplicate"]:
                                    with lock:
                                        feedback.add(answer["request_id"])
                            except httpx.HTTPError:
                                pass  # the worker died mid-request: nothing was acknowledged

                threads = [threading.Thread(target=load) for _ in range(clients)]
                for t in threads:
                    t.start()
                time.sleep(seconds * rng.uniform(0.3, 1.0))
                workers = Path(f"/proc/{handle.pid}/task/{handle.pid}/children").read_text()
                for pid in map(int, workers.split()):
                    os.kill(pid, signal.SIGKILL)
                stop.set()
                for t in threads:
                    t.join()
                deadline = time.monotonic() + 90
                while True:  # the supervisor starts a new worker, which replays the buffer
                    try:
                        if httpx.get(f"{handle.url}/readyz", timeout=2).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline:
                        raise RuntimeError(
                            f"no worker came back after kill -9:\n{handle.log()[-3000:]}"
                        )
                    time.sleep(0.05)
                _say(f"kill -9 trial {trial + 1}/{trials}: {len(feedback)} acknowledged so far")
        finally:
            handle.stop()
        store = Store(resolve_config())
        seen_i = store.read_events("impressions")["request_id"].to_pylist()
        seen_f = store.read_events("feedback")["request_id"].to_pylist()
        return {
            "trials": trials,
            "acknowledged_impressions": len(impressions),
            "acknowledged_feedback": len(feedback),
            "lost_impressions": len(impressions - set(seen_i)),
            "lost_feedback": len(feedback - set(seen_f)),
            "duplicated": (len(seen_i) - len(set(seen_i))) + (len(seen_f) - len(set(seen_f))),
        }
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(folder, ignore_errors=True)


_REGISTER = """
from benchmarks.serving import N_USERS, factor_model
from limelight.registry import Registry
registry = Registry()
version = registry.register("recs", factor_model(N_USERS))
registry.set_alias("recs", "champion", version.version, why="a benchmark model")
"""

FEEDBACK_LUA = """
local bodies = {{}}
for line in io.lines("{bodies}") do bodies[#bodies + 1] = line end
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i + 1
  if i > #bodies then i = 1 end
  return wrk.format(nil, "/v1/feedback", nil, bodies[i])
end
"""


def _wrk(url: str, script: Path, seconds: float) -> dict[str, float]:
    import re

    from benchmarks.serving import _ms

    out = subprocess.run(
        ["wrk", "-t1", "-c32", f"-d{max(1, round(seconds))}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pct = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": _ms(pct["50"]),
        "p99_ms": _ms(pct["99"]),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
    }


def serving_latency(
    checkouts: dict[str, Path | tuple[Path, dict[str, str]]],
    *,
    seconds: float = 4.0,
    rounds: int = 1,
    workers: int = 2,
) -> dict[str, Any]:
    """p50/p99 of recommend and feedback under wrk load for each checkout in ``checkouts``
    (name -> its ``src`` folder, or (folder, extra environment)), one after the other in one
    run, ``rounds`` times; ratios of p99 against the first."""
    sources = {k: v if isinstance(v, tuple) else (v, {}) for k, v in checkouts.items()}
    import httpx

    from benchmarks.serving import LUA, N_USERS, Server, free_port

    folder = Path(tempfile.mkdtemp(prefix="limelight-bench-latency-"))
    try:
        homes = {}
        for name, (src, _) in sources.items():  # each checkout registers into its own home
            homes[name] = folder / f"home-{name}"
            subprocess.run(
                [sys.executable, "-c", _REGISTER],
                env=dict(
                    os.environ,
                    LIMELIGHT_HOME=str(homes[name]),
                    PYTHONPATH=os.pathsep.join([str(src), str(ROOT)]),
                ),
                check=True,
            )
        recommend_lua = folder / "recommend.lua"
        recommend_lua.write_text(
            LUA.format(path="/v1/recommend", body='{"user_id": %d, "k": 10}', n=N_USERS)
        )
        results: dict[str, dict[str, list[dict[str, float]]]] = {
            name: {"recommend": [], "feedback": []} for name in sources
        }
        for r in range(rounds):
            for name, (src, extra) in sources.items():
                port = free_port()
                env = dict(
                    os.environ,
                    **extra,
                    LIMELIGHT_HOME=str(homes[name]),
                    LIMELIGHT_EVENTS=str(folder / f"events-{name}-{r}"),
                    PYTHONPATH=os.pathsep.join([str(src), str(ROOT)]),
                )
                cmd = [sys.executable, "-c", "from limelight.cli import main; main()", "serve"]
                cmd += ["--model", "recs=recs@champion", "--workers", str(workers)]
                cmd += ["--port", str(port)]
                server = Server("limelight", cmd, env, port, folder / f"{name}.log")
                try:
                    base = f"http://127.0.0.1:{port}"
                    bodies = folder / f"feedback-{name}-{r}.jsonl"
                    with httpx.Client(base_url=base) as client, open(bodies, "w") as out:
                        for u in range(2_500):  # fresh (request, item) pairs: no duplicates
                            answer = client.post(
                                "/v1/recommend", json={"user_id": u % N_USERS, "k": 10}
                            ).json()
                            for item in answer["items"]:
                                body = {
                                    "request_id": answer["request_id"],
                                    "item_id": item["item_id"],
                                }
                                out.write(json.dumps(body | {"event": "play"}) + "\n")
                    feedback_lua = folder / f"feedback-{name}-{r}.lua"
                    feedback_lua.write_text(FEEDBACK_LUA.format(bodies=bodies))
                    _wrk(base, recommend_lua, 2)  # warm up
                    results[name]["recommend"].append(_wrk(base, recommend_lua, seconds))
                    results[name]["feedback"].append(_wrk(base, feedback_lua, seconds))
                finally:
                    server.stop()
                _say(f"latency round {r + 1} {name}: {results[name]}")

        def med(name: str, endpoint: str, key: str) -> float:
            return round(statistics.median(x[key] for x in results[name][endpoint]), 2)

        summary: dict[str, Any] = {
            name: {
                e: {k: med(name, e, k) for k in ("rps", "p50_ms", "p99_ms", "non_2xx")}
                for e in ("recommend", "feedback")
            }
            for name in sources
        }
        first, *others = list(sources)
        summary["p99_ratio_vs_" + first] = {
            name: {
                e: round(med(name, e, "p99_ms") / med(first, e, "p99_ms"), 3)
                for e in ("recommend", "feedback")
            }
            for name in others
        }
        return summary
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="modest sizes (about 2 minutes)")
    parser.add_argument("--old-src", type=Path, help="the src folder of the writer to compare")
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    scale = 1 if args.quick else 5
    figures: dict[str, Any] = {
        "writer": serving_writer_rate(50_000 * scale),
        "import": import_rate(rows=500_000 * scale),
        "compaction": compaction_seconds(100 * scale),
        "kill9": kill9_trials(args.trials),
    }
    if args.old_src is not None:
        checkouts: dict[str, Path | tuple[Path, dict[str, str]]] = {
            "old": args.old_src,
            "new-write": (ROOT / "src", {"LIMELIGHT_EVENT_SYNC": "write"}),
            "new-fsync": (ROOT / "src", {"LIMELIGHT_EVENT_SYNC": "fsync"}),
        }
        figures["latency"] = serving_latency(checkouts, rounds=1 if args.quick else 3)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
