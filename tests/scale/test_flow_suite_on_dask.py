"""The flows test suite again, on the Dask cluster: same tests, same flows, another executor.

``home`` is overridden so that every run of the imported tests goes to the two-worker loopback
cluster (chosen by environment, as a user would). Left out: tests of the inline or local
executor themselves, tests whose flow class is defined inside the test function (workers import
a flow from its file; a test below checks the error that says so), and tests that steer their flows through environment variables set after
the cluster's workers started (the workers cannot see them; ``test_distributed.py`` covers the
same behaviour with flows steered through files) or that kill local worker processes by pid.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.flows.test_artifacts import (  # noqa: F401 - collected here again
    test_client_reads_runs_lazily,
    test_every_serializer_passes_between_steps,
)
from tests.flows.test_failures import (  # noqa: F401 - collected here again
    test_catch_stores_the_error_and_carries_on,
    test_resources_are_recorded,
    test_retry_gives_up_after_its_attempts,
    test_retry_runs_the_step_again,
    test_timeout_fails_the_task_without_stopping_the_scheduler,
    test_timeout_with_catch_carries_on,
)
from tests.flows.test_run import (  # noqa: F401 - collected here again
    test_a_required_param,
    test_branches_join_and_merge,
    test_current_metrics_params_and_logs,
    test_defaults_and_bad_params,
    test_linear_flow_passes_artifacts_and_params,
    test_nested_foreach,
)
from tests.scale._clusters import use_dask


@pytest.fixture
def home(home: Path, dask_cluster: Any, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The suite's fresh home, with its flows sent to the Dask cluster."""
    use_dask(dask_cluster, monkeypatch)
    return home


def test_the_suite_really_runs_on_dask(home: Path) -> None:
    from tests.flows.test_run import Linear

    run = Linear.run()
    assert run._row.executor == "dask"


def test_a_flow_defined_in_a_function_is_refused_with_the_reason(home: Path) -> None:
    from limelight.core.errors import ConfigError
    from limelight.flows import Flow, step

    class Local(Flow):
        @step
        def start(self):
            self.next(self.end)

        @step
        def end(self):
            pass

    with pytest.raises(ConfigError, match=r"define it at the top level of a \.py file"):
        Local.run()
