"""Fixtures of the serving tests: a home with registered models, and servers on 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from tests.serving._toy import Linear

from limelight.bandits import EpsilonGreedy
from limelight.recsys import EASE, Interactions, Popularity
from limelight.registry import Registry
from limelight.serving import Client, ServerHandle, serve_in_background

ROOT = Path(__file__).resolve().parents[2]
MODELS = {"recs": "recs@champion", "artwork": "artwork@champion", "linear": "linear@champion"}

# Users u0..u5 and items 10..15; u0 saw 10, 11; item 10 is the most popular.
USERS = ["u0", "u0", "u1", "u1", "u2", "u2", "u3", "u4", "u5", "u5"]
ITEMS = [10, 11, 10, 12, 10, 13, 11, 14, 10, 15]


def interactions() -> Interactions:
    return Interactions.from_arrays(USERS, ITEMS)


@pytest.fixture
def registry(home: Path) -> Registry:
    """recs v1 (EASE, champion) and v2 (Popularity, challenger), an artwork policy, a linear model."""
    reg = Registry()
    data = interactions()
    v1 = reg.register("recs", EASE(l2=1.0).fit(data))
    v2 = reg.register("recs", Popularity().fit(data))
    reg.set_alias("recs", "champion", v1.version, why="a test model")
    reg.set_alias("recs", "challenger", v2.version)
    policy = EpsilonGreedy(n_actions=4, epsilon=0.2, random_state=0)
    policy.update(None, 2, 1.0)
    reg.set_alias(
        "artwork", "champion", reg.register("artwork", policy).version, why="a test model"
    )
    linear = Linear(np.array([1.0, 2.0, 3.0]), 0.5)
    signature = {"inputs": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}
    linear_version = reg.register("linear", linear, signature=signature).version
    reg.set_alias("linear", "champion", linear_version, why="a test model")
    return reg


@pytest.fixture
def server(registry: Registry) -> Iterator[ServerHandle]:
    """An in-process server (one uvicorn in a thread) that follows aliases every 0.1 s."""
    handle = serve_in_background(MODELS, in_process=True, poll_seconds=0.1)
    yield handle
    handle.stop()


def subprocess_env() -> dict[str, str]:
    """The environment of a server subprocess: it must import ``tests.serving._toy``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


@pytest.fixture
def client(server: ServerHandle) -> Iterator[Client]:
    with Client(server.url) as c:
        yield c
