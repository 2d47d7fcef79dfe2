"""Executors run task attempts: in worker processes (``local``) or in this process (``inline``).

The local executor keeps a pool of worker processes for the whole run (forked, so starting one
costs milliseconds and the flow class needs no re-import). Each worker runs one task at a time
and sends back a small result; the artifacts themselves go through the artifact store. A
worker that dies (``kill -9``, out of memory) or is stopped for a timeout is replaced, and its
task is reported failed with its partial logs.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import multiprocessing as mp
import os
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from limelight.core.config import Config
from limelight.flows._graph import FlowGraph
from limelight.flows._task import TaskJob, TaskResult, execute_task
from limelight.store import Store

if TYPE_CHECKING:  # executors are handed the loaded flow class; they never import Flow's module
    from limelight.flows._flow import Flow

__all__ = ["Executor", "InlineExecutor", "LocalExecutor", "store_logs"]


class Executor(Protocol):
    name: str

    def free_slots(self) -> int: ...

    def submit(self, job: TaskJob) -> str: ...

    def wait(self, timeout: float) -> list[TaskResult]: ...

    def kill(self, task_id: int, reason: str) -> None: ...

    def shutdown(self) -> None: ...


def store_logs(store: Store, paths: tuple[str, str] | None) -> tuple[str | None, str | None]:
    """Put the log files of an attempt into the artifact store; return their blob keys."""
    if paths is None:
        return None, None
    keys: list[str | None] = []
    for path in paths:
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            keys.append(None)
            continue
        keys.append(store.artifacts.blobs.put(data) if data else None)
        Path(path).unlink(missing_ok=True)
    return keys[0], keys[1]


@contextlib.contextmanager
def _captured_fds(paths: tuple[str, str]) -> Iterator[None]:
    """Send this process's stdout and stderr (file descriptors 1 and 2) to two files.

    ``sys.stdout``/``sys.stderr`` are pointed at the descriptors too: under pytest or Jupyter
    they are objects of their own that would otherwise keep what a step prints.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    saved_streams = sys.stdout, sys.stderr
    files = [os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644) for p in paths]
    try:
        os.dup2(files[0], 1)
        os.dup2(files[1], 2)
        sys.stdout = open(1, "w", buffering=1, closefd=False, errors="backslashreplace")  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, closefd=False, errors="backslashreplace")  # noqa: SIM115
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        sys.stdout, sys.stderr = saved_streams
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*files, *saved):
            os.close(fd)


