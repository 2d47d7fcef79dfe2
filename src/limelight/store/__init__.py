"""Storage: content-addressed artifacts over fsspec, metadata over SQLAlchemy, the event log.

The event log lives in :mod:`limelight.store.events` (imported on use: it needs Arrow).
"""

from limelight.store._store import Store, open_store
from limelight.store.artifacts import ArtifactStore
from limelight.store.blobs import BlobStore
from limelight.store.metadata import MetadataStore
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
