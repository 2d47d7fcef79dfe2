"""Serving: throughput, latency, cold start and shared memory of ``limelight serve`` beside peers.

One recommender over 5,000 titles x 64 factors (ImplicitALS, built from random factors), served
three ways in the same run, on 127.0.0.1, each with the same number of worker processes:

- **bare**: a Starlette endpoint doing only the same numpy top-10 (orjson, uvicorn on one
  socket per worker with TCP_NODELAY and SO_REUSEPORT, as ``limelight serve``): the ceiling;
- **limelight**: ``limelight serve --model recs=recs@champion`` (the registered model, seen titles
  excluded, an impression written to the event log per request, experiments checked);
- **mlflow**: ``mlflow models serve --env-manager local`` on a pyfunc model doing the same
  top-10 (MLflow in its own virtual environment, see ``peers.py``).

Load comes from ``wrk`` (random user per request, 32 connections, one thread; and one
connection for single-request latency). Cold start is the time from starting the command to the
first answered recommendation. Memory: a 200 MB model served by 1 and by N workers, the sum of
PSS (and USS) of every process of the server from ``/proc/<pid>/smaps_rollup``, after each
worker read every page of the model.

    .venv/bin/python benchmarks/serving.py            # 3 rounds of 8 s per server
    .venv/bin/python benchmarks/serving.py --quick    # 1 round of 4 s (< 2 minutes)

Ends with one line of JSON: requests/s and latency percentiles (medians over rounds), the ratios
against the bare ceiling and against MLflow, cold starts, the memory ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.peers import peer_python, run_in_peer  # noqa: E402

N_ITEMS, FACTORS, N_USERS = 5_000, 64, 20_000
MEMORY_USERS = 800_000  # 800k x 64 float32 = 205 MB of user factors
MLFLOW = ["mlflow>=3,<4", "numpy", "pandas"]
BIN = Path(sys.executable).parent


class ScanModel:
    """A model whose ``predict`` reads every byte of its one large array (the memory check)."""

    def __init__(self, table: np.ndarray) -> None:
        self.table = table

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.full(len(X), float(self.table.max()))

    def get_state(self) -> dict[str, Any]:
        return {"table": self.table}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ScanModel:
        return cls(state["table"])


def factor_model(n_users: int, seed: int = 0) -> Any:
    """An ImplicitALS over ``N_ITEMS`` titles with random factors and ~5 seen titles per user."""
    from limelight.recsys import ImplicitALS

    rng = np.random.default_rng(seed)
    seen = np.sort(rng.integers(0, N_ITEMS, size=(n_users, 5)), axis=1)
    state = {
        "class": "ImplicitALS",
        "user_ids": np.arange(n_users, dtype=np.int64),
        "item_ids": np.arange(N_ITEMS, dtype=np.int64),
        "seen.indptr": np.arange(0, 5 * n_users + 1, 5, dtype=np.int32),
        "seen.indices": seen.reshape(-1).astype(np.int32),
        "seen.data": np.ones(5 * n_users, dtype=np.float32),
        "item_popularity": rng.random(N_ITEMS).astype(np.float32),
        "user_factors": rng.standard_normal((n_users, FACTORS), dtype=np.float32),
        "item_factors": rng.standard_normal((N_ITEMS, FACTORS), dtype=np.float32),
        "param.factors": FACTORS,
    }
    return ImplicitALS.from_state(state)


BARE_SERVER = r"""
import os, signal, socket, sys
import numpy as np, orjson, uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

folder, port, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
U = np.load(os.path.join(folder, "user_factors.npy"), mmap_mode="r")
V = np.load(os.path.join(folder, "item_factors.npy"), mmap_mode="r")

async def recommend(request):
    body = orjson.loads(await request.body())
    scores = V @ U[int(body["user_id"])]
    k = int(body.get("k", 10))
    top = np.argpartition(-scores, k)[:k]
    top = top[np.argsort(-scores[top])]
    return Response(orjson.dumps({"items": top.tolist(), "scores": scores[top].tolist()}),
                    media_type="application/json")

