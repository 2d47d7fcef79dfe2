"""Running the app: a supervisor that binds one socket and forks N uvicorn workers around it.

The supervisor binds the listening socket itself, with ``TCP_NODELAY`` (accepted sockets
inherit it; without it, keep-alive answers wait for the peer's delayed ACK, about 40 ms), then
forks the workers, which all accept from that socket. Model arrays are memory-mapped from the
artifact store, so N workers share one copy in the page cache. SIGTERM (or SIGINT) drains:
each worker stops accepting, finishes the requests in flight, flushes its event log and exits
0; the supervisor exits 0 when they all did. A worker that dies is started again.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from limelight.core.config import Config, resolve_config
from limelight.core.errors import InvalidInputError, LimelightError
from limelight.serving._http import DEFAULT_HEADER_TIMEOUT, check_header_timeout, uvicorn_config
from limelight.serving._ids import load_secret
from limelight.serving._models import parse_model_specs
from limelight.serving._seen import SeenFeedback

__all__ = ["ServerHandle", "bind_socket", "bind_sockets", "serve", "serve_in_background"]

log = logging.getLogger("limelight.serving")
STARTUP_FAILURE = 3
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
WORKER_GC_THRESHOLDS = (10_000, 10, 100)


def bind_socket(
    host: str = "127.0.0.1", port: int = 0, backlog: int = 2048, *, reuse_port: bool = False
) -> socket.socket:
    """A listening TCP socket with ``SO_REUSEADDR`` and ``TCP_NODELAY`` (inherited by workers).

    ``reuse_port`` sets ``SO_REUSEPORT`` too, so that several sockets can listen on the port.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InvalidInputError(
            f"cannot listen on {host}:{port}: {exc.strerror}; choose another --port"
        ) from None
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def bind_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` listening sockets on one port, one per worker, where the system allows it.

    With one shared socket, whichever worker woke first accepted most of a burst of new
    connections, and keep-alive kept them there (seen: 77% and 25% CPU for two workers). With
    ``SO_REUSEPORT`` the kernel spreads connections over the sockets by their addresses. A
    plain socket is bound first, so a port that another server holds is still an error rather
    than silently shared with it.
    """
    first = bind_socket(host, port)
    if count == 1 or not hasattr(socket, "SO_REUSEPORT"):
        return [first]
    port = first.getsockname()[1]
    first.close()
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sockets.append(bind_socket(host, port, reuse_port=True))
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _run_worker(
    sock: socket.socket, models: dict[str, str], config: Config, options: dict[str, Any]
) -> int:
    """One worker process: build the app, serve until told to stop; the exit code."""
    import uvicorn
    from threadpoolctl import threadpool_limits

    from limelight.serving._app import create_app

    # A stop signal may come before uvicorn handles signals (while models load): remember it.
    # uvicorn also re-raises the signal that stopped it when it is done: harmless here.
    server: Any = None
    stop_early = False

    def early_stop(signum: int, frame: Any) -> None:
        nonlocal stop_early
        stop_early = True
        if server is not None:
            server.should_exit = True

    for signum in STOP_SIGNALS:
        signal.signal(signum, early_stop)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    # A request leaves a few reference cycles (futures, closures) behind; at the default gen-0
    # threshold of 700 the collector ran ~30 times a second per worker and a full pass, 15-20 ms
    # with the whole loop stopped, every couple of seconds: the p99 latency. Collect less often.
    gc.set_threshold(*WORKER_GC_THRESHOLDS)
    graceful = float(options.pop("graceful_seconds", 30.0))
    log_level = str(options.pop("log_level", "warning"))
    header_timeout = check_header_timeout(options.pop("header_timeout", DEFAULT_HEADER_TIMEOUT))
    # One BLAS thread per worker: requests are small and the workers are the parallelism;
    # N workers each spinning up a pool of BLAS threads fight over the cores (3-4x slower).
    blas = threadpool_limits(limits=int(options.pop("blas_threads", 1)))
    app = create_app(models, config=config, **options)
    server = uvicorn.Server(
        uvicorn_config(
            app, log_level=log_level, graceful_seconds=graceful, header_timeout=header_timeout
        )
    )
    server.should_exit = stop_early
    server.run(sockets=[sock])
    blas.restore_original_limits()
    return 0 if server.started else STARTUP_FAILURE


def _fork_worker(
    sock: socket.socket,
    others: list[socket.socket],
    models: dict[str, str],
    config: Config,
    options: dict[str, Any],
) -> int:
    """Fork one worker on ``sock``; it closes its copies of the ``others`` (other workers').

    Stop signals stay blocked until the child has its own handlers.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    pid = os.fork()
    if pid:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        return pid
    code = 1
    try:
        for other in others:
            other.close()
        code = _run_worker(sock, models, config, dict(options))
    except BaseException:
        logging.getLogger("limelight.serving").exception("worker %d failed", os.getpid())
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _check_models(models: dict[str, str], config: Config) -> None:
    """Fail before forking when a reference does not resolve; leave no open connection behind."""
    from limelight.registry import Registry
    from limelight.store import open_store

    store = open_store(config)
    try:
        registry = Registry(store=store)
        for ref in models.values():
            registry.get(ref)
    finally:
        store.dispose()


def _prepare_to_fork() -> None:
    """Import once what every worker needs, then freeze the heap so forks share it.

    Nothing here may start a thread (Arrow's pools included): a fork would inherit its locks
    held. ``gc.freeze`` keeps the collector from touching (and so copying) the inherited
    objects in each worker.
    """
    import limelight.serving._app  # noqa: F401

    gc.collect()
    gc.freeze()


def serve(
    models: Mapping[str, str] | list[str],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    config: Config | None = None,
    ready_file: str | os.PathLike[str] | None = None,
    **options: Any,
) -> int:
    """Serve ``models`` with ``workers`` processes until SIGTERM or SIGINT; the exit code.

    ``options`` go to :func:`create_app` (``token``, ``max_body_bytes``, ``max_k``,
    ``poll_seconds``, ...) and ``graceful_seconds``, ``log_level``, ``header_timeout`` (seconds
    a connection may take to send a request head; it is closed after that). ``ready_file`` receives
    the URL once the socket listens (useful with ``port=0``).
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 64:
        raise InvalidInputError(f"workers must be an integer from 1 to 64, not {workers!r}")
    specs = parse_model_specs(models)
    check_header_timeout(options.get("header_timeout", DEFAULT_HEADER_TIMEOUT))
    config = config or resolve_config()
    _check_models(specs, config)
    load_secret(config.home)  # made once here, not raced by the workers
    # one table of logged feedback for all workers, mapped before they fork
    options.setdefault("seen_feedback", SeenFeedback())
    # the workers only make events durable; one process of its own commits them to the tables
    options["commit_events"] = False
    committer = _Committer(config)
    _prepare_to_fork()

    sockets = bind_sockets(host, port, workers)
    bound = sockets[0].getsockname()[1]
    url = f"http://{host}:{bound}" if ":" not in host else f"http://[{host}]:{bound}"
    stopping = threading.Event()

    def stop(signum: int, frame: Any) -> None:
        stopping.set()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    children: dict[int, int] = {}  # pid: the worker's slot, whose socket it accepts from

    def start_worker(slot: int) -> None:
        own = sockets[slot % len(sockets)]
        others = [s for s in sockets if s is not own]
        children[_fork_worker(own, others, specs, config, options)] = slot

    failed = False
    try:
        for slot in range(workers):
            start_worker(slot)
        if ready_file is not None:
            tmp = Path(f"{ready_file}.tmp")
            tmp.write_text(url, encoding="utf-8")
            tmp.replace(ready_file)
        print(
            f"limelight serving {', '.join(f'{k}={v}' for k, v in specs.items())} at {url} with {workers} worker(s)",
            flush=True,
        )
        while not stopping.is_set() and not failed:
            stopping.wait(0.2)
            committer.keep_running()
            for pid, slot, code in _reap(children):
                if stopping.is_set():
                    break
                if code == STARTUP_FAILURE:
                    log.error("worker %d could not start; stopping", pid)
                    failed = True
                    break
                log.warning("worker %d exited with %d; starting another", pid, code)
                if not stopping.is_set():
                    start_worker(slot)
    finally:
        for sock in sockets:
            sock.close()
        codes = _stop_children(children, float(options.get("graceful_seconds", 30.0)) + 5.0)
        committer.stop()  # after the workers: their last events are sealed, and committed now
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 1 if failed or any(codes) else 0


_COMMITTER_MARK = "limelight-event-committer"  # in the committer's command line, to tell it apart


class _Committer:
    """The process that commits the workers' sealed buffers to the event log's tables
    (:func:`limelight.store.events.run_committer`), started again if it dies, stopped (SIGTERM:
    one last pass) after the workers."""

    def __init__(self, config: Config) -> None:
        self.env = dict(
            os.environ,
            LIMELIGHT_HOME=str(config.home),
            LIMELIGHT_DB=config.db,
            LIMELIGHT_ARTIFACTS=config.artifacts,
            LIMELIGHT_EVENTS=config.events,
        )
        self.stopping = False
        self.process = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        code = "from limelight.store.events import committer_main; committer_main()"
        return subprocess.Popen([sys.executable, "-c", code, _COMMITTER_MARK], env=self.env)

    def keep_running(self) -> None:
        code = self.process.poll()
        if code is not None and not self.stopping:
            log.warning("the event committer exited with %s; starting another", code)
            self.process = self._start()

    def stop(self, timeout: float = 60.0) -> None:
        self.stopping = True
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.error("the event committer did not stop; its buffers stay for the next one")
                self.process.kill()
                self.process.wait()


def _reap(children: dict[int, int]) -> list[tuple[int, int, int]]:
    """(pid, slot, exit code) of every worker that has exited, removed from ``children``."""
    done = []
    for pid in list(children):
        try:
            waited, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            waited, status = pid, 0
        if waited:
            done.append((pid, children.pop(pid), os.waitstatus_to_exitcode(status)))
    return done


def _stop_children(children: dict[int, int], timeout: float) -> list[int]:
    """SIGTERM every worker and wait; the exit codes of those that were still running."""
    for pid, _, code in _reap(children):  # died before the stop: already logged or restarted
        log.warning("worker %d had exited with %d", pid, code)
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    codes = []
    deadline = time.monotonic() + timeout
    while children and time.monotonic() < deadline:
        for pid, _, code in _reap(children):
            if code == -signal.SIGKILL:  # killed by someone else while draining: not ours
                log.warning("worker %d was killed while draining", pid)
            else:
                codes.append(code)
        time.sleep(0.05)
    for pid in list(children):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        codes.append(-signal.SIGKILL)
    return codes


@dataclass
class ServerHandle:
    """A server started by :func:`serve_in_background`: its ``url``; ``stop()`` drains it."""

    url: str
    pid: int | None = None
    log_path: Path | None = None
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _server: Any = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _final_log: str | None = field(default=None, repr=False)
    _socket: socket.socket | None = field(default=None, repr=False)

    def stop(self, timeout: float = 30.0) -> int:
        """Drain and stop the server (SIGTERM to its process id); its exit code."""
        if self._process is not None:
            if self._process.poll() is None:
                self._process.send_signal(signal.SIGTERM)
                try:
                    self._process.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
            if self.log_path is not None and self._final_log is None:
                self._final_log = self.log()
                shutil.rmtree(self.log_path.parent, ignore_errors=True)
            return int(self._process.returncode)
        if self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout)
            self._thread = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        return 0

    def log(self) -> str:
        """What the server process wrote to stdout and stderr so far."""
        if self._final_log is not None:
            return self._final_log
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _wait_ready(url: str, deadline: float, alive: Any, why: Any) -> None:
    while time.monotonic() < deadline:
        if not alive():
            raise LimelightError(f"the server stopped before it was ready:\n{why()}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.02)
    raise LimelightError(f"the server at {url} was not ready in time:\n{why()}")


def serve_in_background(
    models: Mapping[str, str] | list[str],
    *,
    port: int = 0,
    host: str = "127.0.0.1",
    workers: int = 1,
    config: Config | None = None,
    in_process: bool = False,
    timeout: float = 60.0,
    env: Mapping[str, str] | None = None,
    **options: Any,
) -> ServerHandle:
    """Start a server on ``host`` (a free port with ``port=0``) and return once it is ready.

    By default it runs as a subprocess (``python -m limelight.serving``) with ``workers``
    processes; ``in_process=True`` runs one uvicorn server in a thread of this process.
    ``options`` are those of :func:`serve` (e.g. ``token``, ``poll_seconds``, ``max_body_bytes``).
    """
    specs = parse_model_specs(models)
    check_header_timeout(options.get("header_timeout", DEFAULT_HEADER_TIMEOUT))
    config = config or resolve_config()
    deadline = time.monotonic() + timeout
    if in_process:
        import uvicorn

        from limelight.serving._app import create_app

        _check_models(specs, config)
        sock = bind_socket(host, port)
        url = f"http://{host}:{sock.getsockname()[1]}"
        graceful = float(options.pop("graceful_seconds", 10.0))
        log_level = str(options.pop("log_level", "warning"))
        header_timeout = check_header_timeout(options.pop("header_timeout", DEFAULT_HEADER_TIMEOUT))
        app = create_app(specs, config=config, **options)
        server = uvicorn.Server(
            uvicorn_config(
                app, log_level=log_level, graceful_seconds=graceful, header_timeout=header_timeout
            )
        )
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="limelight-serve", daemon=True
        )
        thread.start()
        # the asyncio loop serves on this very socket (uvloop on a copy): close it at stop()
        handle = ServerHandle(url, os.getpid(), _server=server, _thread=thread, _socket=sock)
        try:
            _wait_ready(url, deadline, thread.is_alive, lambda: "the server thread ended")
        except BaseException:
            handle.stop()
            raise
        return handle
    folder = Path(tempfile.mkdtemp(prefix="limelight-serve-"))
    ready, log_path = folder / "url", folder / "server.log"
    cmd = [
        sys.executable,
        "-m",
        "limelight.serving",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--ready-file",
        str(ready),
    ]
    for slot, ref in specs.items():
        cmd += ["--model", f"{slot}={ref}"]
    child_env = dict(os.environ if env is None else env)
    child_env.update(
        LIMELIGHT_HOME=str(config.home),
        LIMELIGHT_DB=config.db,
        LIMELIGHT_ARTIFACTS=config.artifacts,
        LIMELIGHT_EVENTS=config.events,
    )
    token = options.pop("token", None)
    if token is not None:
        child_env["LIMELIGHT_TOKEN"] = token
    for name, value in options.items():
        cmd += [f"--{name.replace('_', '-')}", str(value)]
    with open(log_path, "wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=child_env)
    handle = ServerHandle("", process.pid, log_path, _process=process)
    try:
        while not ready.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise LimelightError(f"the server did not start:\n{handle.log()}")
            time.sleep(0.01)
        handle.url = ready.read_text(encoding="utf-8").strip()
        _wait_ready(handle.url, deadline, lambda: process.poll() is None, handle.log)
    except BaseException:
        handle.stop()
        raise
    return handle
