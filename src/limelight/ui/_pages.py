"""One handler per page: read what the page needs, build its charts, render its template.

Handlers are plain functions run in Starlette's thread pool (the reads are blocking SQL and
file I/O); the app has already refused parameters a page does not take, and has let the two
POST handlers run only past the dashboard's guard (token, CSRF token, origin).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from limelight.core.errors import InvalidInputError, NotFoundError
from limelight.experiments.store import get_experiment, list_experiments, set_experiment_status
from limelight.flows.client import Run
from limelight.registry import ModelVersion, Registry, parse_version
from limelight.tracking import metric_history
from limelight.ui import _charts, _events, _runs
from limelight.ui._params import path_number
from limelight.ui._svg import GanttBar, gantt_svg, graph_layout, graph_svg

if TYPE_CHECKING:
    from limelight.ui._app import Dashboard

__all__ = [
    "bandits_page",
    "compare_page",
    "deployments_page",
    "experiment_page",
    "experiments_page",
    "model_page",
    "models_page",
    "monitors_page",
    "move_alias",
    "run_page",
    "runs_page",
    "serving_page",
    "stop_experiment",
]

LOG_CHARS = 20_000
MAX_TASKS_SHOWN = 200


def runs_page(dash: Dashboard, request: Request) -> Response:
    q = request.query_params
    filters = {k: q.get(k, "").strip() for k in ("flow", "status", "tag", "where", "order")}
    page = _runs.list_runs(dash.store, **filters, page=q.get("page"), per_page=q.get("per_page"))
    current = {k: v for k, v in q.items() if v}

    def query_with(**changes: Any) -> str:
        merged = {**current, **{k: v for k, v in changes.items()}}
        return "?" + urlencode({k: v for k, v in merged.items() if v is not None})

    metric_names = sorted({m for r in page.rows for m in r.metrics})[:6]
    param_names = sorted({p for r in page.rows for p in r.params})[:6]
    return dash.render(
        request,
        "runs.html",
        page=page,
        filters=filters,
        flows=_runs.flow_names(dash.store),
        statuses=_runs.STATUSES,
        sizes=_runs.PAGE_SIZES,
        metric_names=metric_names,
        param_names=param_names,
        query_with=query_with,
    )


def run_page(dash: Dashboard, request: Request) -> Response:
    flow = request.path_params["flow"]
    run_id = path_number(
        request.path_params["run_id"], f"run {flow}/{request.path_params['run_id']}"
    )
    run = Run(f"{flow}/{run_id}", config=dash.config)
    steps = {s.name: s for s in run.steps()}
    graph = _runs.flow_graph(dash.store, run)
    order = sorted(graph_layout(graph).items(), key=lambda kv: kv[1])
    ordered = [name for name, _ in order if name in steps] + [
        name for name in steps if name not in graph
    ]
    every_task = [t for name in ordered for t in steps[name].tasks]
    tasks = every_task[:MAX_TASKS_SHOWN]
    bars = [
        GanttBar(
            f"{t.step_name}[{t.path}]" if t.path else t.step_name,
            t.status,
            t.started_at,
            t.finished_at,
        )
        for t in tasks
    ]
    artifacts = [
        (t, name, ref, _runs.artifact_preview(dash.store, t, name))
        for t in tasks
        for name, ref in sorted(t.artifacts.items())
    ]
    logs = []
    for t in tasks:
        out, err = t.stdout, t.stderr
        if out or err:
            logs.append((t, out[-LOG_CHARS:], err[-LOG_CHARS:]))
    charts = [
        _charts.line_chart(name, [(name, *_charts.thin(h.steps, h.values))], y_title=name)
        for name, h in metric_history(run.id, config=dash.config).items()
    ]
    ancestors, children = _runs.resume_lineage(dash.store, run)
    return dash.render(
        request,
        "run.html",
        run=run,
        graph_svg=graph_svg(graph, {name: s.status for name, s in steps.items()}),
        gantt_svg=gantt_svg(bars, now=time.time()),
        tasks=tasks,
        total_tasks=len(every_task),
        artifacts=artifacts,
        logs=logs,
        charts=charts,
        ancestors=ancestors,
        children=children,
        tags=sorted(run.tags),
        params=sorted(run.params.items()),
    )


def compare_page(dash: Dashboard, request: Request) -> Response:
    ids = request.query_params.getlist("run")
    if not ids:
        return dash.render(
            request, "compare.html", rows=[], param_names=[], metric_names=[], charts=[]
        )
    rows, param_names, metric_names, curves = _runs.compare_runs(dash.store, ids)
    charts = [
        _charts.line_chart(
            name,
            [(run, *_charts.thin(h.steps, h.values)) for run, h in by_run.items()],
            y_title=name,
        )
        for name, by_run in sorted(curves.items())
    ]
    return dash.render(
        request,
        "compare.html",
        rows=rows,
        param_names=param_names,
        metric_names=metric_names,
        charts=charts,
    )


def models_page(dash: Dashboard, request: Request) -> Response:
    registry = Registry(store=dash.store)
    summary = []
    for name in registry.models():
        versions = registry.versions(name)
        summary.append(
            (name, versions[-1] if versions else None, len(versions), registry.alias_versions(name))
        )
    return dash.render(request, "models.html", models=summary)


def _versions(registry: Registry, name: str) -> list[ModelVersion]:
    """The versions of model ``name``; a name no model can have is a model that is not there."""
    try:
        return registry.versions(name)
    except InvalidInputError as exc:
        raise NotFoundError(str(exc)) from None


def model_page(dash: Dashboard, request: Request) -> Response:
    name = request.path_params["name"]
    registry = Registry(store=dash.store)
    versions = _versions(registry, name)
    metric_names = sorted({m for v in versions for m in v.metrics})
    charts = [
        _charts.line_chart(
            metric,
            [
                (
                    metric,
                    [v.version for v in versions if metric in v.metrics],
                    [v.metrics[metric] for v in versions if metric in v.metrics],
                )
            ],
            x_title="version",
            y_title=metric,
        )
        for metric in metric_names
        if not metric.endswith((".low", ".high"))
    ]
    for chart in charts:
        chart["layout"]["xaxis"]["dtick"] = 1  # versions are whole numbers
    return dash.render(
        request,
        "model.html",
        name=name,
        versions=list(reversed(versions)),
        aliases=sorted(registry.alias_versions(name).items()),
        history=list(reversed(registry.history(name))),
        gates=registry.gates(name),
        usage_gate=registry.usage_gate(name),
        metric_names=metric_names,
        charts=charts,
    )


def _redirect(request: Request, path: str) -> Response:
    return RedirectResponse(f"{request.scope.get('root_path', '')}{path}", status_code=303)


def move_alias(dash: Dashboard, request: Request, form: Any) -> Response:
    """Move the alias, or answer 409 with the gates that refused (the app renders GateRefused)."""
    name = request.path_params["name"]
    registry = Registry(store=dash.store)
    _versions(registry, name)
    version = parse_version(str(form.get("version", "")))
    registry.set_alias(
        name, str(form.get("alias", "")), version, why=str(form.get("why", "")), who="dashboard"
    )
    return _redirect(request, f"/models/{quote(name, safe='')}")


def deployments_page(dash: Dashboard, request: Request) -> Response:
    """Deployments with their next firing, the recent firings, and what triggered what."""
    from limelight.scheduling import list_deployments, recent_firings
    from limelight.scheduling._history import next_firing

    config = dash.store.config
    deployed = [(d, next_firing(d)) for d in list_deployments(config)]
    fired = recent_firings(limit=100, config=config)
    # run A finished -> firing -> run B: the edges of the chain, newest first
    chain = [f for f in fired if f.event_source and f.event_source.startswith("run:")]
    return dash.render(
        request,
        "deployments.html",
        deployments=deployed,
        firings=fired,
        chain=[(f.event_source[4:], f) for f in chain if f.event_source],
    )


def experiments_page(dash: Dashboard, request: Request) -> Response:
    return dash.render(
        request,
        "experiments.html",
        experiments=list_experiments(dash.store.metadata),
        interleaving=_events.interleaving_runs(dash.store),
    )


def experiment_page(dash: Dashboard, request: Request) -> Response:
    spec = get_experiment(dash.store.metadata, request.path_params["name"])
    report = _events.experiment_report(dash.store, spec)
    charts = []
    series = report.series
    if series is not None:
        x = _charts.times(series.day_end)
        chart = _charts.line_chart(
            f"{series.metric}: {series.variant} minus control over time",
            [
                ("estimate", x, series.diff.tolist()),
                (f"{1 - series.alpha:.0%} interval", x, series.ci_low.tolist()),
                ("", x, series.ci_high.tolist()),
                ("sequential interval", x, series.seq_low.tolist()),
                ("", x, series.seq_high.tolist()),
            ],
            x_title="day",
            y_title="difference",
        )
        for trace, colour, dash_style in zip(
            chart["data"],
            ["#1a237e", "#7986cb", "#7986cb", "#e65100", "#e65100"],
            ["solid", "dot", "dot", "dash", "dash"],
            strict=True,
        ):
            trace["line"] = {"color": colour, "dash": dash_style}
            trace["showlegend"] = bool(trace["name"])
        charts.append(chart)
    if report.analysis is not None:
        done = [r for r in report.analysis.results if r.estimate is not None]
        if done:
            charts.append(
                _charts.bar_chart(
                    "each metric's difference with its interval",
                    [f"{r.metric} ({r.variant})" for r in done],
                    [r.estimate.diff for r in done if r.estimate],
                    low=[r.estimate.ci_low for r in done if r.estimate],
                    high=[r.estimate.ci_high for r in done if r.estimate],
                )
            )
    return dash.render(request, "experiment.html", report=report, spec=spec, charts=charts)


def stop_experiment(dash: Dashboard, request: Request, form: Any) -> Response:
    name = request.path_params["name"]
    set_experiment_status(dash.store.metadata, name, "stopped")
    return _redirect(request, f"/experiments/{quote(name, safe='')}")


def bandits_page(dash: Dashboard, request: Request) -> Response:
    stats = dash.cache.get("bandit_stats", _events.bandit_stats)
    arms = stats.arms
    ope = _events.ope_rows(Registry(store=dash.store))
    charts = []
    if arms:
        charts.append(
            _charts.bar_chart(
                "take rate per arm (95% Wilson interval)",
                [a.arm for a in arms],
                [a.take_rate for a in arms],
                low=[a.interval[0] for a in arms],
                high=[a.interval[1] for a in arms],
                y_title="plays / impressions",
            )
        )
        charts.append(
            _charts.bar_chart(
                "logged action probabilities", stats.bins, stats.counts, y_title="choices"
            )
        )
    if ope:
        charts.append(
            _charts.bar_chart(
                "off-policy estimates",
                [f"{r.model}/{r.version} {r.estimator}" for r in ope],
                [r.estimate for r in ope],
                low=[r.low for r in ope],
                high=[r.high for r in ope],
                y_title="estimated reward",
            )
        )
    return dash.render(
        request, "bandits.html", arms=arms, ope=ope, charts=charts, choices=stats.choices
    )


def serving_page(dash: Dashboard, request: Request) -> Response:
    stats = _events.serving_stats(dash.store)
    registry = Registry(store=dash.store)
    served = [(name, sorted(registry.alias_versions(name).items())) for name in registry.models()]
    charts = []
    if stats.requests:
        x = _charts.times(stats.times)
        charts.append(
            _charts.line_chart(
                "requests per second",
                [("requests/s", x, stats.rate)],
                x_title="time",
                y_title="requests/s",
            )
        )
        charts.append(
            _charts.line_chart(
                "latency",
                [("p50", x, stats.p50), ("p99", x, stats.p99)],
                x_title="time",
                y_title="ms",
            )
        )
    return dash.render(request, "serving.html", stats=stats, served=served, charts=charts)


def monitors_page(dash: Dashboard, request: Request) -> Response:
    """Each monitor's value per window (one line per model version) against its threshold,
    its alerts, and beside them the model's versions and the rollbacks monitors made."""
    from limelight.monitoring import Monitors

    watch = Monitors(dash.store)
    registry = Registry(store=dash.store)
    known = set(registry.models())
    sections = []
    for spec in watch.all():
        values = watch.values(spec.name)
        per_version: dict[Any, tuple[list[float], list[Any]]] = {}
        for v in values:
            xs, ys = per_version.setdefault(v["version"], ([], []))
            xs.append(v["window_end"])
            ys.append(v["value"])
        series = [
            (f"v{version}" if version is not None else "no traffic", _charts.times(xs), ys)
            for version, (xs, ys) in sorted(per_version.items(), key=lambda kv: str(kv[0]))
        ]
        ends = [v["window_end"] for v in values]
        for side, threshold in (("above", spec.above), ("below", spec.below)):
            if threshold is not None and ends:
                series.append(
                    (
                        f"alert {side} {threshold:g}",
                        _charts.times([min(ends), max(ends)]),
                        [threshold, threshold],
                    )
                )
        chart = _charts.line_chart(
            f"{spec.name}: {spec.check}",
            series,
            x_title="window end (UTC)",
            y_title=str(spec.check),
        )
        sections.append((spec, chart, list(reversed(watch.alerts(spec.name))), len(values)))
    models = sorted({spec.model for spec, *_ in sections} & known)
    versions = {name: list(reversed(registry.versions(name))) for name in models}
    rollbacks = {
        name: [e for e in reversed(registry.history(name)) if (e.who or "").startswith("monitor:")]
        for name in models
    }
    return dash.render(
        request,
        "monitors.html",
        sections=sections,
        charts=[chart for _, chart, _, _ in sections],
        models=models,
        versions=versions,
        rollbacks=rollbacks,
    )
