"""Limelight: develop, deploy and improve personalization models for a streaming service."""

from limelight.core import (
    Config,
    ConfigError,
    InvalidInputError,
    LimelightError,
    NotFoundError,
    resolve_config,
)

__version__ = "0.1.0"

__all__ = [
    "Config",
    "ConfigError",
    "InvalidInputError",
    "LimelightError",
    "NotFoundError",
    "__version__",
    "resolve_config",
]
