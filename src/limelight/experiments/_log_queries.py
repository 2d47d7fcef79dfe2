"""Every analysis of the event log, as SQL over its Parquet files: only aggregates reach Python.

The event log can be far larger than memory. Each function here asks
:func:`limelight.store.event_queries.scan_events` for the files of the days it needs (partition
pruning by the experiment's window), reads only the columns it needs into an embedded DuckDB
(bounded memory, spilling) and brings back per-user (per day), per-arm or per-bucket
aggregates. The experiment analysis turns those into the same :class:`ExposureLog` the
in-memory path builds, so the statistics are the pure ones of this package, run once.

Every result records the snapshots it read (``{"impressions": id, "feedback": id}``; ``None``
for a log of plain segments, which keeps no snapshots); ``as_of`` reads those snapshots again.
"""

from __future__ import annotations

import importlib
import math
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from limelight.core.errors import InvalidInputError
from limelight.experiments._log_moments import variant_moments
from limelight.experiments._log_sql import (
    KEPT,
    PLAY_VALUE,
    UNATTRIBUTED,
    UNDECIDED,
    UNKNOWN,
    check_entries,
    entries,
    floats,
    ints,
    run_sql,
    scan_kind,
    snapshot_ids,
)
from limelight.experiments._moments import VariantMoments
from limelight.experiments.analysis import Correction, ExperimentAnalysis, analyze
from limelight.experiments.events import DEFAULT_PRE_PERIOD, ExposureLog
from limelight.experiments.spec import ExperimentSpec
from limelight.store.event_queries import EventScan, connect, events_relation

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "DAY",
    "ArmAggregates",
    "ServingAggregates",
    "analyze_event_log",
    "LoggedChoices",
    "arm_aggregates",
    "event_totals",
    "exposure_log_from_events",
    "logged_choices",
    "parse_as_of",
    "serving_aggregates",
]

DAY = 86400.0
KINDS = ("impressions", "feedback")


def parse_as_of(text: str | None) -> dict[str, int]:
    """``impressions=123,feedback=456`` as a dict of snapshot ids (``None``/empty: the latest).

    Each kind is its own table with its own snapshots, so each is named; a kind left out is
    read at its latest snapshot.
    """
    if text is None or not text.strip():
        return {}
    found: dict[str, int] = {}
    for part in text.split(","):
        kind, sep, value = part.strip().partition("=")
        kind = kind.strip()
        if not sep or kind not in KINDS:
            raise InvalidInputError(
                f"--as-of {text!r}: write KIND=SNAPSHOT[,KIND=SNAPSHOT] with KIND impressions or "
                "feedback, e.g. --as-of impressions=123,feedback=456 (the snapshot ids an "
                "analysis printed)"
            )
        if kind in found:
            raise InvalidInputError(f"--as-of {text!r}: {kind} is named twice")
        try:
            snapshot = int(value.strip())
        except ValueError:
            raise InvalidInputError(
                f"--as-of {text!r}: the snapshot of {kind} must be a whole number, not "
                f"{value.strip()!r}"
            ) from None
        if snapshot < 0:
            raise InvalidInputError(f"--as-of {text!r}: a snapshot id is not negative")
        found[kind] = snapshot
    return found


def _bucket(ts: str) -> str:
    """SQL for the day index of ``ts`` after ``$start`` (days of ``$day`` seconds), exact
    against the cutoffs ``start + day * k`` that the daily series computes in numpy."""
    b0 = f"CAST(floor(({ts} - $start) / $day) AS BIGINT)"
    return (
        f"(CASE WHEN {ts} >= $start + ({b0} + 1) * $day THEN {b0} + 1 "
        f"WHEN {ts} < $start + {b0} * $day THEN {b0} - 1 ELSE {b0} END)"
    )


