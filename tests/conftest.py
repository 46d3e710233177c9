"""Suite-wide rules: which marked tests run where.

- ``slow``: long real-process tests; skipped when ``CI=true`` (CI runs the
  in-memory and simulated-clock variants of the same properties instead).
- ``root``: needs root privileges (network namespaces); skipped otherwise.
"""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    in_ci = os.environ.get("CI", "").strip().lower() == "true"
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    skip_slow = pytest.mark.skip(reason="slow real-process test: skipped when CI=true")
    skip_root = pytest.mark.skip(reason="needs root privileges")
    for item in items:
        if in_ci and "slow" in item.keywords:
            item.add_marker(skip_slow)
        if not is_root and "root" in item.keywords:
            item.add_marker(skip_root)
