"""The recommend contract: checked on a probe when a model version loads, and on every answer.

``recommend(user_id, k, exclude_seen=True)`` answers ``(item_ids, scores)``: two 1-D arrays of
equal length, at most ``k`` long, item ids integers or strings, scores finite numbers in
ranked order (``-inf`` is allowed: a seen title used as filler). ``recommend([u1, u2], k)``
answers the same per user as 2-D arrays, one row each; a model may also refuse a list (the
micro-batcher then asks it user by user). A single user's answer of shape ``(1, k)`` breaks the
contract and is refused, not reshaped: a model that gets its own shapes wrong may get the
order of rows wrong too, and serving cannot tell.

:func:`probe` runs once per loaded version (in a thread, within a time limit) and also learns
the catalogue bound of a model that states none (no ``n_items_`` or ``item_ids_``), so that
``k + len(exclude)`` never asks a model for more titles than it has.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from limelight.core.errors import LimelightError

__all__ = [
    "DEFAULT_PROBE_SECONDS",
    "ContractError",
    "ModelCallError",
    "Result",
    "catalogue_size",
    "check_many",
    "check_one",
    "probe",
]

log = logging.getLogger("limelight.serving")

DEFAULT_PROBE_SECONDS = 2.0
PROBE_K = 3
_PROBE_USERS = (0, 1, 2)  # for a model that does not list its users in ``user_ids_``

Result = tuple[list[Any], list[float]]


class ContractError(LimelightError):
    """A model's answer breaks the recommend contract; the message says expected vs. got."""


class ModelCallError(Exception):
    """A served model failed while answering a request (answered 502 ``model_error``)."""

    def __init__(self, model: str, version: int, cause: BaseException) -> None:
        super().__init__(f"{model}/{version} failed: {type(cause).__name__}")
        self.model, self.version, self.cause = model, version, cause
        self.kind = type(cause).__name__

    @property
    def label(self) -> str:
        return f"{self.model}/{self.version}"


def _pair(answer: Any) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(answer, tuple | list) or len(answer) != 2:
        raise ContractError(f"expected a pair (item_ids, scores), got {type(answer).__name__}")
    return np.asarray(answer[0]), np.asarray(answer[1])


def _check_ids(items: np.ndarray, scores: np.ndarray) -> None:
    """Item ids integers or strings, scores numbers."""
    kind = items.dtype.kind
    if kind == "O":
        bad = [i for i in items.flat if isinstance(i, bool) or not isinstance(i, int | str)]
        if bad:
            raise ContractError(
                f"item ids must be integers or strings, got {type(bad[0]).__name__} {bad[0]!r}"
            )
    elif kind not in "iuU":
        raise ContractError(f"item ids must be integers or strings, got dtype {items.dtype}")
    if scores.dtype.kind not in "iuf":
        raise ContractError(f"scores must be numbers, got dtype {scores.dtype}")


def _check_scores(floats: np.ndarray, total: float) -> None:
    """No NaN or +inf among ``floats``, whose sum is ``total``.

    The sum is NaN or +inf whenever one of them is (-inf alone gives -inf): one addition per
    score instead of two ufuncs, which cost more than the rest of a small answer's checks.
    """
    if total == total and total != math.inf:
        return
    bad_at = np.flatnonzero(np.isnan(floats) | (floats == np.inf))
    if len(bad_at):  # else: finite scores whose sum overflowed
        raise ContractError(
            f"scores must be finite numbers (or -inf for a seen title), "
            f"got {floats.flat[bad_at[0]]} at position {int(bad_at[0])}"
        )


def check_one(answer: Any, k: int) -> Result:
    """One user's answer as lists, or :class:`ContractError` saying what shape came back."""
    items, scores = _pair(answer)
    if items.ndim != 1 or scores.shape != items.shape or len(items) > k:
        raise ContractError(
            f"for one user and k={k}, expected item ids and scores of shape (n,) with "
            f"n <= {k}, got shapes {items.shape} and {scores.shape}"
        )
    _check_ids(items, scores)
    floats = scores.astype(np.float64, copy=False)
    values = floats.tolist()
    _check_scores(floats, sum(values))
    return items.tolist(), values


def check_many(answer: Any, n_users: int, k: int) -> list[Result]:
    """Each user's (item ids, scores) of an answer for ``n_users`` users (one row each)."""
    items, scores = _pair(answer)
    if items.ndim != 2 or scores.shape != items.shape or items.shape[0] != n_users:
        raise ContractError(
            f"for {n_users} users and k={k}, expected item ids and scores of shape "
            f"({n_users}, n) with n <= {k}, got shapes {items.shape} and {scores.shape}"
        )
    if items.shape[1] > k:
        raise ContractError(f"k={k} asked, {items.shape[1]} titles per user came back")
    _check_ids(items, scores)
    floats = scores.astype(np.float64, copy=False)
    _check_scores(floats, float(floats.sum()))
    return list(zip(items.tolist(), floats.tolist(), strict=True))


