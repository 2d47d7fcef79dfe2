"""The demo's report: text for the terminal and an HTML page with plots."""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from limelight.demo._online import DayResult

__all__ = ["DemoReport", "write_html"]


@dataclass
class DemoReport:
    home: str
    scale: str
    seed: int
    offline: dict[str, dict[str, float]]
    baseline_version: int
    challenger_version: int
    challenger_name: str
    artwork_metrics: dict[str, float]
    artwork_version: int
    days: list[DayResult] = field(default_factory=list)
    true_lift: float = float("nan")
    true_control: float = float("nan")
    true_treatment: float = float("nan")
    promoted_day: int | None = None
    swap_seconds: float | None = None
    online_take_rate: float = float("nan")
    exploration_take_rate: float = float("nan")
    experiment: str = ""
    serving_url: str = ""
    notes: list[str] = field(default_factory=list)
    guardrail: Any = None  # a demo._guardrail.GuardrailResult when the guardrail day ran

    @property
    def final(self) -> DayResult | None:
        decided = [d for d in self.days if d.users]
        if self.promoted_day is not None:
            decided = [d for d in decided if d.day <= self.promoted_day]
        return decided[-1] if decided else None

    def lines(self) -> list[str]:
        out = [
            "",
            "== Limelight demo report ==",
            "",
            "Offline (held-out history, full catalogue) and the simulator's truth:",
        ]
        out.append(
            f"  {'model':12s} {'NDCG@10':>8s} {'recall@10':>10s} {'true plays/session':>19s}"
        )
        for name, m in self.offline.items():
            out.append(
                f"  {name:12s} {m['ndcg@10']:8.4f} {m['recall@10']:10.4f} {m['true_plays_per_session']:19.3f}"
            )
        out.append(
            f"  registered recs/{self.baseline_version} (popularity) as champion and "
            f"recs/{self.challenger_version} ({self.challenger_name}) as challenger"
        )
        a = self.artwork_metrics
        out += [
            "",
            f"Artwork policy (artwork/{self.artwork_version}), valued off-policy on held-out exploration data:",
        ]
        for est in ("replay", "ips", "snips", "dm", "dr"):
            if est in a:
                out.append(
                    f"  {est:7s} {a[est]:.4f}  [{a[est + '.low']:.4f}, {a[est + '.high']:.4f}]"
                )
        out.append(
            f"  truth   {a['true_value']:.4f}  (random artwork: {a['random_true_value']:.4f}, "
            f"{a['true_value'] / a['random_true_value'] - 1:+.1%})"
        )
        out += [
            "",
            f"A/B test {self.experiment}: control recs@champion vs treatment recs@challenger, "
            "plays per member, 95% anytime-valid interval",
        ]
        for d in self.days:
            head = f"  day {d.day + 1}: {d.sessions} sessions, {d.plays} plays"
            if not d.users:
                out.append(f"{head}; experiment over, every member on recs/{d.champion}")
                continue
            users = ", ".join(f"{k}={v}" for k, v in d.users.items())
            verdict = " <- significant: challenger promoted" if self.promoted_day == d.day else ""
            out.append(
                f"{head}; users {users}; lift {d.lift:+.1%} [{d.lift_low:+.1%}, {d.lift_high:+.1%}]"
                f"{verdict}"
            )
        final = self.final
        if final is not None:
            covered = final.lift_low <= self.true_lift <= final.lift_high
            out.append(
                f"  true lift {self.true_lift:+.1%} (plays per session {self.true_control:.3f} -> "
                f"{self.true_treatment:.3f}); the interval {'covers' if covered else 'MISSES'} it"
            )
        if self.promoted_day is None:
            out.append(
                "  the test did not reach significance: the champion stays (run more --days)"
            )
        elif self.swap_seconds is not None:
            out.append(
                f"  serving switched to the new champion {self.swap_seconds:.1f} s after the alias moved, "
                "without a restart"
            )
        out += [
            "",
            f"Artwork take rate online (plays per shown title): {self.online_take_rate:.4f}; "
            f"with random artwork in the exploration log: {self.exploration_take_rate:.4f}",
        ]
        if self.guardrail is not None:
            out += self.guardrail.lines()
        out += [f"  note: {n}" for n in self.notes]
        return out


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def _plots(report: DemoReport) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots = []
    names = list(report.offline)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3))
    axes[0].bar(names, [report.offline[n]["ndcg@10"] for n in names], color="#4c72b0")
    axes[0].set_title("offline NDCG@10")
    axes[1].bar(
        names, [report.offline[n]["true_plays_per_session"] for n in names], color="#55a868"
    )
    axes[1].set_title("true plays per session")
    plots.append(("Recommenders: offline metric and the simulator's truth", _png(fig)))
    plt.close(fig)

    a = report.artwork_metrics
    estimators = [e for e in ("replay", "ips", "snips", "dm", "dr") if e in a]
    fig, ax = plt.subplots(figsize=(7, 3))
    xs = range(len(estimators))
    ax.errorbar(
        list(xs),
        [a[e] for e in estimators],
        yerr=[
            [a[e] - a[e + ".low"] for e in estimators],
            [a[e + ".high"] - a[e] for e in estimators],
        ],
        fmt="o",
        capsize=4,
        label="estimate, 95% interval",
    )
    ax.axhline(a["true_value"], color="#c44e52", label="true value")
    ax.axhline(a["random_true_value"], color="grey", linestyle="--", label="random artwork (true)")
    ax.set_xticks(list(xs), estimators)
    ax.legend(fontsize=8)
    plots.append(("Artwork policy: off-policy estimates against the truth", _png(fig)))
    plt.close(fig)

    days = [d for d in report.days if d.users]
    if days:
        fig, ax = plt.subplots(figsize=(7, 3))
        x = [d.day + 1 for d in days]
        lift = [d.lift for d in days]
        ax.errorbar(
            x,
            lift,
            yerr=[[d.lift - d.lift_low for d in days], [d.lift_high - d.lift for d in days]],
            fmt="o-",
            capsize=5,
            label="estimated lift, 95% anytime-valid interval",
        )
        ax.axhline(report.true_lift, color="#c44e52", label="true lift")
        ax.axhline(0, color="black", linewidth=0.8)
        if report.promoted_day is not None:
            ax.axvline(
                report.promoted_day + 1, color="green", linestyle=":", label="challenger promoted"
            )
        last = len(report.days)
        ax.set_xlim(0.5, last + 0.5)
        ax.set_xticks(range(1, last + 1))
        ax.set_xlabel("day")
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.legend(fontsize=8)
        plots.append(("A/B test: relative lift in plays per member, day by day", _png(fig)))
        plt.close(fig)
    return plots


def write_html(report: DemoReport, path: Path) -> Path:
    """The report as one self-contained HTML page (plots embedded as PNG)."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Limelight demo</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em}"
        "pre{background:#f6f8fa;padding:1em;overflow:auto}img{max-width:100%}</style></head><body>",
        "<h1>Limelight demo</h1>",
        f"<p>scale {html.escape(str(report.scale))}, seed {report.seed}, home {html.escape(report.home)}</p>",
    ]
    for title, data in _plots(report):
        parts.append(
            f"<h2>{html.escape(title)}</h2><img alt='{html.escape(title)}' src='data:image/png;base64,{data}'>"
        )
    parts.append(
        "<h2>Report</h2><pre>" + html.escape("\n".join(report.lines())) + "</pre></body></html>"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
