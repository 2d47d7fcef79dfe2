"""Content hashing: BLAKE3 digests, and hashing in a process forked after its parent hashed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import blake3

from limelight.core.hashing import Hasher, hash_bytes, hash_chunks

BIG = 16 << 20  # large enough for BLAKE3 to hash on several threads


def test_digests_are_blake3_of_the_concatenation() -> None:
    data = os.urandom(BIG + 3)
    expected = blake3.blake3(data).hexdigest()
    assert hash_bytes(data) == expected
    assert hash_chunks([data[:5], data[5:BIG], data[BIG:]]) == expected
    hasher = Hasher()
    hasher.update(memoryview(data))
    assert hasher.hexdigest() == expected


def test_a_process_forked_after_its_parent_hashed_on_threads_can_hash() -> None:
    # In a fresh interpreter (this one's thread pool may or may not have started): the parent
    # hashes a large buffer on several threads, then a forked child hashes one. Before the fix
    # the child waited for the parent's pool threads for ever.
    script = textwrap.dedent(
        f"""
        import multiprocessing as mp
        import os

        from limelight.core import hashing

        data = b"x" * {BIG}

        def child(queue):
            digest = hashing.hash_bytes(data)
            queue.put((digest, hashing._pool_owner == os.getpid()))

        def in_child():
            process = ctx.Process(target=child, args=(queue,))
            process.start()
            process.join(30)
            if process.is_alive():
                process.kill()
                raise SystemExit("the forked child hung hashing")
            return queue.get(timeout=5)

        ctx = mp.get_context("fork")
        queue = ctx.Queue()
        # forked before this process hashed: the child starts and owns its own pool
        first, owns = in_child()
        assert owns, "a child of a process that never hashed should hash on threads"
        parent = hashing.hash_bytes(data)
        second, owns = in_child()
        assert first == second == parent, "the digests differ"
        assert not owns, "the parent's pool is not the child's"
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert done.stdout.strip() == "ok"
