"""The artifact store: named Python objects over content-addressed blobs."""

from __future__ import annotations

import os
from typing import Any

from limelight.store.blobs import BlobStore
from limelight.store.serializers import ArtifactRef, dump, load

__all__ = ["ArtifactStore"]


class ArtifactStore:
    """Saves objects (choosing a serializer by type) and loads them back from their reference."""

    def __init__(
        self, url: str | os.PathLike[str], *, cache_dir: str | os.PathLike[str] | None = None
    ):
        self.blobs = BlobStore(url, cache_dir=cache_dir)

    @property
    def url(self) -> str:
        return self.blobs.url

    def save(self, obj: object, *, serializer: str | None = None) -> ArtifactRef:
        """Store ``obj``; the same content is stored once, whoever saves it."""
        return dump(obj, self.blobs, serializer=serializer)

    def load(self, ref: ArtifactRef) -> Any:
        """The object behind ``ref``; arrays come back memory-mapped where they can."""
        return load(ref, self.blobs)
