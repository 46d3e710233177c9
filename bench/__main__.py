"""``make bench``: run every benchmark and rewrite docs/benchmarks.md.

``python -m bench`` runs them all; ``python -m bench core day`` only those;
``--quick`` shrinks sizes for a smoke run (its figures are not written).
Each benchmark module exposes ``run(quick: bool) -> dict`` and a
``report(figures: dict) -> str`` that renders its section in Markdown.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from .common import ROOT, machine

#: Benchmark modules in report order (each bench/<name>.py).
MODULES = ["core", "sweep", "day", "meter", "dispatch", "chat", "scale", "reliability"]
RESULTS = ROOT / "docs" / "benchmarks.json"
REPORT = ROOT / "docs" / "benchmarks.md"


def available(names: list[str]) -> list[str]:
    """The requested modules that exist in this checkout."""
    return [n for n in names if (ROOT / "bench" / f"{n}.py").exists()]


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    names = available([a for a in argv if not a.startswith("-")] or MODULES)
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        started = time.perf_counter()
        print(f"== bench {name}", flush=True)
        figures = module.run(quick=quick)
        figures["_seconds"] = round(time.perf_counter() - started, 1)
        print(json.dumps(figures, indent=1, default=str), flush=True)
        results[name] = figures
        if not quick:  # keep what is measured even if a later module fails
            results["_machine"] = machine()
            results["_date"] = time.strftime("%Y-%m-%d")
            RESULTS.write_text(json.dumps(results, indent=1, default=str) + "\n")
    if quick:
        print("quick run: docs/benchmarks.md left as it was")
        return 0
    REPORT.write_text(render(results))
    print(f"wrote {REPORT.relative_to(ROOT)}")
    return 0


def render(results: dict[str, Any]) -> str:
    """docs/benchmarks.md from every module's last figures."""
    m = results.get("_machine", {})
    parts = [
        "# Benchmarks\n",
        "Produced by `make bench` (`python -m bench`); every figure below was measured by the suite, "
        "and the raw numbers are in `docs/benchmarks.json`. Medians of several runs with min and max, "
        "unless a row says otherwise. Rerun one section with `python -m bench NAME`.\n",
        f"Machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores, {m.get('memory_gib', '?')} GiB, "
        f"Python {m.get('python', '?')}, {m.get('system', '?')}; measured {results.get('_date', '?')}.\n",
    ]
    for name in MODULES:
        if name in results and (ROOT / "bench" / f"{name}.py").exists():
            module = importlib.import_module(f"bench.{name}")
            parts.append(module.report(results[name]))
    return "\n".join(parts)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
