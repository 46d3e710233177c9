"""Fixtures for tests that run real node processes."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from .procs import Cluster


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """Start node processes with ``cluster.start(...)``; all are stopped afterwards."""
    group = Cluster(tmp_path)
    try:
        yield group
    finally:
        group.close()
