"""Team-draft interleaving: the merge rule, attribution, and the preference test."""

from __future__ import annotations

import numpy as np
import pytest

from limelight.core.errors import InvalidInputError
from limelight.experiments import (
    interleaving_credit,
    interleaving_preference,
    team_draft,
    team_draft_batch,
)


def test_identical_rankings_interleave_to_the_same_list_with_balanced_teams() -> None:
    items, teams = team_draft(
        ["a", "b", "c", "d", "e", "f"], ["a", "b", "c", "d", "e", "f"], k=6, seed=1
    )
    assert items == ["a", "b", "c", "d", "e", "f"]
    assert teams.count("a") == teams.count("b") == 3


def test_each_team_contributes_its_own_ranking_in_order() -> None:
    a, b = [1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1]
    for seed in range(20):
        items, teams = team_draft(a, b, k=4, seed=seed)
        picked_a = [i for i, t in zip(items, teams, strict=True) if t == "a"]
        picked_b = [i for i, t in zip(items, teams, strict=True) if t == "b"]
        assert picked_a == a[: len(picked_a)]
        assert picked_b == b[: len(picked_b)]
        assert abs(len(picked_a) - len(picked_b)) <= 1 and len(set(items)) == 4


def test_items_already_shown_are_skipped_by_the_other_team() -> None:
    items, teams = team_draft(["x", "y", "z"], ["x", "w", "v"], k=4, seed=0)
    assert len(set(items)) == 4 and items[0] == "x"
    picked_b = [i for i, t in zip(items, teams, strict=True) if t == "b"]
    assert "x" not in picked_b or teams[0] == "b"


def test_a_spent_ranker_lets_the_other_fill_the_list() -> None:
    items, teams = team_draft(["a"], ["b", "c", "d"], k=4, seed=3)
    assert sorted(items) == ["a", "b", "c", "d"]
    assert teams.count("a") == 1
    short, _ = team_draft(["a"], ["a"], k=5, seed=3)
    assert short == ["a"]


def test_the_first_pick_is_a_fair_coin_and_the_seed_fixes_it() -> None:
    a = np.tile(np.arange(10), (20_000, 1))
    b = a[:, ::-1].copy()
    items, teams = team_draft_batch(a, b, k=6, seed=5)
    assert abs((teams[:, 0] == 0).mean() - 0.5) < 0.015
    again, teams_again = team_draft_batch(a, b, k=6, seed=5)
    assert np.array_equal(items, again) and np.array_equal(teams, teams_again)
    assert (np.abs((teams == 0).sum(1) - (teams == 1).sum(1)) == 0).all()


def test_credit_goes_to_the_team_that_placed_the_played_item() -> None:
    teams = np.array([[0, 1, 0, 1], [1, 0, 1, 0]])
    plays = np.array([[1, 0, 1, 0], [0, 0, 1, 1]])
    credit_a, credit_b = interleaving_credit(teams, plays)
    assert credit_a.tolist() == [2.0, 1.0] and credit_b.tolist() == [0.0, 1.0]


def test_preference_counts_wins_and_tests_them() -> None:
    res = interleaving_preference([2, 1, 0, 3, 0, 1], [0, 1, 0, 1, 2, 0])
    assert (res.wins_a, res.wins_b, res.ties, res.n_engaged, res.n_users) == (3, 1, 1, 5, 6)
    assert res.preference == pytest.approx((3 - 1) / 5)
    assert res.delta == pytest.approx((3 + 0.5) / 5 - 0.5)
    assert res.sign_test_p == pytest.approx(0.625)
    assert res.ci_low < res.preference < res.ci_high


def test_unanimous_users_fall_back_to_the_sign_test() -> None:
    res = interleaving_preference([1] * 10, [0] * 10)
    assert res.preference == 1.0 and res.p_value == pytest.approx(2 * 0.5**10)


def test_the_preference_test_holds_its_level_when_rankers_are_equal() -> None:
    rng = np.random.default_rng(4)
    p_values = [
        interleaving_preference(rng.poisson(0.5, 300), rng.poisson(0.5, 300)).p_value
        for _ in range(1000)
    ]
    assert 0.03 <= np.mean(np.array(p_values) < 0.05) <= 0.07


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: interleaving_preference([0, 0], [0, 0]), "no user played"),
        (lambda: interleaving_preference([1, 0], [0, 1, 1]), "parallel"),
        (lambda: interleaving_credit(np.zeros((2, 3)), np.zeros((2, 2))), "same shape"),
        (lambda: team_draft(["a", "a"], ["b"], k=2), "twice"),
        (lambda: team_draft("abc", ["b"], k=2), "not a single string"),
        (lambda: team_draft(["a"], ["b"], k=0), "positive integer"),
        (lambda: team_draft_batch(np.zeros((2, 3), int), np.zeros((3, 3), int), k=2), "rows"),
        (lambda: team_draft_batch(np.zeros((2, 3)), np.zeros((2, 3)), k=2), "integer"),
    ],
)
def test_bad_input_is_rejected(call: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        call()  # type: ignore[operator]