def catalogue_size(model: Any) -> int | None:
    """The number of titles a model states (``n_items_``, else ``len(item_ids_)``), if any."""
    n_items = getattr(model, "n_items_", None)
    if isinstance(n_items, int | np.integer) and not isinstance(n_items, bool) and n_items > 0:
        return int(n_items)
    ids = getattr(model, "item_ids_", None)
    return len(ids) if ids is not None and hasattr(ids, "__len__") and len(ids) else None


def _probe_users(model: Any) -> list[Any]:
    ids = getattr(model, "user_ids_", None)
    if ids is not None and hasattr(ids, "__len__") and len(ids):
        return list(np.asarray(ids[:3]).tolist())
    return list(_PROBE_USERS)


def _full(model: Any, user: Any, k: int) -> int:
    """How many titles ``model`` answers ``user`` for ``k`` (0 when it raises).

    Seen titles are not excluded here: this measures the catalogue, not one user's rest of it.
    """
    try:
        return len(check_one(model.recommend(user, k, exclude_seen=False), k)[0])
    except Exception:
        return 0


def _largest_k(model: Any, user: Any, start: int, limit: int) -> int | None:
    """The largest ``k`` the model answers in full, up to ``limit`` (None: ``limit`` too).

    Doubles ``k`` until an answer comes back short or raises (a top-k beyond the catalogue:
    ``kth out of bounds``), then bisects: about 2 log2(catalogue) calls, once per version.
    """
    good, k = start, start * 2
    while k < limit:
        got = _full(model, user, k)
        if got < k:
            break
        good, k = k, k * 2
    else:
        got = _full(model, user, limit)
        if got >= limit:
            return None
        k = limit
    if 0 < got < k:
        return got  # a short answer is the whole catalogue
    while k - good > 1:
        mid = (good + k) // 2
        if _full(model, user, mid) >= mid:
            good = mid
        else:
            k = mid
    return good


def _check_contract(model: Any, users: list[Any], k: int) -> None:
    try:
        answer = model.recommend(users[0], k, exclude_seen=True)
    except Exception as exc:
        raise ContractError(
            f"recommend({users[0]!r}, k={k}) raised {type(exc).__name__}: {exc}"
        ) from exc
    check_one(answer, k)
    try:
        many = model.recommend(np.asarray(users), k, exclude_seen=True)
    except Exception:
        many = None  # answers one user at a time: allowed, the batcher asks user by user
    if many is not None:
        check_many(many, len(users), k)


def _within(seconds: float, work: Callable[[], Any]) -> tuple[bool, Any]:
    """(finished, its result or exception) of ``work`` run in a daemon thread for ``seconds``.

    A thread cannot be stopped: one that overruns goes on, its answer unused.
    """
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:  # handed to the caller
            outcome.append(exc)

    thread = threading.Thread(target=run, name="limelight-model-probe", daemon=True)
    thread.start()
    thread.join(seconds)
    return (True, outcome[0]) if outcome else (False, None)


def probe(model: Any, *, seconds: float = DEFAULT_PROBE_SECONDS, limit: int) -> int | None:
    """Check ``model.recommend`` on users it knows; its catalogue size (None: unbounded).

    Raises :class:`ContractError` naming what was expected and what came back, or when the
    checks take more than ``seconds``. ``limit`` is the most titles serving ever asks for. A
    model that states no catalogue size is then measured, within ``seconds`` again; one that
    cannot be measured in time is served without a bound (and its log line says so).
    """
    users, size = _probe_users(model), catalogue_size(model)
    k = min(PROBE_K, size) if size else PROBE_K
    finished, failure = _within(seconds, lambda: _check_contract(model, users, k))
    if not finished:
        raise ContractError(f"recommend did not answer the probe within {seconds} s")
    if isinstance(failure, ContractError):
        raise failure
    if isinstance(failure, BaseException):
        raise ContractError(f"the probe failed: {type(failure).__name__}: {failure}") from failure
    if size is not None:
        return size
    finished, size = _within(seconds, lambda: _largest_k(model, users[0], k, limit))
    if not finished:
        log.warning(
            "%s states no catalogue size (n_items_) and was not measured within %s s: "
            "serving it without a bound on k + len(exclude)",
            type(model).__name__,
            seconds,
        )
        return None
    return size if isinstance(size, int) else None
