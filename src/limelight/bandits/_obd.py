"""The Open Bandit Dataset (ZOZOTOWN fashion recommendations) as a :class:`BanditLog`."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from limelight.bandits._log import BanditLog
from limelight.core.data import find_data, source
from limelight.core.errors import InvalidInputError, NotFoundError

__all__ = ["OBD_LICENCE", "load_obd"]

# The full Open Bandit Dataset is published by ZOZO under CC BY 4.0 (commercial use allowed
# with attribution); the 10,000-row samples also ship inside the Apache-2.0 `obp` package.
# Cite Saito et al., "Open Bandit Dataset and Pipeline", arXiv:2008.07146.
OBD_LICENCE = source("obd").licence

_POLICIES = ("random", "bts")
_CAMPAIGNS = ("all", "men", "women")


def _one_hot_drop_first(columns: list[list[str]]) -> NDArray[np.float64]:
    """One-hot code categorical columns: categories sorted, first dropped (as get_dummies)."""
    blocks = []
    for values in columns:
        categories = sorted(set(values))
        codes = np.searchsorted(np.array(categories), np.array(values))
        block = np.zeros((len(values), len(categories)), dtype=np.float64)
        block[np.arange(len(values)), codes] = 1.0
        blocks.append(block[:, 1:])
    return np.hstack(blocks)


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    if not path.is_file():
        raise NotFoundError(f"no Open Bandit Dataset file at {path}: check the dataset folder")
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def load_obd(
    root: str | Path | None = None,
    behavior_policy: str = "random",
    campaign: str = "all",
    *,
    with_affinity: bool = False,
) -> BanditLog:
    """Load ``root/<behavior_policy>/<campaign>/<campaign>.csv`` (the OBD layout) as a log.

    Without ``root`` the dataset is looked for where :func:`limelight.core.data.find_data`
    looks, the sample inside an installed ``obp`` package before copied files.

    Rows are ordered by timestamp; positions 1..3 become 0..2; the context is the one-hot coded
    user features (first category dropped, as Open Bandit Pipeline does), optionally followed by
    the user-item affinities; the action context is the label-coded item features.
    """
    if behavior_policy not in _POLICIES:
        raise InvalidInputError(
            f"behavior_policy must be one of {_POLICIES}, got {behavior_policy!r}"
        )
    if campaign not in _CAMPAIGNS:
        raise InvalidInputError(f"campaign must be one of {_CAMPAIGNS}, got {campaign!r}")
    folder = Path(root if root is not None else find_data("obd")) / behavior_policy / campaign
    table = folder / f"{campaign}.csv"  # all/all.csv, men/men.csv, women/women.csv
    header, rows = _read_csv(table)
    col = {name: i for i, name in enumerate(header)}
    needed = ("timestamp", "item_id", "position", "click", "propensity_score")
    missing = [c for c in needed if c not in col]
    if missing:
        raise InvalidInputError(f"{table} lacks the OBD columns {missing}")
    order = np.argsort(np.array([r[col["timestamp"]] for r in rows]), kind="stable")
    rows = [rows[i] for i in order]

    def column(name: str) -> list[str]:
        return [r[col[name]] for r in rows]

    raw_position = np.array(column("position"), dtype=np.int64)
    levels, position = np.unique(raw_position, return_inverse=True)
    user_cols = [name for name in header if name.startswith("user_feature")]
    context = _one_hot_drop_first([column(name) for name in user_cols])
    if with_affinity:
        affinity = [name for name in header if name.startswith("user-item_affinity")]
        context = np.hstack([context, np.array([column(a) for a in affinity], float).T])

    item_header, item_rows = _read_csv(folder / "item_context.csv")
    n_actions = len(item_rows)
    icol = {name: i for i, name in enumerate(item_header)}
    feats = [name for name in item_header if name.startswith("item_feature")]
    categorical = []
    for name in feats[1:]:
        values = [r[icol[name]] for r in item_rows]
        categorical.append(np.unique(values, return_inverse=True)[1].astype(np.float64))
    numeric = np.array([r[icol[feats[0]]] for r in item_rows], dtype=np.float64)
    action_context = np.column_stack([*categorical, numeric])

    return BanditLog(
        context=context,
        action=np.array(column("item_id"), dtype=np.int64),
        reward=np.array(column("click"), dtype=np.float64),
        pscore=np.array(column("propensity_score"), dtype=np.float64),
        n_actions=n_actions,
        position=position.astype(np.int64),
        len_list=len(levels),
        action_context=action_context,
        licence=OBD_LICENCE,
        usage=source("obd").usage,
        source=f"Open Bandit Dataset (ZOZO), {behavior_policy}/{campaign}",
    )