def exposure_log_from_events(
    root: str,
    spec: ExperimentSpec,
    *,
    play_event: str = "play",
    pre_period: float = DEFAULT_PRE_PERIOD,
    until: float | None = None,
    as_of: Mapping[str, int | None] | None = None,
    day: float = DAY,
) -> ExposureLog:
    """The :class:`ExposureLog` of ``spec`` computed in DuckDB over the event log at ``root``.

    The same rules as :func:`limelight.experiments.events.exposure_log` (window, ``decided``,
    conflicting users, unknown variants, plays from the first exposure, the pre-period
    covariate), but exposures and plays come back summed per (user, day of the experiment):
    the log is exact at the end of every ``day``, which is what the analysis and the daily
    series read. ``day=math.inf`` sums per user only: enough for the analysis (the cheapest),
    not for a daily series.
    """
    found = _query(root, spec, play_event, pre_period, until, as_of, day, moments=False)
    if not isinstance(found, ExposureLog):  # pragma: no cover - moments=False gives a log
        raise TypeError("expected an exposure log")
    return found


def _import_statistics_meanwhile() -> None:
    """Start importing ``scipy.special`` (the read-out's distributions, about 0.15 s) in a
    thread of its own: DuckDB releases the GIL while it runs the query, so the import costs
    the read-out no time, where it was a tenth of it at 10M impressions."""
    if "scipy.special" not in sys.modules:
        threading.Thread(
            target=importlib.import_module, args=("scipy.special",), daemon=True
        ).start()


def _query(
    root: str,
    spec: ExperimentSpec,
    play_event: str,
    pre_period: float,
    until: float | None,
    as_of: Mapping[str, int | None] | None,
    day: float,
    *,
    moments: bool,
) -> ExposureLog | tuple[VariantMoments, dict[str, int], dict[str, int | None]]:
    if not isinstance(spec, ExperimentSpec):
        raise InvalidInputError("spec must be an ExperimentSpec")
    if not pre_period >= 0:
        raise InvalidInputError(f"pre_period must be >= 0 seconds, got {pre_period!r}")
    if not day > 0:
        raise InvalidInputError(f"day must be a positive number of seconds, got {day!r}")
    lo = -math.inf if spec.start is None else float(spec.start)
    hi = math.inf if spec.stop is None else float(spec.stop)
    if until is not None:
        hi = min(hi, float(until))
    imp_scan = scan_kind(root, "impressions", lo, hi, as_of)
    fb_scan = scan_kind(root, "feedback", lo - pre_period, hi, as_of)
    con = connect()
    found: ExposureLog | tuple[VariantMoments, dict[str, int]]
    try:
        _import_statistics_meanwhile()
        if moments:  # per-variant moments, in SQL: nothing per user enters Python
            found = variant_moments(con, imp_scan, fb_scan, spec, play_event, pre_period, lo, hi)
        else:
            found = _exposure_log(con, imp_scan, fb_scan, spec, play_event, pre_period, lo, hi, day)
    finally:
        con.close()
    if isinstance(found, ExposureLog):
        return found
    return found[0], found[1], snapshot_ids(imp_scan, fb_scan)


