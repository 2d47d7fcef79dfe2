"""Core: ids, errors, configuration, clock and hashing. Imports nothing else of Limelight."""

from limelight.core.config import Config, resolve_config
from limelight.core.errors import (
    BlobNotFoundError,
    ChecksumError,
    ConfigError,
    CorruptBlobError,
    DatasetNotFoundError,
    DownloadError,
    InvalidInputError,
    LimelightError,
    NotFoundError,
    SchemaVersionError,
    SerializerError,
    StorageError,
)

__all__ = [
    "BlobNotFoundError",
    "ChecksumError",
    "Config",
    "ConfigError",
    "CorruptBlobError",
    "DatasetNotFoundError",
    "DownloadError",
    "InvalidInputError",
    "LimelightError",
    "NotFoundError",
    "SchemaVersionError",
    "SerializerError",
    "StorageError",
    "resolve_config",
]
