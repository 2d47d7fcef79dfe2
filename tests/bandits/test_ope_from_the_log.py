"""IPS and SNIPS from per-arm sums computed in DuckDB equal the estimators on the rounds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests._eventlog import T0, spec_of, write_log
from tests.ui.test_events_sql import _shown_rounds

from limelight.bandits import BanditLog, ChoiceSums, estimate_from_sums, ips, snips
from limelight.core.errors import InvalidInputError
from limelight.experiments._log_queries import logged_choices
from limelight.store.events import read_events


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ope_from_the_log_equals_the_estimators_on_its_rounds(tmp_path: Path, seed: int) -> None:
    write_log(tmp_path, spec_of(2), seed=seed, users=200, n=3000 + 1000 * seed)
    found = logged_choices(str(tmp_path))
    assert all(isinstance(s, int) for s in found.snapshots.values()), found.snapshots
    imp, fb = read_events(str(tmp_path), "impressions"), read_events(str(tmp_path), "feedback")
    arm, pscore, reward = _shown_rounds(imp, fb)
    assert found.arms == sorted(set(arm))
    action = np.searchsorted(found.arms, arm)
    k = len(found.arms)
    log = BanditLog(
        context=np.zeros((action.size, 1)), action=action, reward=reward, pscore=pscore, n_actions=k
    )
    rng = np.random.default_rng(seed)
    for target in (np.full(k, 1 / k), rng.dirichlet(np.ones(k)), np.eye(k)[0]):
        dist = np.tile(target, (action.size, 1))
        sums = ChoiceSums(**found.sums)
        for name, estimator in (("ips", ips), ("snips", snips)):
            want = estimator(log, dist, n_bootstrap=0).to_dict()
            got = estimate_from_sums(name, sums, target).to_dict()
            assert got.keys() == want.keys()
            for key in want:
                if isinstance(want[key], str):
                    assert got[key] == want[key]
                else:
                    assert got[key] == pytest.approx(want[key], rel=1e-9, abs=1e-12), (name, key)


def test_a_window_and_bad_targets(tmp_path: Path) -> None:
    write_log(tmp_path, spec_of(2), seed=5, users=50, n=1000)
    every = logged_choices(str(tmp_path))
    some = logged_choices(str(tmp_path), since=T0, until=T0 + 86400.0)
    assert 0 < some.sums["n"].sum() < every.sums["n"].sum()
    sums = ChoiceSums(**every.sums)
    with pytest.raises(InvalidInputError, match="probabilities"):
        estimate_from_sums("ips", sums, [2.0, -1.0, 0.0])
    with pytest.raises(InvalidInputError, match="3 logged actions"):
        estimate_from_sums("ips", sums, [1.0])
    with pytest.raises(InvalidInputError, match="'ips' or 'snips'"):
        estimate_from_sums("dr", sums, [1.0, 0.0, 0.0])
