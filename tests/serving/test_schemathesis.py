"""schemathesis with all its checks against a live ``limelight serve``: zero failures.

A recommender, a predictor and a contextual artwork policy are served, under slot names the
OpenAPI document does not know, so the path of ``/v1/predict/{model}`` is given. Runs with and
without a token; the number of examples per operation keeps each run within about a minute on
two busy cores.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from tests.serving._toy import Linear
from tests.serving.conftest import interactions, subprocess_env

from limelight.bandits import LinUCB
from limelight.recsys import EASE
from limelight.registry import Registry
from limelight.serving import ServerHandle, serve_in_background

pytestmark = pytest.mark.slow

MODELS = {"recs": "recs@champion", "artwork": "artwork@champion", "linear": "linear@champion"}
EXAMPLES = 15
TOKEN = "s3cret-token"
# - predict reaches the served predictor by its slot name;
# - a body past --max-body-bytes is refused with 413 (documented) whatever it holds;
# - what the schema cannot say is answered 422 for schema-valid bodies: that a feedback's item
#   was in that recommendation (410 once its id expired), and a predictor's own checks (its
#   number of columns, columns of equal length).
CONFIG = """
[parameters]
"path.model" = "linear"

[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]

[checks.positive_data_acceptance]
expected-statuses = ["2xx", "413"]

[[operations]]
include-name = "POST /v1/feedback"
checks.positive_data_acceptance.expected-statuses = ["2xx", "404", "410", "413", "422"]

[[operations]]
include-name = "POST /v1/predict/{model}"
checks.positive_data_acceptance.expected-statuses = ["2xx", "413", "422"]
"""


@pytest.fixture
def served(home: Path) -> Registry:
    reg = Registry()
    why = "a test model: trained on no dataset"
    recs = reg.register("recs", EASE(l2=1.0).fit(interactions()))
    reg.set_alias("recs", "champion", recs.version, why=why)
    policy = LinUCB(n_actions=4, n_features=3, alpha=0.5, random_state=0)
    reg.set_alias("artwork", "champion", reg.register("artwork", policy).version, why=why)
    linear = Linear(np.array([1.0, 2.0, 3.0]), 0.5)
    signature = {"inputs": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}
    linear_version = reg.register("linear", linear, signature=signature).version
    reg.set_alias("linear", "champion", linear_version, why=why)
    return reg


def run_schemathesis(
    server: ServerHandle, tmp_path: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG, encoding="utf-8")
    st = Path(sys.executable).with_name("schemathesis")
    cmd = [
        str(st),
        "--config-file",
        str(config),
        "run",
        f"{server.url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        "7",
        "--generation-database",
        "none",
        "--request-timeout",
        "20",
        "--no-color",
        *extra,
    ]
    env = dict(os.environ, SCHEMATHESIS_HOOKS="")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=280, env=env)


def report(out: subprocess.CompletedProcess[str]) -> str:
    """schemathesis's output with request bodies cut short (a failing body can be 600 kB)."""
    lines = [line if len(line) < 400 else line[:400] + " ..." for line in out.stdout.splitlines()]
    return "\n".join(lines)[-12000:] + out.stderr[-2000:]


@pytest.fixture
def open_server(served: Registry) -> Iterator[ServerHandle]:
    with serve_in_background(MODELS, env=subprocess_env(), max_body_bytes=50_000) as server:
        yield server


@pytest.fixture
def guarded_server(served: Registry) -> Iterator[ServerHandle]:
    with serve_in_background(
        MODELS, env=subprocess_env(), max_body_bytes=50_000, token=TOKEN
    ) as server:
        yield server


def test_schemathesis_finds_nothing_without_a_token(
    open_server: ServerHandle, tmp_path: Path
) -> None:
    out = run_schemathesis(open_server, tmp_path)
    assert out.returncode == 0, report(out)


def test_schemathesis_finds_nothing_with_a_token(
    guarded_server: ServerHandle, tmp_path: Path
) -> None:
    out = run_schemathesis(guarded_server, tmp_path, "--header", f"Authorization: Bearer {TOKEN}")
    assert out.returncode == 0, report(out)


@pytest.mark.parametrize(
    ("context", "given"),
    [({"artworks": {}}, "none"), ({"features": [0.5]}, "1"), ({"features": [1, 2, 3, 4]}, "4")],
)
def test_a_contextual_policy_without_its_features_is_the_clients_422(
    open_server: ServerHandle, context: dict[str, object], given: str
) -> None:
    """Schemathesis found this one as a 502: the policy's refusal is about the request."""
    body = {"user_id": "0", "k": 3, "context": context}
    response = httpx.post(f"{open_server.url}/v1/recommend", json=body)
    assert response.status_code == 422, response.text
    message = response.json()["message"]
    assert "artwork/1 needs context.features: 3 numbers" in message and f"given: {given}" in message
