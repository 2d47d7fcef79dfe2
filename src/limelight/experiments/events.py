"""From the event log to per-user arrays: the data-building half of the analysis job.

The serving layer writes two Arrow tables. Impressions: ``request_id`` string, ``ts`` float64
(unix seconds), ``user_id`` string, ``items`` list<string>, ``experiments`` and ``variants``
(parallel list<string>), and optionally ``decided`` (parallel list<bool>: whether that
experiment chose the model served; null where unknown, as in logs written before it existed). Feedback: ``request_id``, ``ts``, ``user_id``, ``item_id``, ``event``
(e.g. "play") and ``value`` float64 (nullable). Everything here is vectorised with
``pyarrow.compute`` and numpy: no Python loop over events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

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
    return pa.Table.from_arrays(arrays, names=list(wanted))


def _parent_indices(lists: pa.ChunkedArray) -> NDArray[np.intp]:
    """Row of each flattened list value, over all chunks (without concatenating them)."""
    parts, offset = [], 0
    for chunk in lists.chunks:
        parts.append(np.asarray(pc.list_parent_indices(chunk).to_numpy(), dtype=np.intp) + offset)
        offset += len(chunk)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.intp)


def _decided(
    impressions: pa.Table, experiments: pa.ChunkedArray, parent: NDArray[np.intp]
) -> NDArray[np.int8]:
    """Per flattened (impression, experiment) entry: 1 decided, 0 did not, -1 unknown.

    ``parent`` is the impression row of each entry. A table without the column, a null list
    and a null entry all mean unknown.
    """
    codes = np.full(parent.size, -1, dtype=np.int8)
    if "decided" not in impressions.column_names:
        return codes
    column = impressions.column("decided")
    if not pa.types.is_list(column.type) or not pa.types.is_boolean(column.type.value_type):
        raise InvalidInputError(
            f"impressions column 'decided' has type {column.type}, expected list<bool>"
        )
    lengths = pc.list_value_length(column)
    wrong = pc.and_(pc.is_valid(lengths), pc.not_equal(lengths, pc.list_value_length(experiments)))
    if pc.any(wrong).as_py():
        raise InvalidInputError(
            "impressions: 'decided' must be null or parallel to 'experiments' (one entry per "
            "experiment) in every row"
        )
    row_known = np.asarray(pc.is_valid(column).to_numpy(zero_copy_only=False), dtype=bool)
    flat = pc.list_flatten(column)
    values = np.asarray(pc.fill_null(flat, False).to_numpy(zero_copy_only=False), dtype=np.int8)
    values[~np.asarray(pc.is_valid(flat).to_numpy(zero_copy_only=False), dtype=bool)] = -1
    codes[row_known[parent]] = values  # known rows list one entry per experiment, in order
    return codes


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

    Built from Arrow tables, each exposure and play is one entry. Built in SQL over the event
    log (:func:`limelight.experiments.analyze_event_log`), each entry sums the events of one
    user and one day: ``exposure_count``/``play_count`` say how many, ``exposure_ts``/``play_ts``
    hold the latest of them, ``play_value`` their sum, and ``resolution`` (start, day) says the
    cutoffs at which the log is exact (``start + k * day`` and its end). ``snapshots`` names the
    table snapshots it was read from.
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
    undecided_exposures: int = 0
    unattributed_exposures: int = 0
    exposure_count: NDArray[np.float64] | None = None
    play_count: NDArray[np.float64] | None = None
    resolution: tuple[float, float] | None = None
    snapshots: dict[str, int | None] = field(default_factory=dict)

    def users_until(self, cutoff: float = math.inf) -> UserTable:
        """Per-user arrays counting only events before ``cutoff`` (unix seconds)."""
        n = self.variant.size
        keep = self.first_exposure < cutoff
        shown = self.exposure_ts < cutoff
        weights = None if self.exposure_count is None else self.exposure_count[shown]
        imp = np.bincount(self.exposure_user[shown], weights=weights, minlength=n)
        before = self.play_ts < cutoff
        weights = None if self.play_count is None else self.play_count[before]
        plays = np.bincount(self.play_user[before], weights=weights, minlength=n)
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

    def exposures_by_variant(self) -> NDArray[np.int64]:
        """Exposures (impressions of exposed users) per variant of the spec."""
        arms = len(self.spec.variants)
        weights = self.exposure_count
        counts = np.bincount(self.variant[self.exposure_user], weights=weights, minlength=arms)
        return np.round(counts[:arms]).astype(np.int64)


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
    counted. An impression whose ``decided`` entry for this experiment is false was served a
    model another experiment chose: it is no exposure of this one, and is dropped and counted
    (``undecided_exposures``); a missing entry (older logs) is kept and counted
    (``unattributed_exposures``). An experiment whose variants name no model ignores ``decided``. Plays count from the user's first exposure; the pre-period
    covariate counts plays in the ``pre_period`` seconds before the experiment's start.
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

    exps, variants = imp["experiments"], imp["variants"]
    same_length = pc.equal(pc.list_value_length(exps), pc.list_value_length(variants))
    if pc.all(same_length).as_py() is False:
        raise InvalidInputError(
            "impressions: 'experiments' and 'variants' must be parallel lists of equal length "
            "in every row"
        )
    # exposures: the (impression, variant) pairs of this experiment inside its window
    imp_ts = _np(imp["ts"])
    parent = _parent_indices(exps)
    hit = np.asarray(
        pc.equal(pc.list_flatten(exps), spec.name).to_numpy(zero_copy_only=False), dtype=bool
    )
    hit &= (imp_ts[parent] >= lo) & (imp_ts[parent] < hi)
    if spec.steered_models:
        decided = _decided(impressions, exps, parent)
    else:  # its variants are data, not models: no other experiment can serve in its place
        decided = np.ones(parent.size, dtype=np.int8)
    undecided = hit & (decided == 0)
    unattributed = int((hit & (decided < 0)).sum())
    hit &= ~undecided
    codes = pc.index_in(
        pc.filter(pc.list_flatten(variants), pa.array(hit)), value_set=pa.array(spec.variant_names)
    )
    known = np.asarray(pc.is_valid(codes).to_numpy(zero_copy_only=False), dtype=bool)
    unknown = int(known.size - known.sum())
    rows = parent[hit][known]
    exposure_code = np.asarray(pc.filter(codes, pa.array(known)).to_numpy(), dtype=np.int32)
    if rows.size == 0:
        raise InvalidInputError(
            f"experiment {spec.name!r} has no exposures in the impressions between "
            f"{lo} and {hi}: check its name, its start/stop, and that serving logs assignments"
        )
    exposure_ts = imp_ts[rows]

    # one dictionary encoding of the user ids of exposures and plays: integers from here on
    is_play = pc.fill_null(pc.equal(fb["event"], play_event), False)
    play_mask = np.asarray(is_play.to_numpy(zero_copy_only=False), dtype=bool)
    ids = pa.concat_arrays(
        [
            imp["user_id"].take(pa.array(rows)).combine_chunks(),
            pc.filter(fb["user_id"], is_play).combine_chunks(),
        ]
    )
    encoded = ids.dictionary_encode()
    id_codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.intp)
    exposure_id, play_id = id_codes[: rows.size], id_codes[rows.size :]
    grouped = (
        pa.table({"id": exposure_id, "ts": exposure_ts, "code": exposure_code})
        .group_by("id")
        .aggregate([("ts", "min"), ("code", "min"), ("code", "max")])
    )
    group_id = np.asarray(grouped["id"].to_numpy(), dtype=np.intp)
    code_min = np.asarray(grouped["code_min"].to_numpy(), dtype=np.intp)
    consistent = code_min == np.asarray(grouped["code_max"].to_numpy())
    conflicting = int(consistent.size - consistent.sum())
    order = np.argsort(group_id[consistent], kind="stable")  # users in dictionary order
    kept_id = group_id[consistent][order]
    users = encoded.dictionary.take(pa.array(kept_id))
    first = _np(grouped["ts_min"])[consistent][order]
    variant = code_min[consistent][order]
    n = int(kept_id.size)
    dense = np.full(len(encoded.dictionary), -1, dtype=np.intp)
    dense[kept_id] = np.arange(n)

    exposure_user = dense[exposure_id]
    exposed = exposure_user >= 0
    play_user = dense[play_id]
    played = play_user >= 0
    idx = play_user[played]
    ts = _np(fb["ts"])[play_mask][played]
    value = np.nan_to_num(_np(fb["value"])[play_mask][played], nan=0.0)
    post = (ts >= first[idx]) & (ts < hi)
    pre = (ts < lo) & (ts >= lo - pre_period) if math.isfinite(lo) else np.zeros_like(post)
    return ExposureLog(
        spec=spec,
        user_ids=users,
        variant=variant,
        first_exposure=first,
        exposure_user=exposure_user[exposed],
        exposure_ts=exposure_ts[exposed],
        play_user=idx[post],
        play_ts=ts[post],
        play_value=value[post],
        pre_plays=np.bincount(idx[pre], minlength=n).astype(np.float64),
        pre_play_value=np.bincount(idx[pre], weights=value[pre], minlength=n).astype(np.float64),
        conflicting_users=conflicting,
        unknown_variant_exposures=unknown,
        window=(lo, hi),
        undecided_exposures=int(undecided.sum()),
        unattributed_exposures=unattributed,
    )
