"""The SQL a check runs over the event log: DuckDB over the out-of-core seam, aggregates back.

Nothing here reads a whole table into Python: each query names its columns, prunes days through
:func:`limelight.store.event_queries.scan_events`, and returns per-version aggregates (counts
per bin, a CDF's maximum gap, a percentile). Only for a Kolmogorov-Smirnov p-value on small
samples (at most 10,000 values each, where the exact distribution is used) are the values
themselves fetched.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from limelight.core.errors import InvalidInputError
from limelight.monitoring import stats
from limelight.monitoring._spec import CONTEXT_PREFIX, Check
from limelight.store.event_queries import connect, events_relation, scan_events

if TYPE_CHECKING:
    import duckdb

__all__ = ["EventWindow", "Measure", "first_event_time", "measure"]

DAY = 86400.0
CDF_BATCH_ROWS = 1 << 20
MEMORY_LIMIT = "512MB"
"""DuckDB's limit for a check: the process around it (Python, pyarrow, numpy, the CLI) holds
about 250 MB more, and a check over a day of 10M impressions stays under 1 GB (at the
analyses' 768MB it peaked at 1.01 GB: the CDF's grouping of 33M distinct scores fills any
limit, and spills past it)."""
LIST_COLUMNS = {"scores", "propensities", "items"}


@dataclass(frozen=True)
class EventWindow:
    """Impressions of one model in [start, end), optionally of one version only."""

    start: float
    end: float
    version: int | None = None


@dataclass
class Measure:
    """A check's value for one model version in one window, with what it was computed from."""

    version: int
    value: float
    detail: dict[str, Any] = field(default_factory=dict)


def _literal(x: float) -> str:
    return f"CAST('{float(x)!r}' AS DOUBLE)"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class _Log:
    """One DuckDB connection over the event log at ``root`` for one model."""

    def __init__(self, root: str, model: str, con: duckdb.DuckDBPyConnection) -> None:
        self.root, self.model, self.con = root, model, con

    def impressions(
        self,
        window: EventWindow,
        columns: list[str],
        *,
        slack: float = 0,
        kind: str = "impressions",
    ) -> str:
        """A subquery: the model's impressions (or failed requests: ``kind="failures"``) in the
        window, ``version`` plus ``columns``."""
        start = window.start - slack
        scan = scan_events(self.root, kind, since=start, until=window.end)
        cols = sorted({"ts", "models", *columns})
        source = events_relation(self.con, scan, cols)
        prefix = _quote(self.model + "/")
        keep = ", ".join(f'"{c}"' for c in columns)
        where = f"ts >= {_literal(start)} AND ts < {_literal(window.end)} AND _mv IS NOT NULL"
        if window.version is not None:
            where += f" AND TRY_CAST(split_part(_mv, '/', 2) AS INTEGER) = {int(window.version)}"
        return (
            f"(SELECT TRY_CAST(split_part(_mv, '/', 2) AS INTEGER) AS version{', ' if keep else ''}"
            f"{keep} FROM (SELECT *, list_filter(models, lambda m: starts_with(m, {prefix}))[1] AS _mv "
            f"FROM {source}) WHERE {where})"
        )

    def feedback(self, window: EventWindow, columns: list[str]) -> str:
        scan = scan_events(self.root, "feedback", since=window.start, until=window.end)
        source = events_relation(self.con, scan, sorted({"ts", *columns}))
        return (
            f"(SELECT * FROM {source} WHERE ts >= {_literal(window.start)} "
            f"AND ts < {_literal(window.end)})"
        )

    def values(self, window: EventWindow, column: str) -> str:
        """A subquery of one number per row, ``version, x``: list columns are flattened, and
        ``context.<feature>`` is that feature's value (rows without it are left out)."""
        if column.startswith(CONTEXT_PREFIX):
            rel = self.impressions(window, ["context"])
            feature = _quote(column[len(CONTEXT_PREFIX) :])
            x = f"list_filter(context, lambda c: c.name = {feature})[1].value"
        else:
            rel = self.impressions(window, [column])
            x = f'unnest("{column}")' if column in LIST_COLUMNS else f'"{column}"'
        return (
            f"(SELECT version, x FROM (SELECT version, {x} AS x FROM {rel}) "
            "WHERE x IS NOT NULL AND isfinite(x))"
        )

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, params or {}).fetchall()


