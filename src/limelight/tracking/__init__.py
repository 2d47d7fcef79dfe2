"""Tracking: parameters, metrics, tags and datasets of flow runs and of notebook runs.

Inside a step use ``current.log_metric(...)``, ``current.log_param(...)``,
``current.set_tag(...)`` and ``current.use_dataset(...)``; outside flows use
``with start_run(experiment="name") as run: run.log_metric(...)``. Metric calls are buffered
and written in batches: at a step's end (or ``run.end()``), every 5 seconds, when 50,000 values
are waiting, and at interpreter exit. A ``kill -9`` loses at most the values of the last five
seconds. Read back with :func:`metric_history` and :func:`search_runs`, whose filter grammar is
documented in ``limelight.tracking._filters``::

    search_runs(flow="TrainRecommender", where="metrics.ndcg > 0.4 and params.l2 = 500",
                order_by="metrics.ndcg desc")
"""

from limelight.tracking._datasets import USAGES, Dataset, record_dataset_use, use_dataset_hook
from limelight.tracking._filters import FilterError
from limelight.tracking._notebook import TrackedRun, start_run
from limelight.tracking._search import (
    MetricHistory,
    RunSummary,
    count_runs,
    metric_history,
    search_runs,
)

__all__ = [
    "USAGES",
    "Dataset",
    "FilterError",
    "MetricHistory",
    "RunSummary",
    "TrackedRun",
    "count_runs",
    "metric_history",
    "record_dataset_use",
    "search_runs",
    "start_run",
    "use_dataset_hook",
]
