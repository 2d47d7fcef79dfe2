"""From the event log to per-user arrays: the data-building half of the analysis job.

The serving layer writes two Arrow tables. Impressions: ``request_id`` string, ``ts`` float64
(unix seconds), ``user_id`` string, ``items`` list<string>, ``experiments`` and ``variants``
(parallel list<string>). Feedback: ``request_id``, ``ts``, ``user_id``, ``item_id``, ``event``
(e.g. "play") and ``value`` float64 (nullable). Everything here is vectorised with
``pyarrow.compute`` and numpy: no Python loop over events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from limelight.core.errors import InvalidInputError
from limelight.experiments.spec import ExperimentSpec

__all__ = ["DEFAULT_PRE_PERIOD", "ExposureLog", "UserTable", "exposure_log"]

DEFAULT_PRE_PERIOD = 28 * 86400.0

_IMPRESSION_COLUMNS = {
    "ts": pa.float64(),
    "user_id": pa.string(),
    "experiments": pa.list_(pa.string()),
    "variants": pa.list_(pa.string()),
}
_FEEDBACK_COLUMNS = {
    "ts": pa.float64(),
    "user_id": pa.string(),
    "event": pa.string(),
    "value": pa.float64(),
}


def _columns(table: pa.Table, wanted: dict[str, pa.DataType], what: str) -> pa.Table:
    if not isinstance(table, pa.Table):
        raise InvalidInputError(f"{what} must be a pyarrow.Table, got {type(table).__name__}")
    missing = [c for c in wanted if c not in table.column_names]
    if missing:
        raise InvalidInputError(
            f"{what} lacks column(s) {missing}; expected {list(wanted)} (see the event log schema)"
        )
    arrays = []
    for name, dtype in wanted.items():
        column = table.column(name)
        try:
            arrays.append(column if column.type == dtype else pc.cast(column, dtype))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise InvalidInputError(
                f"{what} column {name!r} has type {column.type}, expected {dtype}"
            ) from None
    return pa.Table.from_arrays(arrays, names=list(wanted)).combine_chunks()


def _np(array: pa.Array | pa.ChunkedArray) -> NDArray[np.float64]:
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.float64)


@dataclass(frozen=True)
class UserTable:
    """Per-user arrays of one experiment, one entry per exposed user (parallel arrays)."""

    user_ids: pa.Array
    variant: NDArray[np.intp]
    first_exposure: NDArray[np.float64]
    impressions: NDArray[np.float64]
    plays: NDArray[np.float64]
    play_value: NDArray[np.float64]
    pre_plays: NDArray[np.float64]
    pre_play_value: NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.variant.size)

    def column(self, name: str) -> NDArray[np.float64]:
        """A per-user metric column by name (``plays``, ``impressions``, ...)."""
        if name not in {"impressions", "plays", "play_value", "pre_plays", "pre_play_value"}:
            raise InvalidInputError(f"the user table has no column {name!r}")
        value: NDArray[np.float64] = getattr(self, name)
        return value

    def counts(self, n_variants: int) -> NDArray[np.int64]:
        """Exposed users per variant."""
        return np.bincount(self.variant, minlength=n_variants).astype(np.int64)


@dataclass(frozen=True)
class ExposureLog:
    """The events of one experiment, indexed by exposed user, ready to cut at any time.

    Built once from the event log; :meth:`users_until` then gives the per-user arrays as they
    stood at a cutoff, which is what the daily series needs.
    """

    spec: ExperimentSpec
    user_ids: pa.Array
    variant: NDArray[np.intp]
    first_exposure: NDArray[np.float64]
    exposure_user: NDArray[np.intp]
    exposure_ts: NDArray[np.float64]
    play_user: NDArray[np.intp]
    play_ts: NDArray[np.float64]
    play_value: NDArray[np.float64]
    pre_plays: NDArray[np.float64]
    pre_play_value: NDArray[np.float64]
    conflicting_users: int
    unknown_variant_exposures: int
    window: tuple[float, float]

    def users_until(self, cutoff: float = math.inf) -> UserTable:
        """Per-user arrays counting only events before ``cutoff`` (unix seconds)."""
        n = self.variant.size
        keep = self.first_exposure < cutoff
        imp = np.bincount(self.exposure_user[self.exposure_ts < cutoff], minlength=n)
        before = self.play_ts < cutoff
        plays = np.bincount(self.play_user[before], minlength=n)
        value = np.bincount(self.play_user[before], weights=self.play_value[before], minlength=n)
        index = np.flatnonzero(keep)
        return UserTable(
            user_ids=self.user_ids.take(pa.array(index)),
            variant=self.variant[keep],
            first_exposure=self.first_exposure[keep],
            impressions=imp[keep].astype(np.float64),
            plays=plays[keep].astype(np.float64),
            play_value=value[keep].astype(np.float64),
            pre_plays=self.pre_plays[keep],
            pre_play_value=self.pre_play_value[keep],
        )


def exposure_log(
    impressions: pa.Table,
    feedback: pa.Table,
    spec: ExperimentSpec,
    *,
    play_event: str = "play",
    pre_period: float = DEFAULT_PRE_PERIOD,
    until: float | None = None,
) -> ExposureLog:
    """Index the event log by the users exposed to ``spec`` between its start and stop.

    A user's variant is the one logged on their impressions; users logged in two variants
    (impossible with deterministic allocation, so a sign of a bug upstream) are dropped and
    counted. Plays count from the user's first exposure; the pre-period covariate counts
    plays in the ``pre_period`` seconds before the experiment's start.
    """
    if not isinstance(spec, ExperimentSpec):
        raise InvalidInputError("spec must be an ExperimentSpec")
    if not pre_period >= 0:
        raise InvalidInputError(f"pre_period must be >= 0 seconds, got {pre_period!r}")
    imp = _columns(impressions, _IMPRESSION_COLUMNS, "impressions")
    fb = _columns(feedback, _FEEDBACK_COLUMNS, "feedback")
    lo = -math.inf if spec.start is None else spec.start
    hi = math.inf if spec.stop is None else spec.stop
    if until is not None:
        hi = min(hi, float(until))

    in_window = pc.and_(pc.greater_equal(imp["ts"], lo), pc.less(imp["ts"], hi))
    imp = imp.filter(in_window)
    exps = imp["experiments"].combine_chunks()
    variants = imp["variants"].combine_chunks()
    same_length = pc.equal(pc.list_value_length(exps), pc.list_value_length(variants))
    if pc.all(same_length).as_py() is False:
        raise InvalidInputError(
            "impressions: 'experiments' and 'variants' must be parallel lists of equal length "
            "in every row"
        )
    flat_exp = pc.list_flatten(exps)
    hit = pc.equal(flat_exp, spec.name)
    rows = pc.filter(pc.list_parent_indices(exps), hit)
    codes = pc.index_in(pc.filter(pc.list_flatten(variants), hit),
                        value_set=pa.array(spec.variant_names))
    unknown = int(pc.sum(pc.is_null(codes)).as_py() or 0)
    known = pc.is_valid(codes)
    rows, codes = pc.filter(rows, known), pc.filter(codes, known)
    if len(rows) == 0:
        raise InvalidInputError(
            f"experiment {spec.name!r} has no exposures in the impressions between "
            f"{lo} and {hi}: check its name, its start/stop, and that serving logs assignments"
        )
    exposures = pa.table({
        "user_id": pc.take(imp["user_id"], rows),
        "ts": pc.take(imp["ts"], rows),
        "code": pc.cast(codes, pa.int32()),
    })
    grouped = exposures.group_by("user_id").aggregate(
        [("ts", "min"), ("code", "min"), ("code", "max")]
    )
    consistent = pc.equal(grouped["code_min"], grouped["code_max"])
    conflicting = int(len(grouped) - (pc.sum(consistent).as_py() or 0))
    grouped = grouped.filter(consistent)
    users = grouped["user_id"].combine_chunks()
    first = _np(grouped["ts_min"])
    variant = grouped["code_min"].to_numpy().astype(np.intp)
    n = len(users)

    exposure_user = pc.index_in(exposures["user_id"], value_set=users)
    valid = pc.is_valid(exposure_user)
    exposure_idx = np.asarray(pc.filter(exposure_user, valid).to_numpy(), dtype=np.intp)
    exposure_ts = _np(pc.filter(exposures["ts"], valid))

    fb = fb.filter(pc.equal(fb["event"], play_event))
    fb_user = pc.index_in(fb["user_id"], value_set=users)
    fb = fb.append_column("idx", fb_user).filter(pc.is_valid(fb_user))
    idx = np.asarray(fb["idx"].to_numpy(), dtype=np.intp)
    ts = _np(fb["ts"])
    value = _np(pc.fill_null(fb["value"], 0.0))
    post = (ts >= first[idx]) & (ts < hi)
    pre = (ts < lo) & (ts >= lo - pre_period) if math.isfinite(lo) else np.zeros_like(post)
    return ExposureLog(
        spec=spec,
        user_ids=users,
        variant=variant,
        first_exposure=first,
        exposure_user=exposure_idx,
        exposure_ts=exposure_ts,
        play_user=idx[post],
        play_ts=ts[post],
        play_value=value[post],
        pre_plays=np.bincount(idx[pre], minlength=n).astype(np.float64),
        pre_play_value=np.bincount(idx[pre], weights=value[pre], minlength=n).astype(np.float64),
        conflicting_users=conflicting,
        unknown_variant_exposures=unknown,
        window=(lo, hi),
    )
