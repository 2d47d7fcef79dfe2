"""Core: ids, errors, configuration, clock and hashing. Imports nothing else of Limelight."""

from limelight.core.config import Config, resolve_config
from limelight.core.errors import (
    BlobNotFoundError,
    ConfigError,
    CorruptBlobError,
    InvalidInputError,
    LimelightError,
    NotFoundError,
    SchemaVersionError,
    SerializerError,
    StorageError,
)

__all__ = [
    "BlobNotFoundError",
    "Config",
    "ConfigError",
    "CorruptBlobError",
    "InvalidInputError",
    "LimelightError",
    "NotFoundError",
    "SchemaVersionError",
    "SerializerError",
    "StorageError",
    "resolve_config",
]