def _exposure_log(
    con: duckdb.DuckDBPyConnection,
    imp_scan: EventScan,
    fb_scan: EventScan,
    spec: ExperimentSpec,
    play_event: str,
    pre_period: float,
    lo: float,
    hi: float,
    day: float,
) -> ExposureLog:
    found = entries(con, imp_scan, spec, lo, hi)
    params = dict(found.params)
    # The entries summed per (user, variant, decided, day) when the days are known up front (a
    # started experiment), else per timestamp; each row's shape checks are carried along.
    if not math.isfinite(day):  # totals per user only
        grain = "NULL"
    elif math.isfinite(lo):
        grain = _bucket("ts")
        params |= {"start": lo, "day": day}
    else:
        grain = "ts"
    run_sql(
        con,
        (imp_scan,),
        f"""CREATE TABLE hits AS
            SELECT user_id, code, d, min(ts) AS first, max(ts) AS last, count(*) AS n,
                   bool_or(bad) AS bad, bool_or(bad_decided) AS bad_decided
            FROM {found.sql} GROUP BY user_id, code, d, {grain}""",
        params,
    )
    n_bad, n_bad_decided, undecided, unattributed, unknown, exposures = con.execute(
        f"""SELECT count(*) FILTER (WHERE bad), count(*) FILTER (WHERE bad_decided),
                   coalesce(sum(n) FILTER (WHERE {UNDECIDED}), 0),
                   coalesce(sum(n) FILTER (WHERE {UNATTRIBUTED}), 0),
                   coalesce(sum(n) FILTER (WHERE {UNKNOWN}), 0),
                   coalesce(sum(n) FILTER (WHERE {KEPT}), 0)
            FROM hits"""
    ).fetchone() or (0, 0, 0, 0, 0, 0)
    check_entries(n_bad, n_bad_decided, exposures, spec, imp_scan, lo, hi)
    con.execute(f"DELETE FROM hits WHERE NOT ({KEPT})")
    con.execute(
        """CREATE TABLE users AS
           SELECT user_id, min(first) AS first, min(code) AS cmin, max(code) AS cmax,
                  sum(n) AS impressions
           FROM hits GROUP BY user_id"""
    )
    conflicting, begin = con.execute(
        "SELECT count(*) FILTER (WHERE cmin <> cmax), min(first) FILTER (WHERE cmin = cmax) "
        "FROM users"
    ).fetchone() or (0, None)
    dropped = {
        "conflicting_users": int(conflicting),
        "unknown_variant_exposures": int(unknown),
        "undecided_exposures": int(undecided),
        "unattributed_exposures": int(unattributed),
    }
    con.execute(
        "CREATE TABLE ids AS SELECT user_id, "
        "(row_number() OVER (ORDER BY user_id)) - 1 AS uid, first, cmin FROM users "
        "WHERE cmin = cmax"
    )
    con.execute("DROP TABLE users")
    user_ids = con.sql("SELECT user_id FROM ids ORDER BY uid").to_arrow_table()["user_id"]
    users = con.execute("SELECT cmin, first FROM ids ORDER BY uid").fetchnumpy()
    start = lo if math.isfinite(lo) else float(begin if begin is not None else 0.0)
    daily = math.isfinite(day)
    exp_rows = con.execute(
        f"""SELECT u.uid AS uid, max(h.last) AS ts, sum(h.n) AS n FROM hits h
            JOIN ids u USING (user_id) GROUP BY u.uid{", " + _bucket("h.last") if daily else ""}""",
        {"start": start, "day": day} if daily else {},
    ).fetchnumpy()
    con.execute("DROP TABLE hits")
    fb = events_relation(con, fb_scan, ["ts", "user_id", "event", "value"])
    value = PLAY_VALUE
    hi_sql = "AND f.ts < $hi" if math.isfinite(hi) else ""
    post = run_sql(
        con,
        (fb_scan,),
        f"""SELECT u.uid AS uid, max(f.ts) AS ts, count(*) AS n, sum({value}) AS value
            FROM {fb} f JOIN ids u USING (user_id)
            WHERE f.event = $play AND f.ts >= u.first {hi_sql}
            GROUP BY u.uid{", " + _bucket("f.ts") if daily else ""}""",
        {"play": play_event}
        | ({"start": start, "day": day} if daily else {})
        | ({"hi": hi} if math.isfinite(hi) else {}),
    ).fetchnumpy()
    n = len(user_ids)
    pre_plays, pre_value = np.zeros(n), np.zeros(n)
    if math.isfinite(lo):
        pre = run_sql(
            con,
            (fb_scan,),
            f"""SELECT u.uid AS uid, count(*) AS n, sum({value}) AS value
                FROM {fb} f JOIN ids u USING (user_id)
                WHERE f.event = ? AND f.ts < ? AND f.ts >= ? GROUP BY u.uid""",
            [play_event, lo, lo - pre_period],
        ).fetchnumpy()
        pre_uid = ints(pre["uid"])
        pre_plays[pre_uid] = floats(pre["n"])
        pre_value[pre_uid] = floats(pre["value"])
    return ExposureLog(
        spec=spec,
        user_ids=user_ids.combine_chunks(),
        variant=ints(users["cmin"]),
        first_exposure=floats(users["first"]),
        exposure_user=ints(exp_rows["uid"]),
        exposure_ts=floats(exp_rows["ts"]),
        play_user=ints(post["uid"]),
        play_ts=floats(post["ts"]),
        play_value=floats(post["value"]),
        pre_plays=pre_plays,
        pre_play_value=pre_value,
        window=(lo, hi),
        **dropped,
        exposure_count=floats(exp_rows["n"]),
        play_count=floats(post["n"]),
        resolution=(start, day),
        snapshots=snapshot_ids(imp_scan, fb_scan),
    )


