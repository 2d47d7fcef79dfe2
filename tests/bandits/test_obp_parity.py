"""Limelight's IPS, SNIPS, DM and DR equal Open Bandit Pipeline's on the same logged data.

OBP runs live in its own virtual environment (installed on first use by benchmarks.bandits).
Where that environment cannot be installed (no index to install from) the test skips, except
under CI, where it must run.
"""

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from tests._peers import PEER_INSTALL_TIMEOUT

from limelight.bandits import estimate_rewards, evaluate, load_obd


def _obp_or_skip() -> None:
    from benchmarks.bandits import obp_python

    try:
        obp_python()
    except (subprocess.CalledProcessError, OSError) as exc:
        reason = f"Open Bandit Pipeline (obp 0.5.7) could not be installed in its venv: {exc}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} [CI: the peer must be installable]", pytrace=False)
        pytest.skip(reason)


@pytest.mark.slow
@pytest.mark.timeout(PEER_INSTALL_TIMEOUT)
def test_estimates_equal_open_bandit_pipeline_on_obd(obd_dir: Path) -> None:
    from benchmarks.bandits import obp_ope_values

    _obp_or_skip()
    log = load_obd(obd_dir, "random")
    rng = np.random.default_rng(3)
    dist = rng.dirichlet(np.ones(log.n_actions), size=(log.n_rounds, log.len_list))
    dist = dist.transpose(0, 2, 1)
    q = estimate_rewards(log, n_folds=3, random_state=0)
    peer, feedback = obp_ope_values(log, dist, q)

    for name in ("action", "position", "reward", "pscore", "context"):
        np.testing.assert_array_equal(feedback[name], getattr(log, name), err_msg=name)
    mine = evaluate(log, dist, q, estimators=list(peer), n_bootstrap=0)
    for name, value in peer.items():
        assert abs(mine[name].value - value) <= 1e-9, (name, mine[name].value, value)
