"""Storage: content-addressed artifacts over fsspec, metadata over SQLAlchemy, the event log.

The event log lives in :mod:`limelight.store.events` (imported on use: it needs Arrow). The
artifact and blob stores (fsspec) and the serializers are imported on first use too, so a
command that only reads metadata and the event log does not pay for them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from limelight.store._store import Store, open_store
from limelight.store.metadata import MetadataStore

if TYPE_CHECKING:
    from limelight.store.artifacts import ArtifactStore
    from limelight.store.blobs import BlobStore
    from limelight.store.serializers import SERIALIZERS, ArtifactRef, VersionMismatchWarning

__all__ = [
    "SERIALIZERS",
    "ArtifactRef",
    "ArtifactStore",
    "BlobStore",
    "MetadataStore",
    "Store",
    "VersionMismatchWarning",
    "open_store",
]

_LAZY = {
    "ArtifactStore": "limelight.store.artifacts",
    "BlobStore": "limelight.store.blobs",
    "SERIALIZERS": "limelight.store.serializers",
    "ArtifactRef": "limelight.store.serializers",
    "VersionMismatchWarning": "limelight.store.serializers",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