app = Starlette(routes=[Route("/recommend", recommend, methods=["POST"])])
# one SO_REUSEPORT socket per worker, as limelight serve does: a shared socket lets one
# worker take most of wrk's connections and would lower the ceiling
socks = []
for _ in range(workers):
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", port)); sock.listen(2048); sock.set_inheritable(True)
    socks.append(sock)
pids = []
for sock in socks:
    pid = os.fork()
    if pid == 0:
        config = uvicorn.Config(app, loop="uvloop", http="httptools", log_level="warning",
                                access_log=False, lifespan="off")
        uvicorn.Server(config).run(sockets=[sock]); os._exit(0)
    pids.append(pid)
signal.signal(signal.SIGTERM, lambda *a: [os.kill(p, signal.SIGTERM) for p in pids])
for p in pids:
    while True:
        try:
            os.waitpid(p, 0); break
        except InterruptedError:
            continue
"""

MLFLOW_SAVE = r"""
import sys
import mlflow.pyfunc, numpy as np

class TopK(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        self.U = np.load(context.artifacts["user_factors"], mmap_mode="r")
        self.V = np.load(context.artifacts["item_factors"], mmap_mode="r")
    def predict(self, context, model_input, params=None):
        out = []
        for u in model_input["user_id"].to_numpy():
            scores = self.V @ self.U[int(u)]
            top = np.argpartition(-scores, 10)[:10]
            out.append(top[np.argsort(-scores[top])].tolist())
        return out

folder, target = sys.argv[1], sys.argv[2]
mlflow.pyfunc.save_model(target, python_model=TopK(), artifacts={
    "user_factors": folder + "/user_factors.npy", "item_factors": folder + "/item_factors.npy"})
print("saved")
"""

LUA = """
math.randomseed(7)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  return wrk.format(nil, "{path}", nil, string.format('{body}', math.random(0, {n} - 1)))
end
"""

SERVERS = {
    "bare": ("/recommend", '{"user_id": %d, "k": 10}'),
    "limelight": ("/v1/recommend", '{"user_id": %d, "k": 10}'),
    "mlflow": ("/invocations", '{"dataframe_split": {"columns": ["user_id"], "data": [[%d]]}}'),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post(url: str, body: bytes, timeout: float = 5.0) -> int:
    request = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read()
        return int(response.status)


def wait_answer(url: str, body: bytes, process: subprocess.Popen[bytes], limit: float) -> float:
    """Seconds until ``url`` answers ``body`` with 200 (polled every 10 ms)."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if post(url, body, timeout=2.0) == 200:
                return time.perf_counter() - start
        except OSError:
            pass
        time.sleep(0.01)
    raise RuntimeError(f"{url} did not answer within {limit} s")


class Server:
    """A server subprocess, stopped by its process id."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], port: int, log: Path):
        self.name, self.port = name, port
        self.log = log
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        path, body = SERVERS[name]
        self.url = f"http://127.0.0.1:{port}{path}"
        self.body = (body % 1).encode()
        try:
            self.cold_start = wait_answer(self.url, self.body, self.process, 120)
        except RuntimeError:
            self.stop()
            raise RuntimeError(f"{name} did not start:\n{log.read_text()[-3000:]}") from None

    def stop(self) -> int:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # its own session: only its workers
                self.process.wait()
        return int(self.process.returncode)


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def wrk(
    server: Server, connections: int, seconds: float, folder: Path, *, warm_up: bool = False
) -> dict[str, float]:
    path, body = SERVERS[server.name]
    script = folder / f"{server.name}.lua"
    script.write_text(LUA.format(path=path, body=body, n=N_USERS))
    base = f"http://127.0.0.1:{server.port}"
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            str(script),
            base,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if warm_up:
        return {}
    pct = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)$", out, re.M))
    if "99" not in pct:  # no request answered in time: show what wrk saw
        raise RuntimeError(
            f"wrk got no answers from {server.name}:\n{out}\n{server.log.read_text()[-2000:]}"
        )
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": _ms(pct["50"]),
        "p99_ms": _ms(pct["99"]),
        "requests": requests,
        "failed": (int(non2xx.group(1)) if non2xx else 0)
        + (sum(int(x) for x in errors.groups()) if errors else 0),
    }


def process_tree(pid: int) -> list[int]:
    out = [pid]
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        out += process_tree(int(child))
    return out


def _committer(pid: int) -> bool:
    """Whether ``pid`` is the server's event committer (counted in the sums, not a worker)."""
    return b"limelight-event-committer" in Path(f"/proc/{pid}/cmdline").read_bytes()


def smaps(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        fields[name] = int(value.split()[0])  # kB
    return fields


def memory(home: Path, workers: int, folder: Path, env: dict[str, str]) -> dict[str, float]:
    """PSS/USS/RSS (MB) of a server of ``workers`` after every worker scanned the 200 MB model."""
    port = free_port()
    cmd = [
        str(BIN / "limelight"),
        "serve",
        "--model",
        "scan=scan@champion",
        "--workers",
        str(workers),
        "--port",
        str(port),
    ]
    log = folder / f"memory-{workers}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}/v1/predict/scan"
    body = b'{"rows": [[0]]}'
    try:
        try:
            wait_answer(url, body, proc, 60)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}:\n{log.read_text()[-3000:]}") from None
        deadline = time.time() + 60
        while time.time() < deadline:  # new connections until every worker touched the model
            workers_rss = [smaps(p)["Rss"] for p in process_tree(proc.pid)[1:] if not _committer(p)]
            if len(workers_rss) == workers and min(workers_rss) > 200_000:
                break
            post(url, body)
        tree = process_tree(proc.pid)
        rollups = [smaps(p) for p in tree]
        return {
            "workers": workers,
            "pss_mb": sum(r["Pss"] for r in rollups) / 1024,
            "uss_mb": sum(r["Private_Clean"] + r["Private_Dirty"] for r in rollups) / 1024,
            "rss_mb": sum(r["Rss"] for r in rollups) / 1024,
        }
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 round of 4 s (< 2 minutes)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    work = Path(tempfile.mkdtemp(prefix="limelight-bench-serving-"))
    try:
        run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> None:
    """Every measurement, with its files under ``work``."""
    rounds, seconds = (1, 4) if args.quick else (3, 8)
    home = work / "home"
    # the caller's PYTHONPATH stays first, so the servers run the code the benchmark imports
    path = os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(ROOT)]))
    env = dict(os.environ, LIMELIGHT_HOME=str(home), PYTHONPATH=path)
    for name in ("LIMELIGHT_DB", "LIMELIGHT_ARTIFACTS", "LIMELIGHT_EVENTS", "LIMELIGHT_TOKEN"):
        env.pop(name, None)
    os.environ.update(LIMELIGHT_HOME=str(home))

    from limelight.core.config import resolve_config
    from limelight.registry import Registry

    registry = Registry(resolve_config())
    model = factor_model(N_USERS)
    version = registry.register("recs", model)
    registry.set_alias("recs", "champion", version.version, why="a benchmark model")
    np.save(work / "user_factors.npy", np.asarray(model.user_factors_))
    np.save(work / "item_factors.npy", np.asarray(model.item_factors_))
    table = np.random.default_rng(1).standard_normal((MEMORY_USERS, FACTORS), dtype=np.float32)
    from benchmarks.serving import ScanModel as Scan  # importable by the workers, not __main__

    scan = registry.register("scan", Scan(table))
    registry.set_alias("scan", "champion", scan.version, why="a benchmark model")
    del table

    print("[serving] installing MLflow in its own venv (once)", file=sys.stderr, flush=True)
    mlflow_python = peer_python("mlflow-serve", MLFLOW)
    run_in_peer(mlflow_python, MLFLOW_SAVE, str(work), str(work / "mlflow-model"))
    mlflow_env = dict(
        env,
        PATH=f"{mlflow_python.parent}:{env.get('PATH', '')}",
        MLFLOW_TRACKING_URI=f"file://{work / 'mlruns'}",
    )

    def start(name: str) -> Server:
        port = free_port()
        w = str(args.workers)
        if name == "bare":
            script = work / "bare.py"
            script.write_text(BARE_SERVER)
            cmd = [sys.executable, str(script), str(work), str(port), w]
            return Server(name, cmd, env, port, work / "bare.log")
        if name == "limelight":
            cmd = [
                str(BIN / "limelight"),
                "serve",
                "--model",
                "recs=recs@champion",
                "--workers",
                w,
                "--port",
                str(port),
            ]
            return Server(name, cmd, env, port, work / "limelight.log")
        cmd = [
            str(mlflow_python.parent / "mlflow"),
            "models",
            "serve",
            "-m",
            str(work / "mlflow-model"),
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-w",
            w,
        ]
        return Server(name, cmd, mlflow_env, port, work / "mlflow.log")

    results: dict[str, list[dict[str, float]]] = {n: [] for n in SERVERS}
    single: dict[str, list[dict[str, float]]] = {n: [] for n in SERVERS}
    cold: dict[str, list[float]] = {n: [] for n in SERVERS}
    for r in range(rounds):
        for name in SERVERS:
            if name == "mlflow" and r > 0:
                continue  # about 60 requests/s: one round says enough, and it costs minutes
            server = start(name)
            cold[name].append(server.cold_start)
            try:
                wrk(server, 32, 3, work, warm_up=True)
                results[name].append(wrk(server, 32, seconds, work))
                single[name].append(wrk(server, 1, max(2, seconds // 2), work))
            finally:
                code = server.stop()
            print(
                f"[serving] round {r + 1} {name}: {results[name][-1]} exit={code}",
                file=sys.stderr,
                flush=True,
            )

    mem1 = memory(home, 1, work, env)
    memn = memory(home, args.workers, work, env)

    def med(name: str, key: str, table: dict[str, list[dict[str, float]]] = results) -> float:
        return statistics.median(x[key] for x in table[name])

    print(
        f"\nServing: {N_ITEMS:,} titles x {FACTORS} factors, {args.workers} workers, "
        f"wrk 32 connections, {rounds} round(s) of {seconds} s (medians)\n"
    )
    header = (
        f"{'server':<10} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'failed':>7} "
        f"{'1-conn p50 ms':>14} {'cold start s':>13}"
    )
    print(header)
    print("-" * len(header))
    for name in SERVERS:
        print(
            f"{name:<10} {med(name, 'rps'):>8.0f} {med(name, 'p50_ms'):>8.2f} "
            f"{med(name, 'p99_ms'):>8.2f} {int(sum(x['failed'] for x in results[name])):>7} "
            f"{med(name, 'p50_ms', single):>14.2f} {statistics.median(cold[name]):>13.2f}"
        )
    print("\nMemory, 200 MB model (sum over supervisor + workers, after each worker read it all):")
    print(f"{'workers':>8} {'PSS MB':>8} {'USS MB':>8} {'RSS MB':>8}")
    for m in (mem1, memn):
        print(f"{m['workers']:>8} {m['pss_mb']:>8.0f} {m['uss_mb']:>8.0f} {m['rss_mb']:>8.0f}")
    summary = {
        "workers": args.workers,
        "rounds": rounds,
        "rps": {n: round(med(n, "rps"), 1) for n in SERVERS},
        "p50_ms": {n: round(med(n, "p50_ms"), 2) for n in SERVERS},
        "p99_ms": {n: round(med(n, "p99_ms"), 2) for n in SERVERS},
        "single_connection_p50_ms": {n: round(med(n, "p50_ms", single), 2) for n in SERVERS},
        "failed": {n: int(sum(x["failed"] for x in results[n])) for n in SERVERS},
        "cold_start_s": {n: round(statistics.median(cold[n]), 2) for n in SERVERS},
        "limelight_vs_bare": round(med("limelight", "rps") / med("bare", "rps"), 3),
        "limelight_vs_mlflow": round(med("limelight", "rps") / med("mlflow", "rps"), 1),
        "memory_pss_ratio_n_vs_1": round(memn["pss_mb"] / mem1["pss_mb"], 3),
        "memory_pss_mb": {
            "1": round(mem1["pss_mb"], 1),
            str(args.workers): round(memn["pss_mb"], 1),
        },
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
