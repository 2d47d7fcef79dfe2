"""An experiment's per-variant moments from the event log in two DuckDB statements.

The common read-out (no daily series) needs, per variant, only the moments of the per-user
metric columns (:class:`VariantMoments`). They come from two statements that read the
impressions once and the feedback once, the shape a hand-written query would have: the
experiment's entries are summed per user (first exposure, variant, impressions, and the entries
dropped and counted) into a table of the scratch database (whose blocks DuckDB can evict, see
:func:`~limelight.store.event_queries.connect`); then the feedback's plays are summed per user
joined to those users, and the users are reduced per variant. Nothing per user is returned to
Python, and the counts of dropped entries and conflicting users ride along in the same groups.

The per-user table is a statement of its own, not a common table expression of the second: a
CTE read twice is materialised while the joins and aggregations that read it hold memory too,
and under a memory limit DuckDB then took the per-user aggregation external (at 10M impressions
and 768MB it spilled 70 MB, with twice the peak memory and 20% more time than two statements).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from limelight.experiments._log_sql import (
    PLAY_VALUE,
    UNATTRIBUTED,
    UNDECIDED,
    check_entries,
    entries,
    floats,
    ints,
    run_sql,
)
from limelight.experiments._moments import COLUMNS, VariantMoments
from limelight.experiments.spec import ExperimentSpec
from limelight.store.event_queries import EventScan, events_relation

if TYPE_CHECKING:
    import duckdb

__all__ = ["variant_moments"]

# why an entry is not an exposure (0: it is one)
_BAD, _BAD_DECIDED, _UNDECIDED, _UNKNOWN = 1, 2, 3, 4
_REASONS = {"bad": _BAD, "bad_decided": _BAD_DECIDED, "undecided": _UNDECIDED, "unknown": _UNKNOWN}
_PAIRS = [(a, b) for i, a in enumerate(COLUMNS) for b in COLUMNS[i:]]


def variant_moments(
    con: duckdb.DuckDBPyConnection,
    imp_scan: EventScan,
    fb_scan: EventScan,
    spec: ExperimentSpec,
    play_event: str,
    pre_period: float,
    lo: float,
    hi: float,
) -> tuple[VariantMoments, dict[str, int]]:
    """The per-variant moments of ``spec``'s users between ``lo`` and ``hi``, and the counts of
    what was dropped (the rules of :func:`limelight.experiments.events.exposure_log`)."""
    found = entries(con, imp_scan, spec, lo, hi)
    fb = events_relation(con, fb_scan, ["ts", "user_id", "event", "value"])
    params = {"play": play_event, "lo": lo, "hi": hi, "pre": lo - pre_period}
    moments = ", ".join(
        [f"avg({c}) AS mean_{c}, min({c}) AS low_{c}, max({c}) AS high_{c}" for c in COLUMNS]
        + [f"covar_samp({a}, {b}) AS cov_{a}__{b}" for a, b in _PAIRS]
    )
    # Per user, only what the read-out needs. The entries the rules drop (and rows of the
    # wrong shape, which are refused) are not summed per user but per reason, in groups of
    # their own (user_id NULL, reason > 0): the per-user state stays as narrow as a
    # hand-written query's, which keeps the aggregation of millions of users in memory.
    steered = bool(spec.steered_models)
    unattributed = f"count(*) FILTER (WHERE {UNATTRIBUTED})" if steered else "0"
    users = f"limelight_users_{uuid.uuid4().hex}"
    run_sql(
        con,
        (imp_scan,),
        f"""CREATE TABLE {users} AS
              SELECT CASE WHEN reason = 0 THEN user_id END AS user_id, reason,
                     min(ts) AS first, min(code) AS cmin, max(code) AS cmax,
                     count(*) AS impressions, {unattributed} AS unattributed
              FROM (SELECT *, CASE WHEN bad THEN {_BAD} WHEN bad_decided THEN {_BAD_DECIDED}
                                   WHEN {UNDECIDED} THEN {_UNDECIDED}
                                   WHEN code IS NULL THEN {_UNKNOWN} ELSE 0 END AS reason
                    FROM {found.sql})
              GROUP BY ALL""",
        found.params,
    )
    try:
        rows = run_sql(
            con,
            (fb_scan,),
            f"""WITH
                plays AS (
                  SELECT f.user_id,
                         count(*) FILTER (WHERE f.ts >= u.first AND f.ts < $hi) AS plays,
                         sum({PLAY_VALUE}) FILTER (WHERE f.ts >= u.first AND f.ts < $hi)
                             AS play_value,
                         count(*) FILTER (WHERE f.ts < $lo AND f.ts >= $pre) AS pre_plays,
                         sum({PLAY_VALUE}) FILTER (WHERE f.ts < $lo AND f.ts >= $pre)
                             AS pre_play_value
                  FROM {fb} f JOIN {users} u USING (user_id)
                  WHERE f.event = $play AND u.cmin = u.cmax GROUP BY f.user_id),
                per_user AS (
                  SELECT CASE WHEN u.reason = 0 AND u.cmin = u.cmax THEN u.cmin END AS variant,
                         u.reason, u.reason = 0 AND u.cmin <> u.cmax AS conflicting,
                         u.unattributed, u.impressions::DOUBLE AS impressions,
                         coalesce(p.plays, 0)::DOUBLE AS plays,
                         coalesce(p.play_value, 0)::DOUBLE AS play_value,
                         coalesce(p.pre_plays, 0)::DOUBLE AS pre_plays,
                         coalesce(p.pre_play_value, 0)::DOUBLE AS pre_play_value
                  FROM {users} u LEFT JOIN plays p USING (user_id))
                SELECT variant, count(*) AS n,
                       count(*) FILTER (WHERE conflicting) AS conflicting,
                       sum(impressions) FILTER (WHERE reason = 0) AS exposures,
                       sum(unattributed) AS unattributed,
                       {", ".join(f"sum(impressions) FILTER (WHERE reason = {code}) AS {name}" for name, code in _REASONS.items())},
                       {moments}
                FROM per_user GROUP BY variant""",
            params,
        ).fetchnumpy()
    finally:
        con.execute(f"DROP TABLE IF EXISTS {users}")
    summed = ("exposures", "conflicting", "unattributed", *_REASONS)
    total = {name: int(np.nansum(floats(rows[name]))) for name in summed}
    check_entries(total["bad"], total["bad_decided"], total["exposures"], spec, imp_scan, lo, hi)
    dropped = {
        "conflicting_users": total["conflicting"],
        "unknown_variant_exposures": total["unknown"],
        "undecided_exposures": total["undecided"],
        "unattributed_exposures": total["unattributed"],
    }
    variant = np.ma.asarray(rows["variant"])
    kept = ~np.ma.getmaskarray(variant)
    index = ints(np.ma.filled(variant, 0))[kept]
    k = len(spec.variants)

    def per_variant(name: str) -> NDArray[np.float64]:
        out = np.zeros(k) if name == "n" else np.full(k, np.nan)
        out[index] = floats(rows[name])[kept]
        return out

    return (
        VariantMoments(
            n=per_variant("n"),
            mean={c: per_variant(f"mean_{c}") for c in COLUMNS},
            low={c: per_variant(f"low_{c}") for c in COLUMNS},
            high={c: per_variant(f"high_{c}") for c in COLUMNS},
            cov={"*".join(sorted((a, b))): per_variant(f"cov_{a}__{b}") for a, b in _PAIRS},
        ),
        dropped,
    )