def _shown(
    con: duckdb.DuckDBPyConnection,
    imp_scan: EventScan,
    fb_scan: EventScan,
    play_event: str,
    *,
    window: tuple[float, float] = (-math.inf, math.inf),
) -> None:
    """Temp table ``shown``: every (request, item) shown with an artwork, its propensity and
    whether it was played (a play of that item for that request, however many times)."""
    lo, hi = window
    cols = ["request_id", "items", "artworks", "propensities"] + (
        ["ts"] if math.isfinite(lo) or math.isfinite(hi) else []
    )
    imp = events_relation(con, imp_scan, cols)
    if len(cols) == 5:
        imp = (
            f"(SELECT * FROM {imp} WHERE ts >= CAST('{float(lo)!r}' AS DOUBLE) "
            f"AND ts < CAST('{float(hi)!r}' AS DOUBLE))"
        )
    fb = events_relation(con, fb_scan, ["request_id", "item_id", "event"])
    bad = run_sql(
        con,
        (imp_scan,),
        f"""SELECT count(*) FILTER (WHERE coalesce(len(artworks), 0) <> coalesce(len(items), 0)),
                   count(*) FILTER (WHERE coalesce(len(propensities), 0) <> coalesce(len(items), 0))
            FROM {imp}""",
        [],
    ).fetchone() or (0, 0)
    for column, count in zip(("artworks", "propensities"), bad, strict=True):
        if count:
            raise InvalidInputError(
                f"impressions: '{column}' must list one entry per shown item in every row"
            )
    run_sql(
        con,
        (imp_scan, fb_scan),
        f"""CREATE TABLE shown AS
            WITH plays AS (SELECT DISTINCT request_id, item_id FROM {fb} WHERE event = $play),
            s AS (
              SELECT request_id, items[i] AS item_id, artworks[i] AS artwork,
                     propensities[i] AS propensity
              FROM (SELECT request_id, items, artworks, propensities,
                           UNNEST(range(1, len(items) + 1)) AS i FROM {imp}))
            SELECT s.artwork, s.propensity, p.request_id IS NOT NULL AS played
            FROM s LEFT JOIN plays p ON s.request_id = p.request_id AND s.item_id = p.item_id
            WHERE s.artwork IS NOT NULL""",
        {"play": play_event},
    )


@dataclass(frozen=True)
class ArmAggregates:
    """Per artwork arm: impressions, plays and mean logged propensity; a propensity histogram."""

    arms: list[tuple[str, int, int, float]]  # (arm, impressions, plays, mean propensity)
    histogram: list[int]  # counts of ``bins`` equal bins over [0, 1] (outside: the edge bins)
    choices: int  # logged propensities counted
    snapshots: dict[str, int | None] = field(default_factory=dict)


def arm_aggregates(
    root: str,
    *,
    play_event: str = "play",
    bins: int = 20,
    as_of: Mapping[str, int | None] | None = None,
) -> ArmAggregates:
    """What the bandit page shows, in DuckDB: every (request, item) shown with an artwork,
    joined with its plays, summed per arm; the propensities binned as ``numpy.histogram``."""
    if bins < 1:
        raise InvalidInputError(f"bins must be at least 1, got {bins}")
    imp_scan = scan_kind(root, "impressions", -math.inf, math.inf, as_of)
    fb_scan = scan_kind(root, "feedback", -math.inf, math.inf, as_of)
    con = connect()
    try:
        _shown(con, imp_scan, fb_scan, play_event)
        arms = con.execute(
            """SELECT artwork, count(*) AS n, count(*) FILTER (WHERE played) AS played,
                      avg(propensity) AS mean
               FROM shown GROUP BY artwork ORDER BY artwork"""
        ).fetchall()
        edges = np.linspace(0.0, 1.0, bins + 1).tolist()
        # numpy.histogram's uniform bins: index from the scaled value, then corrected by edges
        index = f"least(CAST(floor(v * {float(bins)!r}) AS BIGINT), {bins - 1})"
        fixed = (
            f"(CASE WHEN v < ?[{index} + 1] THEN {index} - 1 "
            f"WHEN v >= ?[{index} + 2] AND {index} <> {bins - 1} THEN {index} + 1 "
            f"ELSE {index} END)"
        )
        hist = con.execute(
            f"""SELECT {fixed} AS b, count(*) FROM
                (SELECT least(greatest(propensity, 0.0), 1.0) AS v FROM shown
                 WHERE propensity IS NOT NULL AND NOT isnan(propensity))
                GROUP BY b""",
            [edges, edges],
        ).fetchall()
        (choices,) = con.execute("SELECT count(propensity) FROM shown").fetchone() or (0,)
    finally:
        con.close()
    counts = [0] * bins
    for b, c in hist:
        counts[int(b)] += int(c)
    rows = [
        (str(a), int(n), int(p), float(m) if m is not None else float("nan")) for a, n, p, m in arms
    ]
    return ArmAggregates(rows, counts, int(choices), snapshot_ids(imp_scan, fb_scan))


