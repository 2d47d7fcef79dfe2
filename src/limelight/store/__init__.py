"""Storage: content-addressed artifacts over fsspec, metadata over SQLAlchemy, the event log."""

from limelight.store._store import Store, open_store
from limelight.store.artifacts import ArtifactStore
from limelight.store.blobs import BlobStore
from limelight.store.events import FEEDBACK_SCHEMA, IMPRESSION_SCHEMA, EventWriter, read_events
from limelight.store.metadata import MetadataStore
from limelight.store.serializers import SERIALIZERS, ArtifactRef, VersionMismatchWarning

__all__ = [
    "FEEDBACK_SCHEMA",
    "IMPRESSION_SCHEMA",
    "SERIALIZERS",
    "ArtifactRef",
    "ArtifactStore",
    "BlobStore",
    "EventWriter",
    "MetadataStore",
    "Store",
    "VersionMismatchWarning",
    "open_store",
    "read_events",
]
