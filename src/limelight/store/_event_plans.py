"""The data files of a table snapshot, remembered: an analysis plans its files without pyiceberg.

Planning a scan with pyiceberg costs about a second before any data is read (importing it and
pyarrow's dataset module, loading the table, reading the manifests), more than a query of a
million impressions takes. A snapshot's data files never change, so they are worked out once
per snapshot and kept in a small JSON file under the temporary folder, named by the snapshot's
manifest list (which no other snapshot shares). Later reads of that snapshot look up the
table's metadata location in the catalog's own SQL table, read the snapshot from the metadata
JSON and take the files from that file: SQL, JSON and a file read. Whatever is not as expected
(no table yet, a compressed metadata file, an unreadable remembered list) returns None and the
caller plans with pyiceberg, as before; a remembered list that cannot be written is only slower
next time. The folder keeps the ``KEEP`` most recently used lists (a recall marks its list used).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from typing import Any

from limelight.core.errors import InvalidInputError

__all__ = ["Snapshot", "current_snapshot", "forget", "recall", "remember"]

Snapshot = tuple[int | None, str | None]  # (snapshot id, its manifest list); (None, None): empty
KEEP = 512  # remembered lists kept; beyond that the least recently used are removed


def _folder() -> str:
    return os.path.join(tempfile.gettempdir(), "limelight-plans")


def _path(manifest_list: str) -> str:
    return os.path.join(_folder(), hashlib.sha256(manifest_list.encode()).hexdigest() + ".json")


def current_snapshot(
    engine: Any, catalog: str, namespace: str, kind: str, as_of: int | None
) -> Snapshot | None:
    """The snapshot ``as_of`` (default: the current one) of table ``namespace.kind`` and its
    manifest list, from the catalog's table row and the metadata JSON it points at; None when
    that cannot be read this way. An unknown ``as_of`` is an InvalidInputError naming it."""
    import fsspec
    import sqlalchemy as sa

    try:
        with engine.connect() as conn:
            row = conn.execute(
                sa.text(
                    "SELECT metadata_location FROM iceberg_tables WHERE catalog_name = :c "
                    "AND table_namespace = :n AND table_name = :t"
                ),
                {"c": catalog, "n": namespace, "t": kind},
            ).fetchone()
    except sa.exc.SQLAlchemyError:  # no catalog tables yet
        return None
    if row is None or not row[0] or not str(row[0]).endswith(".metadata.json"):
        return None
    location = str(row[0])
    if location.endswith(".gz.metadata.json"):
        return None
    try:
        with fsspec.open(location, "rb") as f:
            metadata = json.load(f)
    except (OSError, ValueError):
        return None
    snapshots = {s.get("snapshot-id"): s for s in metadata.get("snapshots") or []}
    if as_of is None:
        snap = metadata.get("current-snapshot-id")
        if snap is None or snap == -1:
            return None, None
    elif as_of not in snapshots:
        raise InvalidInputError(
            f"the {kind} table has no snapshot {as_of}; see `limelight events stats` "
            "(an expired snapshot can no longer be read)"
        )
    else:
        snap = as_of
    manifest_list = (snapshots.get(snap) or {}).get("manifest-list")
    if not isinstance(manifest_list, str):
        return None
    return int(snap), manifest_list


def recall(manifest_list: str) -> list[tuple[str, str]] | None:
    """The (data file, day) pairs remembered for the snapshot of ``manifest_list``, if any."""
    try:
        with open(_path(manifest_list), encoding="utf-8") as f:
            found = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(found, dict) or found.get("manifest_list") != manifest_list:
        return None
    files = found.get("files")
    if not isinstance(files, list):
        return None
    with contextlib.suppress(OSError):  # used now: the last to be pruned
        os.utime(_path(manifest_list))
    return [(str(path), str(day)) for path, day in files]


def remember(manifest_list: str, files: list[tuple[str, str]]) -> None:
    """Keep the (data file, day) pairs of the snapshot of ``manifest_list`` (written whole, by
    rename, so a reader never sees half a list)."""
    path = _path(manifest_list)
    with contextlib.suppress(OSError):
        os.makedirs(_folder(), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=_folder(), suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"manifest_list": manifest_list, "files": files}, f)
            os.replace(tmp, path)
        except OSError:
            os.unlink(tmp)
            raise
        _prune()


def _prune() -> None:
    """Remove the least recently used lists beyond the ``KEEP`` newest (by modification time,
    which a recall renews); a list another process removes first is skipped."""
    with os.scandir(_folder()) as found:
        lists = [
            (entry.stat().st_mtime, entry.path) for entry in found if entry.name.endswith(".json")
        ]
    lists.sort()
    for _, path in lists[: max(len(lists) - KEEP, 0)]:
        with contextlib.suppress(OSError):
            os.unlink(path)


def forget(manifest_list: str) -> None:
    """Drop what is remembered of the snapshot of ``manifest_list``."""
    with contextlib.suppress(OSError):
        os.unlink(_path(manifest_list))
