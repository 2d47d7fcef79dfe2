"""The metrics an experiment can be judged on, computed from per-user arrays.

A metric is either a per-user mean (one column of the user table) or a ratio of two sums
(numerator and denominator columns, analysed with the delta method).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["METRICS", "MetricDef"]


@dataclass(frozen=True)
class MetricDef:
    """How to compute a metric from the per-user columns built by the analysis job."""

    name: str
    numerator: str
    denominator: str | None = None
    covariate: str | None = None
    description: str = ""

    @property
    def is_ratio(self) -> bool:
        return self.denominator is not None


METRICS: dict[str, MetricDef] = {
    m.name: m
    for m in (
        MetricDef(
            "plays_per_user",
            "plays",
            covariate="pre_plays",
            description="plays per exposed member (CUPED on pre-period plays)",
        ),
        MetricDef(
            "play_value_per_user",
            "play_value",
            covariate="pre_play_value",
            description="summed play value (e.g. minutes) per exposed member",
        ),
        MetricDef(
            "impressions_per_user",
            "impressions",
            description="recommendation requests per exposed member",
        ),
        MetricDef(
            "plays_per_impression",
            "plays",
            denominator="impressions",
            description="plays divided by impressions (ratio, delta method)",
        ),
    )
}
