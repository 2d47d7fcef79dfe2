"""``limelight ui`` serves the dashboard; bad input is a clear error; importing stays light."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tests.ui._live import LiveServer, free_port

from limelight.core.config import resolve_config

LIMELIGHT = Path(sys.executable).parent / "limelight"


def test_limelight_ui_serves_the_dashboard(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "LIMELIGHT_HOME": str(tmp_path / "home")}
    env.pop("LIMELIGHT_TOKEN", None)
    process = subprocess.Popen(
        [str(LIMELIGHT), "ui", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/runs")
                break
            except httpx.ConnectError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(process.communicate()[1].decode()) from None
                time.sleep(0.1)
        assert response.status_code == 200
        assert "no runs match" in response.text and "read-only" in response.text
        assert httpx.get(f"http://127.0.0.1:{port}/static/plotly.min.js").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/static/../_app.py").status_code == 404
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "70000"], "70000 is not in the range"),
        (["--port", "eighty"], "'eighty' is not a valid integer"),
    ],
)
def test_limelight_ui_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    done = subprocess.run(
        [str(LIMELIGHT), "ui", *args], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert message in done.stderr


def test_bad_query_parameters_say_what_to_fix(tmp_path: Path) -> None:
    from limelight.ui import create_app

    app = create_app(resolve_config(home=tmp_path, cwd=tmp_path, environ={}))
    cases = {
        "/runs?page=0": "page must be 1 or more",
        "/runs?page=two": "page must be a whole number written with the digits 0-9",
        "/runs?per_page=7": "per_page must be one of 25, 50, 100, 200",
        "/runs?status=done": "unknown status 'done'",
        "/runs?order=colour": "cannot sort by 'colour'",
        "/compare?run=Flow/x": "is not a run",
    }
    with LiveServer(app) as server, httpx.Client(base_url=server.url) as client:
        for path, message in cases.items():
            response = client.get(path)
            assert response.status_code == 400, path
            assert message in response.text.replace("&#39;", "'"), path
        assert "Tick runs on the" in client.get("/compare").text


def test_importing_the_ui_package_loads_no_web_server() -> None:
    code = "import sys, limelight.ui; print(sorted({'starlette', 'uvicorn', 'jinja2', 'plotly'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_mounted_under_a_prefix_every_link_keeps_it(tmp_path: Path) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from limelight.tracking import start_run
    from limelight.ui import create_app

    config = resolve_config(home=tmp_path, cwd=tmp_path, environ={})
    with start_run("mounted", config=config) as run:
        run.log_metric("m", 1.0)
    host = Starlette(routes=[Mount("/ui", app=create_app(config, token="t"))])
    with LiveServer(host) as server, httpx.Client(base_url=server.url) as client:
        home = client.get("/ui/", follow_redirects=False)
        assert home.status_code == 307 and home.headers["location"] == "/ui/runs"
        page = client.get("/ui/runs")
        assert page.status_code == 200
        assert f'href="/ui/runs/mounted/{run.id}"' in page.text
        assert 'src="/ui/static/plotly.min.js"' in page.text
        assert "Path=/ui" in page.headers["set-cookie"]
        assert "SameSite=strict" in page.headers["set-cookie"]
        assert client.get(f"/ui/runs/mounted/{run.id}").status_code == 200