def first_event_time(root: str) -> float | None:
    """When the event log's first impression was logged (None: it holds none)."""
    scan = scan_events(root, "impressions")
    if not scan.files:
        return None
    first_day = scan.files[0].rsplit("/date=", 1)[1][:10]
    files = tuple(f for f in scan.files if f.rsplit("/date=", 1)[1][:10] == first_day)
    con = connect()
    con.execute("SET enable_progress_bar = false")
    try:
        day = dataclasses.replace(scan, files=files)
        found = con.execute(f"SELECT min(ts) FROM {events_relation(con, day, ['ts'])}").fetchone()
    finally:
        con.close()
    return None if found is None or found[0] is None else float(found[0])


# -- drift --------------------------------------------------------------------------------------
def _drift(log: _Log, check: Check, window: EventWindow, reference: EventWindow) -> list[Measure]:
    column = check.column or "scores"
    ref_sql = log.values(reference, column)
    cur_sql = log.values(window, column)
    ref_row = log.rows(
        f"SELECT count(x), min(x), max(x), count(DISTINCT x), stddev_pop(x) FROM {ref_sql}"
    )[0]
    n_ref = int(ref_row[0])
    current = log.rows(
        f"SELECT version, count(x), min(x), max(x) FROM {cur_sql} GROUP BY version ORDER BY version"
    )
    out = []
    for version, n_cur, low, high in current:
        detail: dict[str, Any] = {"n_reference": n_ref, "n_current": int(n_cur)}
        if n_ref == 0:
            out.append(Measure(int(version), math.nan, detail | {"reason": "no-reference"}))
            continue
        one = EventWindow(window.start, window.end, int(version))
        cur_one = log.values(one, column)
        if check.name in ("psi", "js"):
            ref_counts, cur_counts = _binned_counts(
                log,
                ref_sql,
                cur_one,
                n_ref + int(n_cur),
                min(ref_row[1], low),
                max(ref_row[2], high),
                by_value=int(ref_row[3]) <= stats.DISTINCT_VALUES_AS_BINS,
            )
            fn = stats.psi_from_counts if check.name == "psi" else stats.jensen_shannon_from_counts
            value = fn(ref_counts, cur_counts)
            detail["bins"] = len(ref_counts)
        else:
            value = _cdf_check(log, check.name, ref_sql, cur_one, n_ref, int(n_cur), ref_row[4])
        out.append(Measure(int(version), value, detail))
    return out


def _binned_counts(
    log: _Log,
    ref_sql: str,
    cur_sql: str,
    n: int,
    low: float,
    high: float,
    *,
    by_value: bool,
) -> tuple[np.ndarray, np.ndarray]:
    if by_value:
        rows = log.rows(
            f"SELECT x, sum(r), sum(c) FROM (SELECT x, 1 AS r, 0 AS c FROM {ref_sql} UNION ALL "
            f"SELECT x, 0, 1 FROM {cur_sql}) GROUP BY x ORDER BY x"
        )
        return (
            np.array([r[1] for r in rows], dtype=np.float64),
            np.array([r[2] for r in rows], dtype=np.float64),
        )
    edges = stats.histogram_edges(n, float(low), float(high))
    bins = len(edges) - 1
    params = {
        "e": [float(e) for e in edges],
        "lo": float(edges[0]),
        "norm": bins / float(edges[-1] - edges[0]),
        "nb": bins,
    }
    # numpy's rule: bin i holds edges[i] <= x < edges[i+1], the last bin also its right edge.
    # The first guess from the width can be one bin off by rounding; the edges settle it.
    binned = (
        "SELECT CASE WHEN x < $e[i + 1] THEN i - 1 "
        "WHEN i < $nb - 1 AND x >= $e[i + 2] THEN i + 1 ELSE i END AS b FROM "
        "(SELECT x, CAST(least(greatest(floor((x - $lo) * $norm), 0), $nb - 1) AS BIGINT) AS i "
        "FROM {src})"
    )
    counts = []
    for src in (ref_sql, cur_sql):
        found = np.zeros(bins, dtype=np.float64)
        for b, count in log.rows(
            f"SELECT b, count(*) FROM ({binned.format(src=src)}) GROUP BY b", params
        ):
            found[int(b)] = count
        counts.append(found)
    return counts[0], counts[1]


