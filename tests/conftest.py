"""Shared test fixtures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
DATASETS = SHARED / "datasets"

if str(ROOT) not in sys.path:  # lets tests use benchmarks.peers
    sys.path.insert(0, str(ROOT))


@pytest.fixture
def datasets_dir() -> Path:
    """The real datasets beside the project (never copied into it)."""
    if not DATASETS.is_dir():
        pytest.fail(f"the shared datasets are missing: expected them at {DATASETS}")
    return DATASETS
