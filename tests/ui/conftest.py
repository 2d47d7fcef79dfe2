"""A seeded store, the dashboard on a live local server, and Debian's chromium driven headless.

The server is uvicorn in a thread of the test process on 127.0.0.1 and a free port, stopped by
asking it to exit. Without chromium (or Playwright) the browser tests skip with the reason,
except under CI (``CI`` set to anything but empty, 0, false or no), where they fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from tests.ui._live import CHROMIUM, CHROMIUM_ARGS, TOKEN, Console, LiveServer, browser_verdict
from tests.ui._seed import seed_all

from limelight.core.config import Config, resolve_config


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, dict[str, Any]]:
    home = tmp_path_factory.mktemp("ui-home")
    config = resolve_config(home=home, cwd=home, environ={})
    return config, seed_all(config)


@pytest.fixture(scope="session")
def live(seeded: tuple[Config, dict[str, Any]]) -> Iterator[LiveServer]:
    from limelight.ui import create_app

    with LiveServer(create_app(seeded[0], token=TOKEN)) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium, driven through Playwright's sync API for one module's tests.

    Not session-wide: while Playwright's sync API is open its event loop counts as running in
    the main thread, so a later test on the same worker that calls ``asyncio.run`` would fail.
    """
    verdict = browser_verdict(os.environ)
    if verdict is not None:
        action, reason = verdict
        if action == "fail":
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[tuple[Any, Console]]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(10_000)
    console = Console(opened)
    yield opened, console
    context.close()
