"""The dashboard's OpenAPI description matches its routes, and schemathesis, with every check,
finds nothing against a live dashboard over the seeded store."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.ui._live import LiveServer

ST = Path(sys.executable).parent / "st"

# Only GET /runs may answer 400 to schema-valid data: its where and order parameters are texts in
# the filter grammar, which a JSON schema cannot express, so most generated texts are rightly
# refused. Every other operation is held to schemathesis' defaults. (Filters in one entry are
# alternatives, so this entry names the path alone: /runs has no other method.)
CONFIG = """
[[operations]]
include-path = "/runs"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "404"]
"""


def test_the_document_lists_every_route_with_its_parameters(live: LiveServer) -> None:
    from starlette.routing import Route

    from limelight.ui._mlflow._run_artifacts import WEB_UI_HANDLERS

    document = httpx.get(live.url + "/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    app = live.server.config.app
    routes = {
        (r.path.replace(":path}", "}"), m)
        for r in app.routes
        # MLflow's web-UI downloads are MLflow's API (documented by MLflow), not dashboard pages
        if isinstance(r, Route) and r.path not in WEB_UI_HANDLERS
        for m in r.methods or ()
    }
    described = {(p, m.upper()) for p, ops in document["paths"].items() for m in ops}
    assert described == {(p, m) for p, m in routes if m != "HEAD"}
    runs = {p["name"] for p in document["paths"]["/runs"]["get"]["parameters"]}
    assert runs == {"flow", "status", "tag", "where", "order", "page", "per_page"}
    alias = document["paths"]["/models/{name}/alias"]["post"]
    form = alias["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert set(form["properties"]) == {"alias", "version", "why", "csrf", "token"}
    assert {"303", "400", "403", "404", "409"} == set(alias["responses"])


@pytest.mark.slow
def test_schemathesis_with_every_check_finds_nothing(live: LiveServer, tmp_path: Path) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    command: list[Any] = [
        ST,
        "--config-file",
        config,
        "run",
        f"{live.url}/openapi.json",
        "--checks",
        "all",
        "--workers",
        "1",
        "--max-examples",
        "25",
        "--seed",
        "1",
        "--generation-database",
        "none",
        "--no-color",
        "--report",
        "junit",
        "--report-dir",
        tmp_path,
    ]
    done = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, timeout=280, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "❌" not in done.stdout and "Coverage" in done.stdout and "Fuzzing" in done.stdout
    report = next(tmp_path.glob("junit-*.xml")).read_text()
    suite = re.search(r"<testsuite [^>]*>", report)
    assert suite is not None
    counts = dict(re.findall(r'(\w+)="(\d+)"', suite.group(0)))
    assert int(counts["tests"]) >= 10 and counts["failures"] == counts["errors"] == "0"