class _Tee(io.TextIOBase):
    """A text stream that writes to the terminal's stream and keeps a copy."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.copy = io.StringIO()

    def write(self, text: str) -> int:
        self.copy.write(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:  # output of subprocesses goes to the terminal, uncopied
        return self.stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.stream, "encoding", "utf-8")


@contextlib.contextmanager
def _teed_streams() -> Iterator[tuple[_Tee, _Tee]]:
    """Keep a copy of what Python code writes to ``sys.stdout``/``sys.stderr`` (inline runs)."""
    saved = sys.stdout, sys.stderr
    tees = _Tee(saved[0]), _Tee(saved[1])
    sys.stdout, sys.stderr = tees
    try:
        yield tees
    finally:
        sys.stdout, sys.stderr = saved


def _run_captured(
    job: TaskJob, flow_class: type[Flow], graph: FlowGraph, store: Store
) -> TaskResult:
    paths = job.log_paths()
    if paths is None:
        return execute_task(job, flow_class, graph, store)
    with _captured_fds(paths):
        result = execute_task(job, flow_class, graph, store)
    result.logs = store_logs(store, paths)
    return result


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to kill this worker when the scheduler dies, even by ``kill -9``."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:  # the scheduler died before prctl took effect
        os._exit(1)


def _worker_main(
    conn: Connection, flow_class: type[Flow], graph: FlowGraph, config: Config, parent_pid: int
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the scheduler's to handle
    _die_with_parent(parent_pid)
    store = Store(config)
    try:
        while True:
            try:
                job = conn.recv()
            except EOFError:
                break
            if job is None:
                break
            conn.send(_run_captured(job, flow_class, graph, store))
    finally:
        store.dispose()
        os._exit(0)  # skip inherited atexit handlers and finalizers of the parent's objects


@dataclass
class _Worker:
    process: Any
    conn: Connection
    job: TaskJob | None = None
    stop_reason: str | None = None


class LocalExecutor:
    """A pool of up to ``max_workers`` worker processes, started as tasks need them."""

    name = "local"

    def __init__(self, flow_class: type[Flow], graph: FlowGraph, config: Config, max_workers: int):
        self.flow_class, self.graph, self.config = flow_class, graph, config
        self.max_workers = max_workers
        method = "fork" if sys.platform.startswith("linux") else "spawn"
        self._ctx: Any = mp.get_context(method)
        self._workers: list[_Worker] = []
        self._store = Store(config)

    def _start_worker(self) -> _Worker:
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(
            target=_worker_main,
            args=(child, self.flow_class, self.graph, self.config, os.getpid()),
            name="limelight-worker",
            daemon=True,
        )
        process.start()
        child.close()
        worker = _Worker(process, parent)
        self._workers.append(worker)
        return worker

    def free_slots(self) -> int:
        busy = sum(1 for w in self._workers if w.job is not None)
        return self.max_workers - busy

    def submit(self, job: TaskJob) -> str:
        idle = next((w for w in self._workers if w.job is None), None) or self._start_worker()
        idle.job = job
        idle.stop_reason = None
        idle.conn.send(job)
        return f"pid {idle.process.pid}"

    def _lost(self, worker: _Worker) -> TaskResult:
        job = worker.job
        assert job is not None
        worker.process.join(5)
        code = worker.process.exitcode
        reason = worker.stop_reason or (
            f"the worker process (pid {worker.process.pid}) died"
            + (
                f", killed by signal {-code} ({signal.Signals(-code).name})"
                if code and code < 0
                else f" with exit code {code}"
            )
        )
        logs = store_logs(self._store, job.log_paths())
        self._workers.remove(worker)
        worker.conn.close()
        return TaskResult(job.task_id, job.attempt, False, error=reason, logs=logs)

    def wait(self, timeout: float) -> list[TaskResult]:
        busy = [w for w in self._workers if w.job is not None]
        if not busy:
            time.sleep(max(0.0, min(timeout, 0.05)))
            return []
        handles: dict[Any, _Worker] = {}
        for worker in busy:
            handles[worker.conn] = worker
            handles[worker.process.sentinel] = worker
        results: list[TaskResult] = []
        done: set[int] = set()
        for handle in wait(list(handles), timeout):
            worker = handles[handle]
            if id(worker) in done:
                continue
            done.add(id(worker))
            result = None
            if worker.conn.poll():
                try:
                    result = worker.conn.recv()
                except (EOFError, OSError):
                    result = None
            if result is not None and worker.stop_reason is None:
                worker.job = None
                results.append(result)
            else:
                results.append(self._lost(worker))
        return results

    def kill(self, task_id: int, reason: str) -> None:
        for worker in self._workers:
            if worker.job is not None and worker.job.task_id == task_id:
                worker.stop_reason = reason
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.process.pid, signal.SIGKILL)

    def shutdown(self) -> None:
        for worker in self._workers:
            if worker.job is None:
                with contextlib.suppress(OSError):
                    worker.conn.send(None)
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.process.pid, signal.SIGKILL)
        for worker in self._workers:
            worker.process.join(5)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(5)
            worker.conn.close()
        self._workers.clear()
        self._store.dispose()


class InlineExecutor:
    """Runs every task in this process, one at a time: a breakpoint in a step just works.

    What Python code in a step writes to ``sys.stdout``/``sys.stderr`` is shown and also kept as
    the task's logs (output written straight to the file descriptors, e.g. by C code, is shown
    only).
    """

    name = "inline"

    def __init__(self, flow_class: type[Flow], graph: FlowGraph, config: Config):
        self.flow_class, self.graph = flow_class, graph
        self._store = Store(config)
        self._pending: list[TaskJob] = []

    def free_slots(self) -> int:
        return 0 if self._pending else 1

    def submit(self, job: TaskJob) -> str:
        self._pending.append(job)
        return "inline"

    def wait(self, timeout: float) -> list[TaskResult]:
        results = []
        while self._pending:
            job = self._pending.pop(0)
            with _teed_streams() as (out, err):
                result = execute_task(job, self.flow_class, self.graph, self._store)
            blobs = self._store.artifacts.blobs
            result.logs = tuple(  # type: ignore[assignment]
                blobs.put(t.copy.getvalue().encode()) if t.copy.getvalue() else None
                for t in (out, err)
            )
            results.append(result)
        return results

    def kill(self, task_id: int, reason: str) -> None:
        return None  # a task in this process runs to its end

    def shutdown(self) -> None:
        self._store.dispose()
