"""A live dashboard server in a thread, and what a browser page reports (console, dialogs)."""

from __future__ import annotations

import importlib.util
import socket
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TOKEN = "test-token-0123456789"


def under_ci(environ: Mapping[str, str]) -> bool:
    """True when ``CI`` is set to anything but an empty, 0, false or no value."""
    return environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def browser_verdict(environ: Mapping[str, str], chromium: str = CHROMIUM) -> tuple[str, str] | None:
    """None when the browser tests can run, else ("skip" or "fail", why): fail only under CI."""
    if not Path(chromium).exists():
        reason = f"chromium is not installed at {chromium} (apt-get install -y chromium)"
    elif importlib.util.find_spec("playwright") is None:
        reason = "the playwright package is not installed (pip install playwright)"
    else:
        return None
    if under_ci(environ):
        return "fail", f"browser tests need chromium under CI: {reason}"
    return "skip", reason


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """uvicorn serving ``app`` from a thread; ``url`` is its address."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off", ws="none"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"the dashboard did not start on {self.url}")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


class Console:
    """Console errors, uncaught page errors and alert dialogs seen by one page."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on(
            "console",
            lambda m: (
                self.errors.append(f"{m.text} ({m.location.get('url')})")
                if m.type == "error"
                else None
            ),
        )
        page.on("pageerror", lambda e: self.errors.append(str(e)))

        def dialog(d: Any) -> None:
            self.dialogs.append(d.message)
            d.dismiss()

        page.on("dialog", dialog)
