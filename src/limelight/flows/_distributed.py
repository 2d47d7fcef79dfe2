"""Distributed executors: every task attempt becomes one task of a Dask or Ray cluster.

The scheduler stays in the launching process and hands each attempt to the engine as a small
``TaskJob``; the engine task loads the flow class from its file (``graph.file``), runs the
attempt with :func:`execute_task`, which writes its artifacts to the shared artifact store and
its results to the shared metadata store, and sends back a small ``TaskResult``. Large arrays
never travel through the engine's scheduler. Retries stay Limelight's: the engine is told not
to re-run a task whose worker died, so a killed worker is one failed attempt, as with the local
executor. A timeout cancels the engine task and kills the worker process running it.

A task that no worker can run (the cluster has no workers, lost them all, or has none with the
resources its step asks for) fails once that has lasted ``Config.placement_timeout`` seconds
with the cluster unchanged, with an error that names the cluster and what was missing; the
engine task is cancelled, so the run fails cleanly and can be resumed once workers are back.

One task runs at a time in a worker process (``current`` is per process), so Dask workers need
one thread each (``dask worker --nthreads 1``); Ray runs one task per worker process anyway.
The engines are optional: they are imported only when chosen.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import queue
import signal
import tempfile
import threading
import time
import traceback
import uuid
from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from limelight.core.config import Config
from limelight.core.errors import ConfigError
from limelight.flows._decorators import options_of
from limelight.flows._executors import _run_captured, store_logs
from limelight.flows._graph import FlowGraph
from limelight.flows._importing import import_file
from limelight.flows._task import TaskJob, TaskResult
from limelight.store import Store, open_store

if TYPE_CHECKING:  # executors are handed the loaded flow class; they never import Flow's module
    from limelight.flows._flow import Flow

__all__ = [
    "ADDRESS_ENV",
    "DaskExecutor",
    "RayExecutor",
    "cluster_address",
    "missing_for",
    "run_remote",
]

ADDRESS_ENV = "LIMELIGHT_CLUSTER_ADDRESS"
_CAPACITY_REFRESH = 2.0  # seconds between looks at how many workers the cluster has
_PLACEMENT_CHECK = 1.0  # seconds between looks at whether the waiting tasks can be placed
_WORKER_GONE = 30.0  # seconds to wait for the scheduler to notice a worker killed for a timeout
_WORKER_BACK = 15.0  # seconds to wait for its replacement (workers without a nanny get none)

# -- the worker side --------------------------------------------------------------------------

_loaded: dict[tuple[str, str, int], type[Flow]] = {}


def _flow_class(graph: FlowGraph) -> type[Flow]:
    """The flow class of ``graph``, imported from its file once per worker process and version."""
    try:
        stamp = Path(graph.file).stat().st_mtime_ns
    except OSError:
        raise ConfigError(
            f"flow {graph.flow_name}: its file {graph.file} is not on this worker; a distributed "
            "executor imports the flow from its file, so the workers need the flow's code at the "
            "same path (a shared checkout or the same image)"
        ) from None
    key = (graph.file, graph.flow_name, stamp)
    if key not in _loaded:
        _loaded[key] = getattr(import_file(graph.file), graph.flow_name)
    return _loaded[key]


def _worker_config(config: Config) -> Config:
    """The launcher's configuration, with a home (for the cache of remote blobs) on this worker.

    The stores are the launcher's (their URLs travel with the task); the home is the launcher's
    when it exists here (same machine, shared disk), else the worker's ``LIMELIGHT_HOME``, else
    a folder in the temporary directory.
    """
    if config.home.is_dir():
        return config
    home = os.environ.get("LIMELIGHT_HOME") or os.path.join(tempfile.gettempdir(), "limelight")
    return config.with_(home=Path(home))


def run_remote(job: TaskJob, graph: FlowGraph, config: Config, *, capture: bool) -> TaskResult:
    """Run one attempt in an engine worker; its stdout/stderr become blobs when ``capture``."""
    flow_class = _flow_class(graph)
    store = open_store(_worker_config(config))
    if not capture:
        job = dataclasses.replace(job, log_dir=None)
    elif job.log_dir is None or not os.path.isdir(job.log_dir):
        # the launcher's log folder is where it can read a killed task's partial logs; a worker
        # on another machine keeps its files (removed once stored) in a folder of its own
        own = os.path.join(tempfile.gettempdir(), f"limelight-logs-{os.getpid()}")
        os.makedirs(own, exist_ok=True)
        job = dataclasses.replace(job, log_dir=own)
    return _run_captured(job, flow_class, graph, store)


def _dask_task(job: TaskJob, graph: FlowGraph, config: Config) -> TaskResult:
    from distributed import get_worker

    threads = get_worker().state.nthreads
    if threads != 1:
        return TaskResult(
            job.task_id,
            job.attempt,
            False,
            error=f"the Dask worker runs {threads} threads; Limelight runs one task per worker "
            "process: start workers with --nthreads 1",
        )
    return run_remote(job, graph, config, capture=True)


def _importer_plugin(base: type, graph: FlowGraph) -> Any:
    """A Dask worker plugin (``base`` is Dask's class, imported on use) that imports the flow
    on every worker as it joins, so that no task, and no ``@timeout``, pays for the import."""

    class FlowImporter(base):
        def __init__(self, graph: FlowGraph) -> None:
            self.graph = graph

        def setup(self, worker: Any) -> None:
            with contextlib.suppress(Exception):  # a task will report the error with its reason
                _flow_class(self.graph)

    return FlowImporter(graph)


async def _exit_worker() -> None:
    """Stop this worker process at once (its nanny starts a fresh one); async to be waited for
    by no one."""
    os.kill(os.getpid(), signal.SIGKILL)


# -- the launcher side ------------------------------------------------------------------------


def cluster_address(engine: str) -> str | None:
    """The cluster to use: ``LIMELIGHT_CLUSTER_ADDRESS``, else the engine's own variable."""
    own = {"dask": "DASK_SCHEDULER_ADDRESS", "ray": "RAY_ADDRESS"}[engine]
    return os.environ.get(ADDRESS_ENV) or os.environ.get(own) or None


def _needs(options_resources: dict[str, float]) -> dict[str, float]:
    """``@resources`` as engine resource amounts: CPU, GPU and MEMORY in bytes."""
    wanted = {"CPU": float(options_resources.get("cpu", 1))}
    if options_resources.get("gpu"):
        wanted["GPU"] = float(options_resources["gpu"])
    if options_resources.get("memory"):
        wanted["MEMORY"] = float(options_resources["memory"]) * 1024 * 1024
    return wanted


def missing_for(
    needs: Mapping[str, float], workers: Iterable[Mapping[str, float]], kind: str = "worker"
) -> str | None:
    """What the cluster lacks to run a task that asks for ``needs``, or None when one of the
    ``workers`` (each the resources it declares) can run it."""
    declared = list(workers)
    if not declared:
        return f"no {kind}s"
    if any(all(w.get(name, 0) >= amount for name, amount in needs.items()) for w in declared):
        return None
    return f"no {kind} with resources {dict(needs)}"


def _check_importable(flow_class: type[Flow], graph: FlowGraph) -> None:
    """Workers import the flow from its file: it must be a class at the top level of one."""
    if "<locals>" in flow_class.__qualname__ or not Path(graph.file).is_file():
        raise ConfigError(
            f"flow {flow_class.__qualname__} cannot run on a cluster: the workers import a flow "
            "from its file, so define it at the top level of a .py file (not inside a function "
            "or a notebook cell)"
        )


class _Distributed(ABC):
    """What the Dask and Ray executors share: slots, the log folder, results as they finish."""

    name = "distributed"

    def __init__(
        self, flow_class: type[Flow], graph: FlowGraph, config: Config, max_workers: int | None
    ) -> None:
        self._flow_class, self.graph, self.config = flow_class, graph, config
        self.max_workers = max_workers
        self._store = Store(config)
        self._running: dict[int, tuple[TaskJob, Any]] = {}
        self._stopped: dict[int, str] = {}  # task id -> why the launcher stopped it
        self._done: queue.SimpleQueue[tuple[int, Any, Any]] = queue.SimpleQueue()
        self._log_dir = tempfile.mkdtemp(prefix="limelight-logs-")
        self._capacity = 0
        self._capacity_at = 0.0
        self.address = ""  # the cluster's, for messages; each subclass sets it
        self._placement_at = 0.0
        self._workers_seen: Hashable = None
        self._missing_since: dict[str, float] = {}  # what is missing -> since when

    @abstractmethod
    def _cluster_slots(self) -> int:
        """Each subclass says."""

    @abstractmethod
    def _unplaceable(self) -> tuple[Hashable, dict[int, str]]:
        """The cluster's workers (anything that changes when they change), and the running
        tasks that none of them can run, each with what is missing for it."""

    @abstractmethod
    def _cancel(self, handle: Any) -> None:
        """Tell the engine to forget a task; its handle then settles."""

    def _check_placement(self) -> None:
        """Stop every task that no worker can run once that has lasted the placement timeout.

        The clock of a lack ("no workers", "no worker with resources {...}") runs while the
        cluster's workers stay the same, so a task submitted after the lack has lasted that
        long fails at once, and any worker joining or leaving starts every clock again.
        """
        now = time.monotonic()
        limit = self.config.placement_timeout
        lasted = any(now - since >= limit for since in self._missing_since.values())
        # while a lack has lasted too long, look at every wait: its tasks fail one after another
        if not self._running or (now - self._placement_at < _PLACEMENT_CHECK and not lasted):
            return
        self._placement_at = now
        workers, missing = self._unplaceable()
        if workers != self._workers_seen:
            self._workers_seen, self._missing_since = workers, {}
        for task_id, what in missing.items():
            since = self._missing_since.setdefault(what, now)
            if now - since < limit or task_id in self._stopped:
                continue
            self._stopped[task_id] = (
                f"the {self.name} task never started: {what} at {self.address} for {limit:g} s "
                "(the placement timeout, LIMELIGHT_PLACEMENT_TIMEOUT); start workers that can "
                "run it, then resume the run"
            )
            self._cancel(self._running[task_id][1])

    def free_slots(self) -> int:
        if self.max_workers is not None:
            return self.max_workers - len(self._running)
        now = time.monotonic()
        if now - self._capacity_at > _CAPACITY_REFRESH:
            self._capacity, self._capacity_at = max(1, self._cluster_slots()), now
        # no more tasks than the cluster runs at once: a task queued behind another on a worker
        # would start its @timeout clock early, and fail with that worker if it is killed
        return self._capacity - len(self._running)

    def _prepare(self, job: TaskJob) -> TaskJob:
        return dataclasses.replace(job, log_dir=self._log_dir)

    def _resources(self, job: TaskJob) -> dict[str, float]:
        return _needs(options_of(getattr(self._flow_class, job.step)).resources)

    def _lost(self, job: TaskJob, reason: str) -> TaskResult:
        logs = store_logs(self._store, job.log_paths())
        return TaskResult(job.task_id, job.attempt, False, error=reason, logs=logs)

    @abstractmethod
    def _outcome(self, handle: Any) -> TaskResult:
        """Each subclass says."""

    def _settled(self, task_id: int, handle: Any) -> None:
        """Fetch a finished task's result (in the engine's thread, not the scheduler's)."""
        try:
            outcome: TaskResult | Exception = self._outcome(handle)
        except Exception as exc:
            outcome = exc
        self._done.put((task_id, handle, outcome))

    def wait(self, timeout: float) -> list[TaskResult]:
        if not self._running:
            time.sleep(max(0.0, min(timeout, 0.05)))
            return []
        self._check_placement()
        finished = []
        with contextlib.suppress(queue.Empty):
            finished.append(self._done.get(timeout=timeout))
            while True:
                finished.append(self._done.get_nowait())
        results = []
        for task_id, handle, outcome in finished:
            entry = self._running.get(task_id)
            if entry is None or entry[1] is not handle:
                continue  # an older attempt, already reported
            job = entry[0]
            del self._running[task_id]
            reason = self._stopped.pop(task_id, None)
            if reason is not None:
                results.append(self._lost(job, reason))
                continue
            if isinstance(outcome, Exception):
                results.append(self._lost(job, self._describe(outcome)))
            else:
                results.append(outcome)
        return results

    def _describe(self, exc: BaseException) -> str:
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return f"the {self.name} task failed outside the step: {text}"

    def _stop_logs(self) -> None:
        for leftover in Path(self._log_dir).glob("*"):
            leftover.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            Path(self._log_dir).rmdir()


class DaskExecutor(_Distributed):
    """Each attempt a task of a Dask cluster: the one at ``address``, else a loopback one here."""

    name = "dask"

    def __init__(
        self,
        flow_class: type[Flow],
        graph: FlowGraph,
        config: Config,
        max_workers: int | None,
        address: str | None = None,
    ) -> None:
        try:
            import dask
            from distributed import Client, LocalCluster
        except ModuleNotFoundError as exc:
            raise ConfigError(
                "the dask executor needs Dask distributed: pip install 'limelight[dask]'"
            ) from exc
        _check_importable(flow_class, graph)
        super().__init__(flow_class, graph, config, max_workers)
        self._cluster: Any = None
        address = address or cluster_address("dask")
        if address is None:
            # a cluster of this machine, on loopback only, that never re-runs a task by itself
            with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
                self._cluster = LocalCluster(
                    n_workers=max_workers or os.cpu_count() or 1,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    # the scheduler's HTTP server (health, metrics) runs even without a dashboard, by
                    # default on 8787: a free port instead, on loopback, so that two clusters can coexist
                    scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                )
            address = self._cluster.scheduler_address
        self.address = address
        self._token = uuid.uuid4().hex[:12]
        try:
            self._client: Any = Client(address, set_as_default=False)
        except OSError as exc:
            self._close_cluster()
            self._stop_logs()
            raise ConfigError(
                f"cannot reach the Dask scheduler at {address}: {exc}. Check "
                f"{ADDRESS_ENV} (or --cluster-address) and that the scheduler is running."
            ) from exc
        self._advertised = self._worker_resources()
        from distributed.diagnostics.plugin import WorkerPlugin

        self._plugin = f"limelight-{graph.flow_name}-{os.getpid()}-{id(self)}"
        self._client.register_plugin(_importer_plugin(WorkerPlugin, graph), name=self._plugin)

    def _worker_resources(self) -> set[str]:
        workers = self._client.scheduler_info(n_workers=-1)["workers"].values()
        names: set[str] = set()
        for worker in workers:
            names.update(worker.get("resources", {}))
        return names

    def _cluster_slots(self) -> int:
        return int(sum(self._client.nthreads().values()))

    def _unplaceable(self) -> tuple[Hashable, dict[int, str]]:
        workers = self._client.scheduler_info(n_workers=-1)["workers"]
        declared = {a: dict(w.get("resources") or {}) for a, w in workers.items()}
        seen = frozenset((a, tuple(sorted(r.items()))) for a, r in declared.items())
        missing = {}
        for task_id, (job, future) in list(self._running.items()):
            if future.done():
                continue
            what = missing_for(self._asked(job), declared.values())
            if what is not None:
                missing[task_id] = what
        return seen, missing

    def _cancel(self, handle: Any) -> None:
        handle.cancel()

    def _asked(self, job: TaskJob) -> dict[str, float]:
        """The resources the Dask task of ``job`` asks for.

        Workers that declare resources (dask worker --resources "CPU=8,GPU=1") get tasks by
        them. CPU and memory no worker declares are not asked for (every worker has some, in
        amounts Dask is not told); a GPU always is, so that a GPU step never runs without one.
        """
        return {
            k: v for k, v in self._resources(job).items() if k in self._advertised or k == "GPU"
        }

    def submit(self, job: TaskJob) -> str:
        job = self._prepare(job)
        needs = self._asked(job)
        future = self._client.submit(
            _dask_task,
            job,
            self.graph,
            self.config,
            # unique per executor: two runs with the same ids (two metadata stores, or one run
            # after another in a fresh home) must never share a task on a shared cluster
            key=f"limelight-{job.run_id}-{job.task_id}-{job.attempt}-{self._token}",
            resources=needs or None,
            pure=False,
            retries=0,
        )
        self._running[job.task_id] = (job, future)
        future.add_done_callback(lambda f, task_id=job.task_id: self._settled(task_id, f))
        return f"dask {future.key}"

    def _outcome(self, handle: Any) -> TaskResult:
        if handle.status == "cancelled":
            raise RuntimeError("the Dask task was cancelled")
        exc = handle.exception()
        if exc is not None:
            if type(exc).__name__ == "KilledWorker":
                raise RuntimeError(
                    f"the Dask worker running it died (killed, or out of memory): {exc}"
                )
            raise exc
        result: TaskResult = handle.result()
        return result

    def kill(self, task_id: int, reason: str) -> None:
        entry = self._running.get(task_id)
        if entry is None:
            return
        future = entry[1]
        self._stopped[task_id] = reason
        workers = set(self._client.nthreads())
        holders = [w for w, keys in self._client.processing().items() if future.key in keys]
        if holders:
            self._client.run(_exit_worker, workers=holders, wait=False)
            # wait until the scheduler has dropped the worker: a task handed over meanwhile
            # (the retry, or the @catch record) could otherwise land on it and die with it
            deadline = time.monotonic() + _WORKER_GONE
            while set(holders) & set(self._client.nthreads()) and time.monotonic() < deadline:
                time.sleep(0.02)
        future.cancel()  # the scheduler forgets the task, so it is not run again elsewhere
        if holders:
            # and until its nanny has started a fresh one (a second or two), as the local
            # executor replaces a worker at once: the next task's @timeout clock starts when it
            # is handed over, not when a worker is free for it
            deadline = time.monotonic() + _WORKER_BACK
            while len(self._client.nthreads()) < len(workers) and time.monotonic() < deadline:
                time.sleep(0.05)
            self._capacity_at = 0.0

    def _close_cluster(self) -> None:
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def shutdown(self) -> None:
        for _job, future in self._running.values():
            future.cancel()
        self._running.clear()
        with contextlib.suppress(Exception):  # the cluster may be gone already
            self._client.unregister_worker_plugin(self._plugin)
        self._client.close()
        self._close_cluster()
        self._stop_logs()
        self._store.dispose()


class RayExecutor(_Distributed):
    """Each attempt a Ray task with the CPUs, GPUs and memory of its step's ``@resources``."""

    name = "ray"

    def __init__(
        self,
        flow_class: type[Flow],
        graph: FlowGraph,
        config: Config,
        max_workers: int | None,
        address: str | None = None,
    ) -> None:
        try:
            import ray
        except ModuleNotFoundError as exc:
            raise ConfigError("the ray executor needs Ray: pip install 'limelight[ray]'") from exc
        _check_importable(flow_class, graph)
        address = address or cluster_address("ray")
        if address is None:
            raise ConfigError(
                "the ray executor runs on an existing Ray cluster: set "
                f"{ADDRESS_ENV} (or --cluster-address) to auto or ray://host:10001"
            )
        self._ray: Any = ray
        self._owns_connection = not ray.is_initialized()
        if self._owns_connection:
            try:
                ray.init(address=address, log_to_driver=False)
            except ConnectionError as exc:
                raise ConfigError(f"cannot reach the Ray cluster at {address}: {exc}") from exc
        super().__init__(flow_class, graph, config, max_workers)
        self.address = address
        self._remote = ray.remote(max_retries=0, retry_exceptions=False)(_ray_task)
        self._watcher = threading.Thread(target=self._watch, name="limelight-ray", daemon=True)
        self._stopping = threading.Event()
        self._watcher.start()

    def _watch(self) -> None:
        """Turn finished object refs into entries of the done queue (Ray has no callbacks)."""
        reported: set[Any] = set()
        while not self._stopping.is_set():
            refs = {e[1]: i for i, e in list(self._running.items()) if e[1] not in reported}
            if not refs:
                time.sleep(0.01)
                continue
            ready, _ = self._ray.wait(list(refs), num_returns=1, timeout=0.1, fetch_local=False)
            for ref in ready:
                reported.add(ref)
                self._settled(refs[ref], ref)

    def _cluster_slots(self) -> int:
        return int(self._ray.cluster_resources().get("CPU", 1))

    def _asked(self, job: TaskJob) -> dict[str, float]:
        """The resources of ``job``'s step by Ray's names (``memory`` in bytes)."""
        needs = self._resources(job)
        asked = {"CPU": needs["CPU"]}
        if "GPU" in needs:
            asked["GPU"] = needs["GPU"]
        if "MEMORY" in needs:
            asked["memory"] = float(int(needs["MEMORY"]))
        return asked

    def _unplaceable(self) -> tuple[Hashable, dict[int, str]]:
        nodes = [n for n in self._ray.nodes() if n.get("Alive")]
        declared = {str(n.get("NodeID")): dict(n.get("Resources") or {}) for n in nodes}
        seen = frozenset((i, tuple(sorted(r.items()))) for i, r in declared.items())
        missing = {}
        for task_id, (job, _ref) in list(self._running.items()):
            what = missing_for(self._asked(job), declared.values(), kind="node")
            if what is not None:
                missing[task_id] = what
        return seen, missing

    def _cancel(self, handle: Any) -> None:
        self._ray.cancel(handle, force=True)

    def submit(self, job: TaskJob) -> str:
        job = self._prepare(job)
        needs = self._asked(job)
        options: dict[str, Any] = {"num_cpus": needs["CPU"], "num_gpus": needs.get("GPU", 0)}
        if "memory" in needs:
            options["memory"] = int(needs["memory"])
        ref = self._remote.options(**options).remote(job, self.graph, self.config)
        self._running[job.task_id] = (job, ref)
        return f"ray {ref.hex()[:16]}"

    def _outcome(self, handle: Any) -> TaskResult:
        try:
            result: TaskResult = self._ray.get(handle)
        except self._ray.exceptions.WorkerCrashedError as exc:
            raise RuntimeError(f"the Ray worker running it died: {exc}") from exc
        return result

    def kill(self, task_id: int, reason: str) -> None:
        entry = self._running.get(task_id)
        if entry is not None:
            self._stopped[task_id] = reason
            self._ray.cancel(entry[1], force=True)  # force: kill the worker process

    def shutdown(self) -> None:
        self._stopping.set()
        for _job, ref in self._running.values():
            with contextlib.suppress(Exception):
                self._ray.cancel(ref, force=True)
        self._running.clear()
        self._watcher.join(5)
        if self._owns_connection:
            self._ray.shutdown()
        self._stop_logs()
        self._store.dispose()


def _ray_task(job: TaskJob, graph: FlowGraph, config: Config) -> TaskResult:
    return run_remote(job, graph, config, capture=True)
