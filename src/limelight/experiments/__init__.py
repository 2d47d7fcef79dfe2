"""Experiments: allocate users to variants, interleave rankers, and analyse with honest statistics.

Allocation is a pure function of (user id, salt); layers make experiments mutually exclusive.
The statistics (Welch, delta method, CUPED, sample-ratio check, confidence sequences, Holm and
Benjamini-Hochberg) take per-user arrays; the analysis job builds those arrays from the event
log's Arrow tables.
"""

from limelight.experiments.allocation import (
    allocate,
    allocate_many,
    assign,
    assignment_fields,
    hash_unit,
    layer_salt,
)
from limelight.experiments.analysis import (
    DailySeries,
    ExperimentAnalysis,
    MetricResult,
    analyze,
    analyze_events,
    daily_series,
)
from limelight.experiments.events import ExposureLog, UserTable, exposure_log
from limelight.experiments.interleaving import (
    InterleavingResult,
    interleaving_credit,
    interleaving_preference,
    team_draft,
    team_draft_batch,
)
from limelight.experiments.metrics import METRICS, MetricDef
from limelight.experiments.report import format_analysis, series_svg, write_series_svg
from limelight.experiments.sequential import (
    confidence_sequence,
    sequential_from_stats,
    sequential_p_value,
)
from limelight.experiments.spec import ExperimentSpec, ExperimentStatus, Variant, check_layers
from limelight.experiments.stats import (
    ArmMoments,
    Estimate,
    Estimates,
    SRMResult,
    benjamini_hochberg,
    compare_from_stats,
    compare_moments,
    cuped,
    cuped_moments,
    diff_in_means,
    holm,
    mean_moments,
    ratio_metric,
    ratio_moments,
    srm_check,
    welch_from_stats,
)

__all__ = [
    "METRICS",
    "ArmMoments",
    "DailySeries",
    "Estimate",
    "Estimates",
    "ExperimentAnalysis",
    "ExperimentSpec",
    "ExperimentStatus",
    "ExposureLog",
    "InterleavingResult",
    "MetricDef",
    "MetricResult",
    "SRMResult",
    "UserTable",
    "Variant",
    "allocate",
    "allocate_many",
    "analyze",
    "analyze_events",
    "assign",
    "assignment_fields",
    "benjamini_hochberg",
    "check_layers",
    "compare_from_stats",
    "compare_moments",
    "confidence_sequence",
    "cuped",
    "cuped_moments",
    "daily_series",
    "diff_in_means",
    "exposure_log",
    "format_analysis",
    "hash_unit",
    "holm",
    "interleaving_credit",
    "interleaving_preference",
    "layer_salt",
    "mean_moments",
    "ratio_metric",
    "ratio_moments",
    "sequential_from_stats",
    "sequential_p_value",
    "series_svg",
    "srm_check",
    "team_draft",
    "team_draft_batch",
    "welch_from_stats",
    "write_series_svg",
]
