"""A backstop behind pytest-timeout's signal method, so that no test can hang the run.

The signal method (SIGALRM, the default where it exists) fails a test that outlives its
timeout and the session goes on, with the stacks printed. It fires once, though: a test whose
clean-up blocks again (a thread pool's ``shutdown(wait=True)``, a ``finally`` that joins a
thread waiting for ever) would then hang the run. So each test also gets a timer thread, set
``timeout_backstop`` seconds (an ini setting) past its timeout, that does what the thread
method does: print every thread's stack and end the session with ``os._exit(1)``.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
import pytest_timeout

__all__ = ["pytest_addoption", "pytest_timeout_cancel_timer", "pytest_timeout_set_timer"]

_TIMER = pytest.StashKey[threading.Timer]()
_HELP = (
    "seconds past a test's timeout (signal method) after which the session ends with every "
    "thread's stack printed, when the test has still not ended; 0 turns the backstop off"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("timeout_backstop", _HELP, default="30")


def _end_session(item: pytest.Item, settings: Any, grace: float) -> None:
    item.config.get_terminal_writer().line(
        f"{item.nodeid} was failed by its timeout ({settings.timeout:g} s) and still had not "
        f"ended {grace:g} s later: ending the session (timeout_backstop)"
    )
    pytest_timeout.timeout_timer(item, settings)  # prints the stacks, then os._exit(1)


@pytest.hookimpl(tryfirst=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> None:
    """Start the backstop beside pytest-timeout's own timer (returns None: both run)."""
    grace = float(item.config.getini("timeout_backstop"))
    if settings.method != "signal" or grace <= 0:
        return
    timer = threading.Timer(settings.timeout + grace, _end_session, (item, settings, grace))
    timer.name = f"timeout backstop {item.nodeid}"
    timer.daemon = True
    item.stash[_TIMER] = timer
    timer.start()


@pytest.hookimpl(tryfirst=True)
def pytest_timeout_cancel_timer(item: pytest.Item) -> None:
    timer = item.stash.get(_TIMER, None)
    if timer is not None:
        timer.cancel()
        del item.stash[_TIMER]
