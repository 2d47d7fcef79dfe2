"""The Open Bandit Dataset loader on the real logged data."""

from pathlib import Path

import numpy as np
import pytest

from limelight.bandits import OBD_LICENCE, BetaThompsonSampling, evaluate, load_obd
from limelight.core.errors import InvalidInputError, NotFoundError


@pytest.mark.parametrize(("policy", "clicks"), [("random", 38), ("bts", 42)])
def test_loads_the_logged_rounds(obd_dir: Path, policy: str, clicks: int) -> None:
    log = load_obd(obd_dir, policy)
    assert log.n_rounds == 10_000 and log.n_actions == 80 and log.len_list == 3
    assert log.reward.sum() == clicks  # as the dataset's README states
    assert set(np.unique(log.position)) == {0, 1, 2}
    assert log.action_context is not None and log.action_context.shape == (80, 4)
    assert log.licence == OBD_LICENCE == "CC-BY-4.0" and log.usage == "production"
    assert np.all(np.unique(log.context) == [0.0, 1.0])  # one-hot user features
    if policy == "random":
        np.testing.assert_allclose(log.pscore, 1 / 80)
    with_affinity = load_obd(obd_dir, policy, with_affinity=True)
    assert with_affinity.n_features == log.n_features + 80


def test_ope_and_fit_accept_the_log(obd_dir: Path) -> None:
    log = load_obd(obd_dir, "random")
    uniform = np.full((log.n_rounds, 80, 3), 1 / 80)
    out = evaluate(log, uniform, n_bootstrap=0)
    # The uniform policy evaluated on its own uniform log is its mean reward, exactly.
    for name in ("replay", "ips", "snips"):
        assert out[name].value == pytest.approx(log.reward.mean())
    policy = BetaThompsonSampling(n_actions=80, random_state=0).fit(log)
    assert policy.alpha_.sum() == pytest.approx(80 + log.reward.sum())


def test_a_campaign_is_read_from_its_own_file(tmp_path: Path) -> None:
    folder = tmp_path / "bts" / "men"  # OBD names each campaign's table after it: men/men.csv
    folder.mkdir(parents=True)
    (folder / "men.csv").write_text(
        ",timestamp,item_id,position,click,propensity_score,user_feature_0\n"
        "0,2019-11-24 00:00:02,1,2,0,0.5,a\n1,2019-11-24 00:00:01,0,1,1,0.25,b\n"
    )
    (folder / "item_context.csv").write_text(
        ",item_id,item_feature_0,item_feature_1\n0,0,-0.5,x\n1,1,0.5,y\n"
    )
    log = load_obd(tmp_path, "bts", "men")
    assert log.action.tolist() == [0, 1] and log.reward.tolist() == [1.0, 0.0]  # by time
    assert log.position.tolist() == [0, 1] and log.n_actions == 2
    assert log.source == "Open Bandit Dataset (ZOZO), bts/men"


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="behavior_policy must be one of"):
        load_obd(tmp_path, "greedy")
    with pytest.raises(InvalidInputError, match="campaign must be one of"):
        load_obd(tmp_path, "random", "kids")
    with pytest.raises(NotFoundError, match="no Open Bandit Dataset file"):
        load_obd(tmp_path, "random")
    folder = tmp_path / "random" / "all"
    folder.mkdir(parents=True)
    (folder / "all.csv").write_text(",timestamp,item_id\n0,2019,1\n")
    with pytest.raises(InvalidInputError, match="lacks the OBD columns"):
        load_obd(tmp_path, "random")