@dataclass(frozen=True)
class LoggedChoices:
    """The artwork choices of the log summed per arm, for off-policy evaluation of a
    context-free target policy (``limelight.bandits.ChoiceSums(**choices.sums)``)."""

    arms: list[str]
    sums: dict[str, NDArray[np.float64]]  # n, r_p, w_p, rr_pp, r_pp, w_pp, max_inv_p per arm
    snapshots: dict[str, int | None] = field(default_factory=dict)


def logged_choices(
    root: str,
    *,
    play_event: str = "play",
    since: float | None = None,
    until: float | None = None,
    as_of: Mapping[str, int | None] | None = None,
) -> LoggedChoices:
    """Per artwork arm: the rounds (items shown with an artwork and its propensity), and the
    sums of reward/propensity terms that IPS and SNIPS need (reward: the item was played)."""
    lo = -math.inf if since is None else float(since)
    hi = math.inf if until is None else float(until)
    imp_scan = scan_kind(root, "impressions", lo, hi, as_of)
    fb_scan = scan_kind(root, "feedback", lo, math.inf, as_of)
    con = connect()
    try:
        _shown(con, imp_scan, fb_scan, play_event, window=(lo, hi))
        (bad,) = con.execute(
            "SELECT count(*) FROM shown WHERE propensity IS NOT NULL AND "
            "(isnan(propensity) OR propensity <= 0 OR propensity > 1)"
        ).fetchone() or (0,)
        if bad:
            raise InvalidInputError(
                f"{bad} logged propensities are outside (0, 1]: the log cannot be used for "
                "off-policy evaluation until serving logs the probability of each choice"
            )
        rows = con.execute(
            """SELECT artwork, count(*) AS n, sum(r / p) AS r_p, sum(1 / p) AS w_p,
                      sum(r * r / (p * p)) AS rr_pp, sum(r / (p * p)) AS r_pp,
                      sum(1 / (p * p)) AS w_pp, max(1 / p) AS max_inv_p
               FROM (SELECT artwork, propensity AS p, CAST(played AS DOUBLE) AS r FROM shown
                     WHERE propensity IS NOT NULL)
               GROUP BY artwork ORDER BY artwork"""
        ).fetchnumpy()
    finally:
        con.close()
    names = [str(a) for a in rows.pop("artwork")]
    sums = {k: floats(v) for k, v in rows.items()}
    return LoggedChoices(names, sums, snapshot_ids(imp_scan, fb_scan))


@dataclass(frozen=True)
class ServingAggregates:
    """Traffic and latency of served requests, summed per time bucket, in DuckDB."""

    requests: int
    empty: int
    t0: float
    t1: float
    bucket: float
    counts: list[int]
    p50: list[float]
    p99: list[float]
    percentiles: dict[str, float]
    model_traffic: dict[str, int]
    snapshots: dict[str, int | None] = field(default_factory=dict)


