"""No test can hang the run: pytest-timeout with the backstop of ``tests/_timeout_backstop.py``.

Each check runs an inner pytest in a subprocess (timeout 1 s, backstop 2 s) on tests that
block for ever, and looks at how that run ended.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
INNER = ("-p", "tests._timeout_backstop", "-o", "timeout=1", "-o", "timeout_backstop=2")


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    paths = [str(ROOT), str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
    return pytester


def test_a_test_blocked_in_a_thread_wait_fails_and_the_session_goes_on(
    inner: pytest.Pytester,
) -> None:
    inner.makepyfile(
        """
        import concurrent.futures
        import threading

        def test_waits_on_an_event():
            threading.Event().wait()

        def test_waits_on_a_future():
            concurrent.futures.Future().result()

        def test_joins_a_thread_that_waits():
            thread = threading.Thread(target=threading.Event().wait, daemon=True)
            thread.start()
            thread.join()

        def test_after_them():
            pass
        """
    )
    result = inner.runpytest_subprocess(*INNER, timeout=120)
    result.assert_outcomes(failed=3, passed=1)
    # one reason line per failure (the short summary may repeat it, as wide as the terminal)
    reasons = [
        line
        for line in result.stdout.lines
        if line.startswith("E ") and "Failed: Timeout (>1.0s) from pytest-timeout" in line
    ]
    assert len(reasons) == 3, result.stdout.str()


def test_a_test_whose_clean_up_blocks_again_ends_the_session_with_the_stacks(
    inner: pytest.Pytester,
) -> None:
    inner.makepyfile(
        """
        import threading

        def test_blocks_in_its_clean_up_too():
            never = threading.Event()
            try:
                never.wait()
            finally:
                never.wait()  # as a pool's shutdown(wait=True) joining a thread that never ends

        def test_never_reached():
            pass
        """
    )
    result = inner.runpytest_subprocess(*INNER, timeout=120)
    assert result.ret == 1
    out = result.stdout.str()
    assert "still had not ended 2 s later: ending the session (timeout_backstop)" in out
    assert "Stack of MainThread" in out and "never.wait()  # as a pool" in out
    assert "test_never_reached" not in out
