"""The pure packages stay pure: no I/O, clock or global randomness.

DESIGN.md section 3: ``protocol/`` and ``nodes/`` must not import aiohttp,
pykka, typer, asyncio, threading, socket or time. Models in ``nodes/`` also take
randomness as a seed or a ``random.Random``, so module-level ``random``
functions and numpy's global generator are refused there, and so is ``open``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_MODULES = {"aiohttp", "pykka", "typer", "asyncio", "threading", "socket", "time"}
GLOBAL_RANDOM = {"random", "uniform", "gauss", "normalvariate", "randint", "randrange", "choice",
                 "choices", "shuffle", "sample", "seed", "expovariate", "weibullvariate", "lognormvariate"}  # fmt: skip


def sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imported_roots(tree: ast.AST) -> set[str]:
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def global_randomness(tree: ast.AST) -> list[str]:
    """Calls like ``random.random()``, ``np.random.rand()``, a bare ``shuffle``
    imported from ``random``, or a generator made without a seed."""
    from_random = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "random"
        for alias in node.names
        if alias.name in GLOBAL_RANDOM
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            if name in from_random or name == "open" or _is_global_random(name, unseeded=not node.args):
                found.append(name)
    return found


def _is_global_random(name: str, unseeded: bool) -> bool:
    parts = name.split(".")
    if parts[-1] in ("Random", "default_rng", "RandomState"):
        return unseeded  # seeded from the OS: not reproducible
    if len(parts) == 2 and parts[0] == "random":
        return parts[1] in GLOBAL_RANDOM
    return len(parts) >= 3 and parts[0] in ("np", "numpy") and parts[1] == "random"


@pytest.mark.parametrize("path", sources("nodes") + sources("protocol"), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_io_imports(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    assert not imported_roots(tree) & FORBIDDEN_MODULES


@pytest.mark.parametrize("path", sources("nodes"), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_global_randomness_or_files_in_models(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    assert global_randomness(tree) == []


def test_the_checker_catches_what_it_should():
    bad = ast.parse(
        "import time\nfrom asyncio import sleep\nimport random\nfrom random import shuffle\n"
        "random.random()\nshuffle([])\nnp.random.rand(3)\nopen('x')\nrandom.Random(3).random()\n"
        "random.Random()\nnp.random.default_rng(7)\n"
    )
    assert imported_roots(bad) & FORBIDDEN_MODULES == {"time", "asyncio"}
    assert global_randomness(bad) == ["random.random", "shuffle", "np.random.rand", "open", "random.Random"]
