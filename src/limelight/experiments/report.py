"""Read-outs for people: a text table of an analysis and an SVG plot of a daily series.

The plot is written by hand as SVG so that no plotting library is needed.
"""

from __future__ import annotations

import dataclasses
import math
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from limelight.experiments.analysis import DailySeries, ExperimentAnalysis

__all__ = ["analysis_dict", "format_analysis", "series_svg", "write_series_svg"]


def _num(x: float, digits: int = 4) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:.{digits}g}"


def _pct(x: float) -> str:
    return "-" if not math.isfinite(x) else f"{100 * x:+.2f}%"


def _plain(value: Any) -> Any:
    """JSON-ready: dataclasses as dicts, NaN and infinities as null."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def analysis_dict(analysis: ExperimentAnalysis) -> dict[str, Any]:
    """The analysis as plain JSON values (what ``experiments analyze --json`` prints)."""
    found: dict[str, Any] = _plain(analysis)
    found["srm"]["flagged"] = analysis.srm.flagged
    return found


def _snapshot_line(analysis: ExperimentAnalysis) -> str | None:
    if not analysis.snapshots:
        return None
    read = ", ".join(
        f"{kind}={'empty (no snapshot yet)' if s is None else s}"
        for kind, s in sorted(analysis.snapshots.items())
    )
    return f"event log read at: {read}"


def format_analysis(analysis: ExperimentAnalysis) -> str:
    """The analysis as a fixed-width text table, SRM verdict first."""
    srm = analysis.srm
    split = ", ".join(f"{v}={c}" for v, c in zip(analysis.variants, analysis.counts, strict=True))
    lines = [
        f"experiment {analysis.experiment!r}: users {split}",
        f"sample ratio check: chi2={srm.chi2:.3g} p={srm.p_value:.3g} -> "
        + ("MISMATCH: do not trust these results" if srm.flagged else "ok"),
    ]
    if analysis.conflicting_users or analysis.unknown_variant_exposures:
        lines.append(
            f"dropped: {analysis.conflicting_users} users seen in several variants, "
            f"{analysis.unknown_variant_exposures} exposures to unknown variants"
        )
    if analysis.undecided_exposures:
        lines.append(
            f"dropped: {analysis.undecided_exposures} impressions served a model that another "
            "experiment chose (they are not this experiment's exposures)"
        )
    if analysis.unattributed_exposures:
        lines.append(
            f"note: {analysis.unattributed_exposures} impressions do not record which experiment "
            "chose the model served (logged before serving recorded it): kept"
        )
    header = (
        f"{'metric':<22}{'variant':<12}{'control':>10}{'treatment':>11}{'diff':>11}"
        f"{'95% CI':>24}{'lift':>9}{'p':>9}{'p adj':>9}{'seq. CI':>24}  method"
    )
    lines += [header.replace("95%", f"{100 * (1 - analysis.alpha):.0f}%"), "-" * len(header)]
    for r in analysis.results:
        name = r.metric + (" *" if r.primary else "")
        e, s = r.estimate, r.sequential
        if e is None or s is None:
            lines.append(f"{name:<22}{r.variant:<12}  not analysed: {r.note}")
            continue
        ci = f"[{_num(e.ci_low)}, {_num(e.ci_high)}]"
        seq = f"[{_num(s.ci_low)}, {_num(s.ci_high)}]"
        lines.append(
            f"{name:<22}{r.variant:<12}{_num(e.control_mean):>10}{_num(e.treatment_mean):>11}"
            f"{_num(e.diff):>11}{ci:>24}{_pct(e.lift):>9}{_num(e.p_value, 3):>9}"
            f"{_num(r.adjusted_p, 3):>9}{seq:>24}  {e.method}"
        )
        if r.note:
            lines.append(f"{'':<22}note: {r.note}")
    lines.append(
        f"* primary metric; p adj: {analysis.correction} over all metrics and variants; "
        f"seq. CI: anytime-valid, tuned for {analysis.planned_n:.0f} users"
    )
    snapshot = _snapshot_line(analysis)
    if snapshot is not None:
        lines.append(snapshot)
    return "\n".join(lines)


def series_svg(series: DailySeries, *, width: int = 720, height: int = 360) -> str:
    """An SVG plot of the daily estimate with its fixed (dashed) and sequential (band) CIs."""
    days = (series.day_end - series.day_end[0]) / 86400.0 + 1.0
    ok = np.isfinite(series.diff)
    left, right, top, bottom = 70, 20, 40, 50
    values = np.concatenate(
        [
            series.diff[ok],
            series.ci_low[ok],
            series.ci_high[ok],
            series.seq_low[ok],
            series.seq_high[ok],
            [0.0],
        ]
    )
    values = values[np.isfinite(values)]
    y_lo, y_hi = float(values.min()), float(values.max())
    pad = 0.05 * (y_hi - y_lo or 1.0)
    y_lo, y_hi = y_lo - pad, y_hi + pad
    x_lo, x_hi = float(days.min()), float(max(days.max(), days.min() + 1))

    def sx(x: float) -> float:
        return left + (x - x_lo) / (x_hi - x_lo) * (width - left - right)

    def sy(y: float) -> float:
        return top + (y_hi - y) / (y_hi - y_lo) * (height - top - bottom)

    def path(xs: np.ndarray, ys: np.ndarray) -> str:
        pts = [f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(xs, ys, strict=True) if math.isfinite(y)]
        return " ".join(pts)

    band_ok = ok & np.isfinite(series.seq_low) & np.isfinite(series.seq_high)
    band = (
        path(days[band_ok], series.seq_high[band_ok])
        + " "
        + path(days[band_ok][::-1], series.seq_low[band_ok][::-1])
    )
    title = escape(f"{series.experiment}: {series.metric}, {series.variant} - control")
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{left}" y="20" font-size="14">{title}</text>',
        f'<polygon points="{band}" fill="#9ecae1" fill-opacity="0.5" stroke="none">'
        "<title>anytime-valid confidence sequence</title></polygon>",
        f'<line x1="{left}" x2="{width - right}" y1="{sy(0):.1f}" y2="{sy(0):.1f}" '
        'stroke="#444" stroke-width="1"/>',
        f'<polyline points="{path(days, series.ci_low)}" fill="none" stroke="#e6550d" '
        'stroke-dasharray="4 3"/>',
        f'<polyline points="{path(days, series.ci_high)}" fill="none" stroke="#e6550d" '
        'stroke-dasharray="4 3"/>',
        f'<polyline points="{path(days, series.diff)}" fill="none" stroke="#08519c" '
        'stroke-width="2"/>',
        f'<line x1="{left}" x2="{left}" y1="{top}" y2="{height - bottom}" stroke="black"/>',
        f'<line x1="{left}" x2="{width - right}" y1="{height - bottom}" '
        f'y2="{height - bottom}" stroke="black"/>',
    ]
    for y in np.linspace(y_lo, y_hi, 5):
        parts.append(
            f'<text x="{left - 6}" y="{sy(y) + 4:.1f}" text-anchor="end">{_num(float(y), 3)}</text>'
        )
    for x in np.unique(np.linspace(x_lo, x_hi, min(8, int(x_hi - x_lo) + 1)).round()):
        parts.append(
            f'<text x="{sx(x):.1f}" y="{height - bottom + 16}" text-anchor="middle">{x:.0f}</text>'
        )
    parts += [
        f'<text x="{(left + width - right) / 2}" y="{height - 12}" text-anchor="middle">'
        "day of experiment</text>",
        f'<text x="{width - right}" y="{top - 6}" text-anchor="end" fill="#555">'
        "line: estimate; dashed: fixed-horizon CI; band: sequential CI</text>",
        "</svg>",
    ]
    return "\n".join(parts)


def write_series_svg(series: DailySeries, path: str | Path) -> Path:
    """Write :func:`series_svg` to ``path`` and return it."""
    target = Path(path)
    target.write_text(series_svg(series), encoding="utf-8")
    return target
