"""Interactions: id maps both ways, the sparse matrix, and bad ids."""

from __future__ import annotations

import numpy as np
import pytest

from limelight.core.errors import InvalidInputError
from limelight.recsys import Interactions


def test_id_maps_go_both_ways() -> None:
    data = Interactions.from_arrays(["b", "a", "b", "c"], [30, 10, 20, 10], name="tiny")
    assert data.user_ids.tolist() == ["a", "b", "c"]
    assert data.item_ids.tolist() == [10, 20, 30]
    assert data.user_index_of(["c", "a", "zz"]).tolist() == [2, 0, -1]
    assert data.item_index_of([20, 99]).tolist() == [1, -1]
    # each interaction points back at its external ids
    assert data.user_ids[data.user_index].tolist() == ["b", "a", "b", "c"]
    assert data.item_ids[data.item_index].tolist() == [30, 10, 20, 10]
    assert (len(data), data.n_users, data.n_items) == (4, 3, 3)


def test_matrix_is_user_by_item_and_keeps_one_entry_per_pair() -> None:
    data = Interactions.from_arrays([1, 1, 2, 1], [5, 6, 5, 5], rating=[4.0, 2.0, 3.0, 5.0])
    binary = data.matrix().toarray()
    assert binary.tolist() == [[1.0, 1.0], [1.0, 0.0]]
    rating = data.matrix("rating").toarray()
    assert rating.tolist() == [[5.0, 2.0], [3.0, 0.0]]  # the last rating of a repeated pair
    assert data.matrix().dtype == np.float32


def test_columns_of_pandas_and_pyarrow_are_accepted() -> None:
    import pandas as pd
    import pyarrow as pa

    data = Interactions.from_arrays(pd.Series(["x", "y"]), pa.array([3, 4]))
    assert data.user_ids.tolist() == ["x", "y"] and data.item_ids.dtype == np.int64
    with pytest.raises(InvalidInputError, match="mix types"):
        Interactions.from_arrays(pd.Series(["x", 1]), [1, 2])


def test_ids_of_the_other_kind_are_converted_when_looking_up() -> None:
    data = Interactions.from_arrays([1, 2], ["10", "20"])
    assert data.user_index_of(["2", "x"]).tolist() == [1, -1]
    assert data.item_index_of([20]).tolist() == [1]


def test_subset_keeps_id_maps_and_compact_drops_unused_ids() -> None:
    data = Interactions.from_arrays([1, 2, 3], [7, 8, 9], timestamp=[3, 2, 1])
    part = data.subset(np.array([True, False, True]))
    assert part.n_users == 3 and len(part) == 2
    assert part.timestamp is not None and part.timestamp.tolist() == [3, 1]
    compact = part.compact()
    assert compact.user_ids.tolist() == [1, 3] and compact.item_ids.tolist() == [7, 9]


@pytest.mark.parametrize(
    ("users", "items", "message"),
    [
        ([1, "2"], [1, 2], "user ids mix types"),
        ([1, 2], [1, "b"], "item ids mix types"),
        ([], [], "empty"),
        ([1, 2], [1], "same length"),
        ([1.5], [1], "not whole numbers"),
    ],
)
def test_bad_ids_are_clear_errors(users: list, items: list, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        Interactions.from_arrays(users, items)


def test_bad_ratings_and_timestamps_are_errors() -> None:
    with pytest.raises(InvalidInputError, match="NaN"):
        Interactions.from_arrays([1], [1], rating=[float("nan")])
    with pytest.raises(InvalidInputError, match="timestamp"):
        Interactions.from_arrays([1], [1], timestamp=["yesterday"])
    with pytest.raises(InvalidInputError, match="no ratings"):
        Interactions.from_arrays([1], [1]).matrix("rating")


def test_unsorted_id_maps_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="sorted and unique"):
        Interactions(
            user_index=np.array([0], dtype=np.int32),
            item_index=np.array([0], dtype=np.int32),
            user_ids=np.array([2, 1]),
            item_ids=np.array([1]),
        )
