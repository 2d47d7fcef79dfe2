"""``limelight.runs``: ``runs.search(flow=..., where=..., order_by=...)`` and metric histories."""

from limelight.tracking import metric_history as history
from limelight.tracking import search_runs as search

__all__ = ["history", "search"]