def serving_aggregates(
    root: str,
    buckets: tuple[float, ...],
    *,
    max_points: int = 120,
    as_of: Mapping[str, int | None] | None = None,
) -> ServingAggregates:
    """Requests, empty answers, latency percentiles (overall and per time bucket, the smallest
    of ``buckets`` giving at most ``max_points``) and traffic per model version."""
    scan = scan_kind(root, "impressions", -math.inf, math.inf, as_of)
    con = connect()
    try:
        rel = events_relation(con, scan, ["ts", "items", "models", "latency_ms"])
        run_sql(
            con,
            (scan,),
            f"""CREATE TABLE imp AS SELECT ts, latency_ms,
                   coalesce(len(items), 0) = 0 AS empty, models FROM {rel}""",
            [],
        )
        n, empty, t0, t1 = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE empty), min(ts), max(ts) FROM imp"
        ).fetchone() or (0, 0, None, None)
        traffic = {
            str(m): int(c)
            for m, c in con.execute(
                "SELECT m, count(*) FROM (SELECT UNNEST(models) AS m FROM imp) "
                "WHERE m IS NOT NULL GROUP BY m ORDER BY m"
            ).fetchall()
        }
        qs = (50, 90, 95, 99)
        overall = con.execute(
            f"SELECT quantile_cont(latency_ms, {[q / 100 for q in qs]}) FROM imp "
            "WHERE isfinite(latency_ms)"
        ).fetchone()
        values = overall[0] if overall and overall[0] is not None else [float("nan")] * len(qs)
        percentiles = {f"p{q}": float(v) for q, v in zip(qs, values, strict=True)}
        if not n:
            return ServingAggregates(
                0, 0, 0.0, 0.0, 1.0, [], [], [], percentiles, traffic, snapshot_ids(scan)
            )
        span = max(float(t1) - float(t0), 1.0)
        bucket = next((b for b in buckets if span / b <= max_points), buckets[-1])
        rows = con.execute(
            """SELECT CAST(floor((ts - ?) / ?) AS BIGINT) AS b, count(*),
                      quantile_cont(latency_ms, [0.5, 0.99]) FILTER (WHERE isfinite(latency_ms))
               FROM imp GROUP BY b ORDER BY b""",
            [float(t0), bucket],
        ).fetchall()
    finally:
        con.close()
    size = int(rows[-1][0]) + 1
    counts, p50, p99 = [0] * size, [float("nan")] * size, [float("nan")] * size
    for b, c, q in rows:
        counts[int(b)] = int(c)
        if q is not None:
            p50[int(b)], p99[int(b)] = float(q[0]), float(q[1])
    return ServingAggregates(
        int(n),
        int(empty),
        float(t0),
        float(t1),
        bucket,
        counts,
        p50,
        p99,
        percentiles,
        traffic,
        snapshot_ids(scan),
    )


def event_totals(root: str, *, play_event: str = "play") -> tuple[int, int]:
    """Items shown (over every impression) and ``play_event`` feedback events, in DuckDB."""
    imp_scan = scan_kind(root, "impressions", -math.inf, math.inf, None)
    fb_scan = scan_kind(root, "feedback", -math.inf, math.inf, None)
    con = connect()
    try:
        imp = events_relation(con, imp_scan, ["items"])
        fb = events_relation(con, fb_scan, ["event"])
        (shown,) = run_sql(
            con, (imp_scan,), f"SELECT coalesce(sum(len(items)), 0) FROM {imp}", []
        ).fetchone() or (0,)
        (plays,) = run_sql(
            con, (fb_scan,), f"SELECT count(*) FROM {fb} WHERE event = ?", [play_event]
        ).fetchone() or (0,)
    finally:
        con.close()
    return int(shown), int(plays)


def analyze_event_log(
    root: str,
    spec: ExperimentSpec,
    *,
    alpha: float = 0.05,
    correction: Correction = "holm",
    use_cuped: bool = True,
    play_event: str = "play",
    pre_period: float = DEFAULT_PRE_PERIOD,
    until: float | None = None,
    as_of: Mapping[str, int | None] | None = None,
) -> ExperimentAnalysis:
    """The whole job over the event log at ``root``, out of core: the per-user metrics are a
    table in DuckDB, reduced there to per-variant moments (:class:`VariantMoments`), so what
    enters Python does not grow with the users; the statistics are those of :func:`analyze`.
    The result names the snapshots it read."""
    found = _query(root, spec, play_event, pre_period, until, as_of, math.inf, moments=True)
    if isinstance(found, ExposureLog):  # pragma: no cover - moments=True gives moments
        raise TypeError("expected moments")
    moments, dropped, snapshots = found
    result = analyze(moments, spec, alpha=alpha, correction=correction, use_cuped=use_cuped)
    return replace(
        result,
        snapshots=snapshots,
        conflicting_users=dropped["conflicting_users"],
        unknown_variant_exposures=dropped["unknown_variant_exposures"],
        undecided_exposures=dropped["undecided_exposures"],
        unattributed_exposures=dropped["unattributed_exposures"],
    )
