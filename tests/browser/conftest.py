"""Fixtures of the browser tests: a small grid of real node processes and one headless Chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from ..integration.procs import ROOT, Cluster
from .browser import Browser, missing

#: Screenshots and measurements of the browser tests (gitignored).
ARTIFACTS = ROOT / "test-artifacts" / "browser"


@pytest.fixture(scope="module")
def module_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Node processes shared by one test module; all are stopped at its end."""
    group = Cluster(tmp_path_factory.mktemp("nodes"))
    try:
        yield group
    finally:
        group.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """One headless Chromium with a fresh profile, shared by one test module."""
    reason = missing()
    if reason is not None:
        pytest.skip(reason)
    chrome = Browser(tmp_path_factory.mktemp("profile"))
    try:
        yield chrome
    finally:
        chrome.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where tests leave screenshots and figures for people to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
