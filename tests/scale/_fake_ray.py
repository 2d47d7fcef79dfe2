"""Just enough of Ray's documented API to drive ``RayExecutor`` without a Ray cluster.

Ray is not run in these tests (it cannot be kept on loopback, see docs/deploy.md): tasks run in
a pool of spawned processes on one pretend node, and a task asking for more than the node has
stays pending, as Ray keeps an infeasible task, until it is cancelled.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
from typing import Any

NODE = {"NodeID": "f" * 56, "Alive": True, "Resources": {"CPU": 2.0, "memory": 2.0 * 2**30}}


class _FakeRef:
    def __init__(self, future: Any, pending: bool = False) -> None:
        self.future, self.pending = future, pending

    def hex(self) -> str:
        return f"{id(self):032x}"


class _FakeRemote:
    """``ray.remote(...)(fn)``: runs ``fn`` in a pool of spawned processes, records options."""

    def __init__(self, fake: FakeRay, fn: Any, options: dict[str, Any]) -> None:
        self.fake, self.fn, self.opts = fake, fn, options

    def options(self, **options: Any) -> _FakeRemote:
        return _FakeRemote(self.fake, self.fn, {**self.opts, **options})

    def remote(self, *args: Any) -> _FakeRef:
        self.fake.submitted.append(self.opts)
        asked = {
            "CPU": self.opts.get("num_cpus", 1),
            "GPU": self.opts.get("num_gpus", 0),
            "memory": self.opts.get("memory", 0),
        }
        if any(amount > NODE["Resources"].get(name, 0) for name, amount in asked.items()):
            return _FakeRef(concurrent.futures.Future(), pending=True)  # infeasible: never runs
        return _FakeRef(self.fake.pool.submit(self.fn, *args))


class FakeRay:
    """The ``ray`` module, as far as ``RayExecutor`` uses it."""

    class exceptions:
        class WorkerCrashedError(Exception):
            pass

    def __init__(self) -> None:
        self.pool = concurrent.futures.ProcessPoolExecutor(
            2, mp_context=multiprocessing.get_context("spawn")
        )
        self.submitted: list[dict[str, Any]] = []
        self.inits: list[str] = []
        self.initialized = False

    def is_initialized(self) -> bool:
        return self.initialized

    def init(self, address: str, log_to_driver: bool) -> None:
        self.inits.append(address)
        self.initialized = True

    def shutdown(self) -> None:
        self.initialized = False

    def remote(self, **options: Any) -> Any:
        return lambda fn: _FakeRemote(self, fn, options)

    def wait(self, refs: list[_FakeRef], **kwargs: Any) -> tuple[list[Any], list[Any]]:
        done, _ = concurrent.futures.wait(
            [r.future for r in refs], timeout=kwargs["timeout"], return_when="FIRST_COMPLETED"
        )
        ready = [r for r in refs if r.future in done][: kwargs["num_returns"]]
        return ready, [r for r in refs if r not in ready]

    def get(self, ref: _FakeRef) -> Any:
        return ref.future.result()

    def cancel(self, ref: _FakeRef, force: bool) -> None:
        if ref.future.cancel() and ref.pending:
            ref.future.set_running_or_notify_cancel()  # what the pool does for its own

    def cluster_resources(self) -> dict[str, float]:
        return {"CPU": 2.0}

    def nodes(self) -> list[dict[str, Any]]:
        return [NODE]