def _cdf_check(
    log: _Log, name: str, ref_sql: str, cur_sql: str, n_ref: int, n_cur: int, ref_std: float
) -> float:
    if name == "ks" and max(n_ref, n_cur) <= stats.KS_EXACT_MAX_N:
        ref = np.array([r[0] for r in log.rows(f"SELECT x FROM {ref_sql}")], dtype=np.float64)
        cur = np.array([r[0] for r in log.rows(f"SELECT x FROM {cur_sql}")], dtype=np.float64)
        return stats.ks_pvalue(ref, cur)
    # Both empirical CDFs at every distinct value: the engine groups and sorts (spilling to disk
    # when it must) and streams the sorted counts out in batches.
    reader = log.con.sql(
        "SELECT x, CAST(sum(r) AS BIGINT), CAST(sum(c) AS BIGINT) FROM ("
        f"SELECT x, 1 AS r, 0 AS c FROM {ref_sql} UNION ALL SELECT x, 0, 1 FROM {cur_sql}) "
        "GROUP BY x ORDER BY x"
    ).to_arrow_reader(CDF_BATCH_ROWS)
    cdf = stats.CdfAccumulator(n_ref, n_cur)
    for batch in reader:
        cdf.add(*(batch.column(i).to_numpy() for i in range(3)))
    if name == "ks":
        return stats.ks_pvalue_from_statistic(cdf.ks_statistic, n_ref, n_cur)
    return cdf.wasserstein / max(float(ref_std or 0.0), 0.001)


# -- values of one window -----------------------------------------------------------------------
def _per_version(rows: list[tuple[Any, ...]]) -> list[Measure]:
    out = []
    for version, value, *rest in rows:
        detail = {"n": int(rest[0])} if rest else {}
        out.append(Measure(int(version), math.nan if value is None else float(value), detail))
    return out


def _simple(log: _Log, check: Check, window: EventWindow) -> list[Measure]:
    name, column = check.name, check.column
    if name == "requests":
        rel = log.impressions(window, [])
        sql = f"SELECT version, count(*), count(*) FROM {rel} GROUP BY version"
    elif name in ("p50", "p99", "mean", "min", "max"):
        agg = {
            "p50": "quantile_cont(x, 0.5)",
            "p99": "quantile_cont(x, 0.99)",
            "mean": "avg(x)",
            "min": "min(x)",
            "max": "max(x)",
        }[name]
        sql = f"SELECT version, {agg}, count(x) FROM {log.values(window, column or '')} GROUP BY version"
    elif name == "ess":
        vals = log.values(window, "propensities")
        rows = log.rows(
            f"SELECT version, sum(1 / x), sum(1 / (x * x)), count(x) FROM {vals} "
            "WHERE x > 0 GROUP BY version"
        )
        return [
            Measure(int(v), stats.ess_from_sums(float(s1), float(s2)), {"n": int(n)})
            for v, s1, s2, n in rows
        ]
    elif name == "duplicate_share":
        rel = log.impressions(window, ["request_id"])
        sql = (
            "SELECT version, (count(*) - count(DISTINCT request_id)) / count(*), count(*) "
            f"FROM {rel} GROUP BY version"
        )
    elif name in ("feedback_share", "plays_per_impression"):
        rel = log.impressions(window, ["request_id"])
        fb = log.feedback(window, ["request_id", "event"])
        if name == "feedback_share":
            joined = f"SELECT DISTINCT request_id, 1 AS hit FROM {fb}"
            value = "avg(coalesce(f.hit, 0))"
        else:
            joined = f"SELECT request_id, count(*) AS hit FROM {fb} WHERE event = 'play' GROUP BY 1"
            value = "sum(coalesce(f.hit, 0)) / count(*)"
        sql = (
            f"SELECT i.version, {value}, count(*) FROM {rel} i LEFT JOIN ({joined}) f "
            "USING (request_id) GROUP BY i.version"
        )
    elif name == "take_rate":
        return _take_rate(log, check, window)
    elif name == "error_rate":
        answered = log.impressions(window, [])
        failed = log.impressions(window, ["endpoint"], kind="failures")
        sql = (
            "SELECT version, avg(failed), count(*) FROM (SELECT version, 0.0 AS failed FROM "
            f"{answered} UNION ALL SELECT version, 1.0 FROM {failed} "
            "WHERE endpoint = '/v1/recommend') GROUP BY version"
        )
    elif name == "late_share":
        fb = log.feedback(window, ["request_id"])
        rel = log.impressions(window, ["request_id", "ts"], slack=7 * DAY)
        sql = (
            "SELECT i.version, avg(CASE WHEN f.ts - i.ts > 86400 THEN 1.0 ELSE 0.0 END), count(*) "
            f"FROM {fb} f JOIN (SELECT version, request_id, min(ts) AS ts FROM {rel} GROUP BY 1, 2) i "
            "USING (request_id) GROUP BY i.version"
        )
    else:  # pragma: no cover - parse_check admits no other name
        raise AssertionError(name)
    return _per_version(log.rows(sql))


