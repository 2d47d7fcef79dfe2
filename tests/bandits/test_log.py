"""BanditLog: a valid log keeps its arrays; bad logs fail with a message that says why."""

import numpy as np
import pytest

from limelight.bandits import BanditLog
from limelight.core.errors import InvalidInputError


def make(**overrides: object) -> BanditLog:
    fields: dict[str, object] = dict(
        context=np.zeros((4, 2)),
        action=[0, 1, 1, 0],
        reward=[1.0, 0.0, 1.0, 0.0],
        pscore=[0.5, 0.5, 0.5, 0.5],
        n_actions=2,
    )
    fields.update(overrides)
    return BanditLog(**fields)  # type: ignore[arg-type]


def test_valid_log_is_normalised() -> None:
    log = make(position=[0, 1, 0, 1], len_list=2)
    assert log.n_rounds == 4 and log.n_features == 2
    assert log.action.dtype == np.int64 and log.reward.dtype == np.float64
    assert log.position.tolist() == [0, 1, 0, 1]
    assert make().position.tolist() == [0, 0, 0, 0]
    assert log.subset([1, 2]).action.tolist() == [1, 1]


@pytest.mark.parametrize("bad", [0.0, np.nan, -0.1, 1.5, np.inf])
def test_zero_missing_or_impossible_propensity_is_a_clear_error(bad: float) -> None:
    with pytest.raises(InvalidInputError, match=r"pscore\[2\].*propensities must be in \(0, 1\]"):
        make(pscore=[0.5, 0.5, bad, 0.5])


def test_unknown_logged_action_is_an_error() -> None:
    with pytest.raises(InvalidInputError, match=r"action 2 is outside the action set 0\.\.1"):
        make(action=[0, 1, 2, 0])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"context": np.zeros((3, 2))}, "context must have shape"),
        ({"reward": [1.0, 0.0]}, "reward has 2 rows but action has 4"),
        ({"reward": [1.0, np.nan, 0.0, 0.0]}, "reward has a missing"),
        ({"position": [0, 3, 0, 0], "len_list": 3}, "positions must lie in 0..2"),
        ({"action": [0.5, 1, 1, 0]}, "whole numbers"),
        ({"action": []}, "at least one round"),
        ({"usage": "whatever"}, "usage must be one of"),
        ({"context": np.full((4, 2), np.nan)}, "context has missing"),
    ],
)
def test_malformed_logs_are_rejected(overrides: dict, message: str) -> None:
    if overrides.get("action") == []:
        overrides = {**overrides, "context": np.zeros((0, 2)), "reward": [], "pscore": []}
    with pytest.raises(InvalidInputError, match=message):
        make(**overrides)
