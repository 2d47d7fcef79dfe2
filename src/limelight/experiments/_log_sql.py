"""What every analysis of the event log shares: the files of a kind, running SQL over them with
clear errors, and the entries of one experiment in the impressions (as SQL)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from limelight.core.errors import InvalidInputError, StorageError
from limelight.experiments.spec import ExperimentSpec
from limelight.store.event_queries import EventScan, events_relation, scan_events

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "KEPT",
    "PLAY_VALUE",
    "UNATTRIBUTED",
    "UNDECIDED",
    "UNKNOWN",
    "Entries",
    "check_entries",
    "diagnose",
    "entries",
    "floats",
    "ints",
    "run_sql",
    "scan_kind",
    "snapshot_ids",
    "when",
]


def scan_kind(
    root: str, kind: str, since: float, until: float, as_of: Mapping[str, int | None] | None
) -> EventScan:
    return scan_events(
        root,
        kind,
        since=since if math.isfinite(since) else None,
        until=until if math.isfinite(until) else None,
        as_of=(as_of or {}).get(kind),
    )


def diagnose(scan: EventScan, exc: Exception) -> Exception:
    """A clear error naming the file DuckDB could not read (or whose columns are wrong)."""
    import pyarrow.parquet as pq

    for name in scan.files:
        try:
            with scan.filesystem.open(name, "rb") as f:
                schema = pq.read_schema(f)
        except Exception as bad:  # truncated, not Parquet, unreadable
            return StorageError(
                f"{scan.kind} file {name} is not a readable Parquet file ({bad}): move it out "
                "of the event log (or restore it) and run the analysis again"
            )
        for wanted in scan.schema:
            index = schema.get_field_index(wanted.name)
            if index >= 0 and schema.field(index).type != wanted.type:
                return StorageError(
                    f"{scan.kind} file {name} has column {wanted.name!r} of type "
                    f"{schema.field(index).type}, the event log's schema says {wanted.type}: "
                    "move it out of the event log (or rewrite it with the documented schema)"
                )
    return StorageError(f"could not read the {scan.kind} of the event log: {exc}")


def run_sql(
    con: duckdb.DuckDBPyConnection,
    scans: tuple[EventScan, ...],
    sql: str,
    params: list[Any] | dict[str, Any],
) -> duckdb.DuckDBPyConnection:
    """Execute ``sql``; a DuckDB error reading a file becomes a :class:`StorageError` naming it."""
    import duckdb

    try:
        return con.execute(sql, params)
    except duckdb.Error as exc:
        if isinstance(exc, duckdb.InterruptException):
            raise
        if isinstance(exc, duckdb.OutOfMemoryException):
            (limit,) = con.execute("SELECT current_setting('memory_limit')").fetchone() or ("?",)
            raise StorageError(
                f"the analysis needs more memory than DuckDB may use here ({limit}; it spills "
                "what it can to the temporary folder): set LIMELIGHT_DUCKDB_MEMORY higher, e.g. "
                "LIMELIGHT_DUCKDB_MEMORY=1GB, or analyse a shorter window"
            ) from None
        for scan in scans:
            problem = diagnose(scan, exc)
            if "could not read the" not in str(problem):
                raise problem from None
        raise StorageError(f"could not analyse the event log: {exc}") from None


def snapshot_ids(*scans: EventScan) -> dict[str, int | None]:
    return {scan.kind: scan.snapshot for scan in scans}


PLAY_VALUE = "CASE WHEN f.value IS NULL OR isnan(f.value) THEN 0.0 ELSE f.value END"


def when(ts: float) -> str:
    from datetime import UTC, datetime

    if not math.isfinite(ts):
        return "the beginning" if ts < 0 else "now"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def ints(values: Any) -> NDArray[np.intp]:
    return np.asarray(values, dtype=np.intp)


def floats(values: Any) -> NDArray[np.float64]:
    array = np.ma.filled(np.ma.asarray(values, dtype=np.float64), np.nan)
    return np.asarray(array, dtype=np.float64)


@dataclass(frozen=True)
class Entries:
    """The entries of one experiment in the impressions of its window, as SQL: a row per entry
    (an impression may list the experiment more than once), with ``user_id``, ``ts``, ``code``
    (the variant's index in the spec; NULL for an unknown variant), ``d`` (its ``decided``
    entry: TRUE when the experiment names no model) and the row's shape checks ``bad`` and
    ``bad_decided``."""

    sql: str  # a subquery to put after FROM
    params: dict[str, Any]


def entries(
    con: duckdb.DuckDBPyConnection, imp_scan: EventScan, spec: ExperimentSpec, lo: float, hi: float
) -> Entries:
    """The :class:`Entries` of ``spec`` in ``imp_scan`` between ``lo`` and ``hi``."""
    steered = bool(spec.steered_models)
    columns = ["ts", "user_id", "experiments", "variants"] + (["decided"] if steered else [])
    imp = events_relation(con, imp_scan, columns)
    decided = "decided[i]" if steered else "TRUE"
    bad_decided = "coalesce(len(decided) <> len(experiments), FALSE)" if steered else "FALSE"
    params: dict[str, Any] = {"name": spec.name, "names": list(spec.variant_names)}
    where = ["list_contains(experiments, $name)"]
    if math.isfinite(lo):
        where.append("ts >= $lo")
        params["lo"] = lo
    if math.isfinite(hi):
        where.append("ts < $hi")
        params["hi"] = hi
    sql = f"""(SELECT user_id, ts, list_position($names::VARCHAR[], variants[i]) - 1 AS code,
                     {decided} AS d, bad, bad_decided
              FROM (SELECT ts, user_id, experiments, variants{", decided" if steered else ""},
                           len(experiments) IS DISTINCT FROM len(variants) AS bad,
                           {bad_decided} AS bad_decided,
                           UNNEST(range(1, len(experiments) + 1)) AS i
                    FROM {imp} WHERE {" AND ".join(where)})
              WHERE experiments[i] = $name)"""
    return Entries(sql, params)


# Which entries are exposures, and which are dropped and counted (in SQL over ``Entries``)
KEPT = "d IS DISTINCT FROM FALSE AND code IS NOT NULL"
UNDECIDED = "d = FALSE"
UNATTRIBUTED = "d IS NULL"
UNKNOWN = "d IS DISTINCT FROM FALSE AND code IS NULL"


def check_entries(
    bad: int,
    bad_decided: int,
    exposures: int,
    spec: ExperimentSpec,
    imp_scan: EventScan,
    lo: float,
    hi: float,
) -> None:
    """Refuse malformed rows among the entries, or a window without any exposure."""
    if bad:
        raise InvalidInputError(
            "impressions: 'experiments' and 'variants' must be parallel lists of equal length "
            "in every row"
        )
    if bad_decided:
        raise InvalidInputError(
            "impressions: 'decided' must be null or parallel to 'experiments' (one entry per "
            "experiment) in every row"
        )
    if not exposures:
        raise InvalidInputError(
            f"experiment {spec.name!r} has no exposures in the impressions between "
            f"{when(lo)} and {when(hi)} ({len(imp_scan.files)} impression file(s) in that "
            "window): check its name, its start/stop, and that serving logs assignments"
        )
