"""``limelight serve`` mounts the dashboard under /ui, next to the API."""

from __future__ import annotations

from pathlib import Path

import httpx

from limelight.core.config import resolve_config
from limelight.registry import Registry
from limelight.serving import serve_in_background
from limelight.ui import create_app as dashboard


def test_dashboard_is_mounted_under_ui_beside_the_api(home: Path) -> None:
    registry = Registry()
    registry.register("m", {"weights": [1, 2]})
    registry.set_alias("m", "champion", 1)
    with serve_in_background(
        {"m": "m@champion"}, config=resolve_config(), in_process=True, mounts={"/ui": dashboard}
    ) as server:
        assert httpx.get(server.url + "/healthz").status_code == 200
        page = httpx.get(server.url + "/ui/models")
        assert page.status_code == 200
        assert 'href="/ui/runs"' in page.text and ">m<" in page.text
        assert httpx.get(server.url + "/ui/").headers["location"] == "/ui/runs"
