"""Experiments: allocate users to variants, interleave rankers, and analyse with honest statistics.

Allocation is a pure function of (user id, salt); layers make experiments mutually exclusive.
The statistics (Welch, delta method, CUPED, sample-ratio check, confidence sequences, Holm and
Benjamini-Hochberg) take per-user arrays; the analysis job builds those arrays from the event
log's Arrow tables.
"""

# Imported on first use: the statistics pull in scipy.stats (about a second), which serving,
# needing only allocation and the stored definitions, should not pay for at start-up.
import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from limelight.experiments._log_queries import (
        analyze_event_log,
        exposure_log_from_events,
        parse_as_of,
    )
    from limelight.experiments._moments import VariantMoments
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
        analyze_log,
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
    from limelight.experiments.spec import (
        ExperimentSpec,
        ExperimentStatus,
        Variant,
        check_layers,
        check_overlap,
    )
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

_EXPORTS: dict[str, str] = {
    "METRICS": "limelight.experiments.metrics",
    "ArmMoments": "limelight.experiments.stats",
    "DailySeries": "limelight.experiments.analysis",
    "Estimate": "limelight.experiments.stats",
    "Estimates": "limelight.experiments.stats",
    "ExperimentAnalysis": "limelight.experiments.analysis",
    "ExperimentSpec": "limelight.experiments.spec",
    "ExperimentStatus": "limelight.experiments.spec",
    "ExposureLog": "limelight.experiments.events",
    "InterleavingResult": "limelight.experiments.interleaving",
    "MetricDef": "limelight.experiments.metrics",
    "MetricResult": "limelight.experiments.analysis",
    "SRMResult": "limelight.experiments.stats",
    "UserTable": "limelight.experiments.events",
    "Variant": "limelight.experiments.spec",
    "allocate": "limelight.experiments.allocation",
    "allocate_many": "limelight.experiments.allocation",
    "analyze": "limelight.experiments.analysis",
    "analyze_events": "limelight.experiments.analysis",
    "analyze_log": "limelight.experiments.analysis",
    "assign": "limelight.experiments.allocation",
    "assignment_fields": "limelight.experiments.allocation",
    "benjamini_hochberg": "limelight.experiments.stats",
    "check_layers": "limelight.experiments.spec",
    "check_overlap": "limelight.experiments.spec",
    "compare_from_stats": "limelight.experiments.stats",
    "compare_moments": "limelight.experiments.stats",
    "confidence_sequence": "limelight.experiments.sequential",
    "cuped": "limelight.experiments.stats",
    "cuped_moments": "limelight.experiments.stats",
    "VariantMoments": "limelight.experiments._moments",
    "analyze_event_log": "limelight.experiments._log_queries",
    "daily_series": "limelight.experiments.analysis",
    "diff_in_means": "limelight.experiments.stats",
    "exposure_log": "limelight.experiments.events",
    "exposure_log_from_events": "limelight.experiments._log_queries",
    "parse_as_of": "limelight.experiments._log_queries",
    "format_analysis": "limelight.experiments.report",
    "hash_unit": "limelight.experiments.allocation",
    "holm": "limelight.experiments.stats",
    "interleaving_credit": "limelight.experiments.interleaving",
    "interleaving_preference": "limelight.experiments.interleaving",
    "layer_salt": "limelight.experiments.allocation",
    "mean_moments": "limelight.experiments.stats",
    "ratio_metric": "limelight.experiments.stats",
    "ratio_moments": "limelight.experiments.stats",
    "sequential_from_stats": "limelight.experiments.sequential",
    "sequential_p_value": "limelight.experiments.sequential",
    "series_svg": "limelight.experiments.report",
    "srm_check": "limelight.experiments.stats",
    "team_draft": "limelight.experiments.interleaving",
    "team_draft_batch": "limelight.experiments.interleaving",
    "welch_from_stats": "limelight.experiments.stats",
    "write_series_svg": "limelight.experiments.report",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'limelight.experiments' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


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
    "VariantMoments",
    "allocate",
    "allocate_many",
    "analyze",
    "analyze_event_log",
    "analyze_events",
    "analyze_log",
    "assign",
    "assignment_fields",
    "benjamini_hochberg",
    "check_layers",
    "check_overlap",
    "compare_from_stats",
    "compare_moments",
    "confidence_sequence",
    "cuped",
    "cuped_moments",
    "daily_series",
    "diff_in_means",
    "exposure_log",
    "exposure_log_from_events",
    "format_analysis",
    "hash_unit",
    "holm",
    "interleaving_credit",
    "interleaving_preference",
    "layer_salt",
    "mean_moments",
    "parse_as_of",
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
