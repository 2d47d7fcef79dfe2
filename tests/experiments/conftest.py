"""Fixtures of the experiments tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from limelight.store import MetadataStore


@pytest.fixture
def metadata(db_url: str) -> Iterator[MetadataStore]:
    """The metadata store, once on SQLite and once on PostgreSQL."""
    store = MetadataStore(db_url)
    yield store
    store.dispose()
