"""Allocation: deterministic, uniform, independent across salts, exclusive within a layer."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from limelight.core.errors import InvalidInputError
from limelight.experiments import (
    ExperimentSpec,
    Variant,
    allocate,
    allocate_many,
    assign,
    assignment_fields,
    hash_unit,
)

N_USERS = 1_000_000


@pytest.fixture(scope="module")
def user_ids() -> list[str]:
    return [f"user-{i}" for i in range(N_USERS)]


def running(
    name: str, salt: str, shares: tuple[float, ...] = (0.5, 0.5), **kw: object
) -> ExperimentSpec:
    variants = tuple(Variant(f"v{i}", s) for i, s in enumerate(shares))
    return ExperimentSpec(
        name=name,
        salt=salt,
        variants=variants,  # type: ignore[arg-type]
        status="running",
        **kw,
    )


def test_hash_unit_is_blake2b_of_salt_and_id() -> None:
    digest = hashlib.blake2b(b"exp-1\x1fuser-42", digest_size=8).digest()
    expected = (int.from_bytes(digest, "big") >> 11) / 2**53
    assert hash_unit(["user-42"], "exp-1")[0] == expected
    assert hash_unit([42], "exp-1")[0] == hash_unit(["42"], "exp-1")[0]


def test_allocation_is_the_same_in_another_process_with_another_hash_seed() -> None:
    ids = [f"u{i}" for i in range(200)]
    here = allocate_many(ids, "salt-x", [0.3, 0.7]).tolist()
    code = (
        "from limelight.experiments import allocate_many;"
        f"print(allocate_many({ids!r}, 'salt-x', [0.3, 0.7]).tolist())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == str(here)
    assert allocate("u7", "salt-x", [0.3, 0.7]) == here[7]


def test_points_are_uniform_over_a_million_ids(user_ids: list[str]) -> None:
    u = hash_unit(user_ids, "uniformity")
    assert u.min() >= 0.0 and u.max() < 1.0
    counts = np.bincount((u * 100).astype(int), minlength=100)
    assert stats.chisquare(counts).pvalue > 0.001


def test_variants_get_their_shares_over_a_million_ids(user_ids: list[str]) -> None:
    shares = [0.2, 0.3, 0.5]
    counts = np.bincount(allocate_many(user_ids, "shares", shares), minlength=3)
    assert stats.chisquare(counts, N_USERS * np.array(shares)).pvalue > 0.001


def test_experiments_with_different_salts_are_independent(user_ids: list[str]) -> None:
    a = (hash_unit(user_ids, "exp-a") * 10).astype(int)
    b = (hash_unit(user_ids, "exp-b") * 10).astype(int)
    table = np.zeros((10, 10))
    np.add.at(table, (a, b), 1)
    assert stats.chi2_contingency(table).pvalue > 0.001
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.005


def test_a_user_is_never_in_two_experiments_of_one_layer() -> None:
    ids = [f"member-{i}" for i in range(60_000)]
    layer = [
        running("search", "s-1", layer="home", layer_slice=(0.0, 0.25)),
        running("rows", "s-2", layer="home", layer_slice=(0.25, 0.75)),
        running("art", "s-3", layer="home", layer_slice=(0.75, 1.0)),
    ]
    other = running("pricing", "s-4")
    seen = np.zeros(3)
    for uid in ids:
        got = assign(uid, [*layer, other], now=0.0)
        in_layer = [i for i, spec in enumerate(layer) if spec.name in got]
        assert len(in_layer) == 1  # the slices cover the layer, so exactly one
        seen[in_layer[0]] += 1
        assert "pricing" in got
    assert stats.chisquare(seen, len(ids) * np.array([0.25, 0.5, 0.25])).pvalue > 0.001


def test_layer_slices_that_overlap_are_refused_before_assigning() -> None:
    a = running("a", "s-a", layer="home", layer_slice=(0.0, 0.6))
    b = running("b", "s-b", layer="home", layer_slice=(0.4, 1.0))
    with pytest.raises(InvalidInputError, match="overlap"):
        assign("u1", [a, b], now=0.0)


def test_assign_honours_status_and_start_stop() -> None:
    live = running("live", "l", start=100.0, stop=200.0)
    draft = ExperimentSpec(name="draft", salt="d", variants=(Variant("a", 0.5), Variant("b", 0.5)))
    assert assign("u1", [live, draft], now=50.0) == {}
    assert set(assign("u1", [live, draft], now=150.0)) == {"live"}
    assert assign("u1", [live, draft], now=200.0) == {}


def test_assign_matches_allocate_and_fills_the_event_fields() -> None:
    exps = [running("b-exp", "sb", (0.1, 0.9)), running("a-exp", "sa", (0.5, 0.25, 0.25))]
    got = assign("user-9", exps, now=0.0)
    assert got["a-exp"] == f"v{allocate('user-9', 'sa', [0.5, 0.25, 0.25])}"
    assert got["b-exp"] == f"v{allocate('user-9', 'sb', [0.1, 0.9])}"
    fields = assignment_fields(got)
    assert fields == {"experiments": ["a-exp", "b-exp"], "variants": [got["a-exp"], got["b-exp"]]}


@pytest.mark.parametrize(
    ("shares", "message"),
    [([0.5, 0.4], "sum to"), ([1.2, -0.2], "non-negative"), ([], "non-negative")],
)
def test_bad_shares_are_rejected(shares: list[float], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        allocate("u1", "salt", shares)


def test_bad_ids_and_salts_are_rejected() -> None:
    with pytest.raises(InvalidInputError, match="user ids"):
        allocate(1.5, "salt", [1.0])  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="salt"):
        allocate("u1", "", [1.0])
