"""The exception tree of Limelight.

Every error a user can cause derives from :class:`LimelightError`, so callers can catch one
type. Each message says what was wrong and how to fix it.

    LimelightError
    ├── ConfigError              a malformed URL, an unwritable home, a bad limelight.toml
    ├── StorageError
    │   ├── BlobNotFoundError    a key that is not in the artifact store
    │   ├── CorruptBlobError     a blob whose bytes no longer match its key
    │   ├── SerializerError      an unknown or failing serializer
    │   └── SchemaVersionError   a database written by a newer Limelight
    ├── DownloadError            a download that failed or was cut short (nothing is kept)
    │   └── ChecksumError        a downloaded archive that is not the published one
    ├── NotFoundError            an unknown run, step, task, model, version, alias or experiment
    │   └── DatasetNotFoundError a public dataset that is on none of the places looked in
    └── InvalidInputError        a value passed by the user that cannot be used (also a ValueError)
"""

from __future__ import annotations

__all__ = [
    "BlobNotFoundError",
    "ChecksumError",
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
]


class LimelightError(Exception):
    """Base class of every error Limelight raises on purpose."""


class ConfigError(LimelightError):
    """The configuration cannot be used (bad URL, unwritable folder, malformed file)."""


class StorageError(LimelightError):
    """The artifact or metadata store failed."""


class BlobNotFoundError(StorageError, KeyError):
    """A blob key that the artifact store does not hold."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "blob not found"


class CorruptBlobError(StorageError):
    """A blob whose content no longer hashes to its key."""


class SerializerError(StorageError):
    """An object that no serializer can handle, or a blob whose serializer is unknown."""


class SchemaVersionError(StorageError):
    """The metadata database was written by a newer version of Limelight."""


class NotFoundError(LimelightError, LookupError):
    """A named thing (run, step, task, model, version, alias, experiment) does not exist."""


class DatasetNotFoundError(NotFoundError):
    """A public dataset found in none of the places looked in; says where and how to get it."""

    def __init__(self, dataset: str, looked: list[str], folder: str, command: str) -> None:
        self.dataset = dataset
        self.looked = looked
        self.folder = folder
        self.command = command
        super().__init__(
            f"dataset {dataset!r} is not on this machine; looked in: {', '.join(looked)}. "
            f"Get it with `{command}` (into the cache), or set LIMELIGHT_DATA to a folder "
            f"that holds {folder}/"
        )

    def __reduce__(self) -> tuple[type, tuple[str, list[str], str, str]]:
        return type(self), (self.dataset, self.looked, self.folder, self.command)


class DownloadError(LimelightError):
    """A download that failed or arrived incomplete; nothing of it was kept."""


class ChecksumError(DownloadError):
    """A downloaded archive whose checksum is not the pinned one, or that cannot be unpacked."""


class InvalidInputError(LimelightError, ValueError):
    """A value given by the user that cannot be used; the message says which and why."""
