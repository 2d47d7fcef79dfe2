"""Splits keep id maps, hold out what they say, and refuse to starve a user of training data."""

from __future__ import annotations

import numpy as np
import pytest

from limelight.core.errors import InvalidInputError
from limelight.recsys import (
    Interactions,
    filter_interactions,
    leave_last_n_out,
    random_holdout,
    temporal_split,
)


def _data(n_users: int = 30, per_user: int = 10, seed: int = 0) -> Interactions:
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(n_users), per_user)
    items = np.concatenate([rng.choice(50, per_user, replace=False) for _ in range(n_users)])
    ts = rng.permutation(len(users)).astype(np.int64)
    return Interactions.from_arrays(
        users, items, rating=rng.integers(1, 6, len(users)), timestamp=ts
    )


def test_random_holdout_holds_out_the_fraction_of_each_user_and_is_seeded() -> None:
    data = _data()
    train, test = random_holdout(data, 0.2, seed=3)
    assert len(train) + len(test) == len(data)
    assert np.all(test.user_counts() == 2) and np.all(train.user_counts() == 8)
    assert np.array_equal(train.item_ids, data.item_ids)  # same id maps
    again, _ = random_holdout(data, 0.2, seed=3)
    other, _ = random_holdout(data, 0.2, seed=4)
    assert np.array_equal(train.item_index, again.item_index)
    assert not np.array_equal(train.item_index, other.item_index)
    # no pair is in both parts
    pairs = set(zip(train.user_index.tolist(), train.item_index.tolist(), strict=True))
    assert not pairs & set(zip(test.user_index.tolist(), test.item_index.tolist(), strict=True))


def test_random_holdout_is_uniform_over_a_users_items() -> None:
    data = Interactions.from_arrays(np.zeros(10, dtype=int), np.arange(10))
    held = np.zeros(10)
    for seed in range(2000):
        _, test = random_holdout(data, 0.2, seed=seed)
        held[test.item_index] += 1
    # each item is held out with probability 0.2: 400 of 2000 (sd ~ 17.9)
    assert np.all(np.abs(held - 400) < 5 * 17.9)


def test_a_single_interaction_stays_in_train() -> None:
    data = Interactions.from_arrays([1, 2, 2, 2, 2, 2], [1, 1, 2, 3, 4, 5])
    train, test = random_holdout(data, 0.5, seed=0)
    assert train.user_counts()[0] == 1 and test.user_counts()[0] == 0


def test_leave_last_n_out_holds_out_the_latest() -> None:
    data = Interactions.from_arrays([1, 1, 1, 2, 2], [1, 2, 3, 1, 2], timestamp=[5, 9, 7, 1, 2])
    train, test = leave_last_n_out(data, 1)
    got = sorted(
        zip(
            test.user_ids[test.user_index].tolist(),
            test.item_ids[test.item_index].tolist(),
            strict=True,
        )
    )
    assert got == [(1, 2), (2, 2)]
    assert len(train) == 3


def test_a_split_that_leaves_a_user_without_training_data_is_an_error() -> None:
    data = Interactions.from_arrays([1, 1, 2], [1, 2, 1], timestamp=[1, 2, 3])
    with pytest.raises(InvalidInputError, match=r"1 users \(e\.g\. \[2\]\) with no training"):
        leave_last_n_out(data, 1)
    train, test = leave_last_n_out(data, 1, short_users="train")
    assert train.user_counts().tolist() == [1, 1] and test.user_counts().tolist() == [1, 0]
    late = Interactions.from_arrays([1, 1, 2], [1, 2, 1], timestamp=[1, 5, 6])
    with pytest.raises(InvalidInputError, match="no training data"):
        temporal_split(late, cutoff=5, cold_users="error")


def test_temporal_split_cuts_at_one_time_for_everyone() -> None:
    data = Interactions.from_arrays([1, 1, 2, 2, 3], [1, 2, 1, 3, 2], timestamp=[1, 5, 2, 6, 7])
    train, test = temporal_split(data, cutoff=5)
    assert train.timestamp is not None and train.timestamp.max() < 5
    assert test.timestamp is not None and sorted(test.timestamp.tolist()) == [5, 6]  # 3 is cold
    _, kept = temporal_split(data, cutoff=5, cold_users="keep")
    assert len(kept) == 3
    _, by_fraction = temporal_split(data, 0.4)
    assert by_fraction.timestamp is not None and by_fraction.timestamp.min() >= 6


def test_filters_reach_a_core_and_apply_a_rating_threshold() -> None:
    data = Interactions.from_arrays([1, 1, 2, 2, 3], [1, 2, 1, 2, 3], rating=[5, 4, 5, 2, 5])
    core = filter_interactions(data, min_user_interactions=2, min_item_interactions=2)
    assert core.user_ids.tolist() == [1, 2] and core.item_ids.tolist() == [1, 2]
    liked = filter_interactions(data, min_rating=4)
    assert len(liked) == 4 and liked.n_items == 3
    # rating >= 4 leaves user 2 one item; the 2-core then removes user 2 and item 2 ...
    with pytest.raises(InvalidInputError, match="empty"):
        filter_interactions(data, min_rating=4, min_user_interactions=2, min_item_interactions=2)


def test_bad_arguments() -> None:
    data = _data()
    with pytest.raises(InvalidInputError, match="test_fraction"):
        random_holdout(data, 1.0)
    with pytest.raises(InvalidInputError, match="positive integer"):
        leave_last_n_out(data, 0)
    no_time = Interactions.from_arrays([1], [1])
    with pytest.raises(InvalidInputError, match="needs timestamps"):
        temporal_split(no_time)
    with pytest.raises(InvalidInputError, match="no ratings"):
        filter_interactions(no_time, min_rating=3)
    empty = data.subset(np.zeros(len(data), dtype=bool))
    with pytest.raises(InvalidInputError, match="empty"):
        random_holdout(empty)