def _take_rate(log: _Log, check: Check, window: EventWindow) -> list[Measure]:
    rel = log.impressions(window, ["request_id", "items"])
    fb = log.feedback(window, ["request_id", "item_id", "event"])
    plays = f"(SELECT DISTINCT request_id, item_id FROM {fb} WHERE event = 'play')"
    if check.position is None:
        shown = f"(SELECT version, request_id, unnest(items) AS item_id FROM {rel})"
    else:
        k = int(check.position) + 1
        shown = (
            f"(SELECT version, request_id, items[{k}] AS item_id FROM {rel} "
            f"WHERE len(items) >= {k})"
        )
    sql = (
        "SELECT s.version, avg(CASE WHEN p.item_id IS NULL THEN 0.0 ELSE 1.0 END), count(*) "
        f"FROM {shown} s LEFT JOIN {plays} p ON s.request_id = p.request_id "
        "AND s.item_id = p.item_id GROUP BY s.version"
    )
    return _per_version(log.rows(sql))


def _shown_items(
    log: _Log, check: Check, window: EventWindow, reference: EventWindow
) -> list[Measure]:
    """Coverage and Gini of the shown lists; the catalogue is every item shown in either."""
    cur = log.impressions(window, ["items"])
    ref = log.impressions(reference, ["items"])
    catalogue = {
        r[0]
        for r in log.rows(
            f"SELECT DISTINCT unnest(items) FROM {cur} UNION SELECT DISTINCT unnest(items) FROM {ref}"
        )
        if r[0] is not None
    }
    counts: dict[int, dict[str, int]] = {}
    for version, item, count in log.rows(
        f"SELECT version, item, count(*) FROM (SELECT version, unnest(items) AS item FROM {cur}) "
        "WHERE item IS NOT NULL GROUP BY 1, 2"
    ):
        counts.setdefault(int(version), {})[item] = int(count)
    out = []
    for version, shown in sorted(counts.items()):
        detail = {"catalogue": len(catalogue), "shown_items": len(shown)}
        if check.name == "coverage":
            value = len(shown) / len(catalogue)
        else:
            full = np.zeros(len(catalogue))
            full[: len(shown)] = list(shown.values())
            value = stats.gini(full)
        out.append(Measure(version, value, detail))
    return out


def measure(
    root: str, model: str, check: Check, window: EventWindow, reference: EventWindow | None
) -> list[Measure]:
    """The check's value for each version of ``model`` that served in ``window``."""
    con = connect(memory_limit=MEMORY_LIMIT)
    con.execute("SET enable_progress_bar = false")  # stdout belongs to the caller (--json)
    try:
        log = _Log(root, model, con)
        if check.is_drift:
            if reference is None:  # pragma: no cover - a drift check always has a reference
                raise AssertionError("a drift check needs a reference window")
            found = _drift(log, check, window, reference)
        elif check.name in ("coverage", "gini"):
            return _shown_items(log, check, window, reference or window)
        else:
            found = _simple(log, check, window)
        if not found and check.column is not None and check.column.startswith(CONTEXT_PREFIX):
            _known_feature(log, check.column, [window] + ([reference] if reference else []))
        return found
    finally:
        con.close()


def _known_feature(log: _Log, column: str, windows: list[EventWindow]) -> None:
    """A feature with no values anywhere looked at must be one the log names at all there:
    otherwise an InvalidInputError naming those it does (none logged: the window is empty)."""
    feature = column[len(CONTEXT_PREFIX) :]
    parts = " UNION ".join(
        f"SELECT DISTINCT unnest(context).name AS name FROM {log.impressions(w, ['context'])}"
        for w in windows
    )
    known = sorted(r[0] for r in log.rows(parts) if r[0] is not None)
    if known and feature not in known:
        raise InvalidInputError(
            f"{column}: {log.model} logged no context feature {feature!r}; "
            f"its features: {', '.join(known)}"
        )
