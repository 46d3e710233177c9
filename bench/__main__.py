"""``make bench``: run every benchmark and rewrite docs/benchmarks.md.

``python -m bench`` runs them all; ``python -m bench core day`` only those;
``--quick`` shrinks sizes for a smoke run (its figures are not written).
Each benchmark module exposes ``run(quick: bool) -> dict`` and a
``report(figures: dict) -> str`` that renders its section in Markdown.
"""

from __future__ import annotations

import importlib
import json
import statistics
import sys
import time
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
        if name in results:  # what the previous run measured, to show how the figures moved
            results.setdefault("_previous", {})[name] = results[name]
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
    parts.append(rerun_section(results))
    return "\n".join(parts)


def rerun_section(results: dict[str, Any]) -> str:
    """How each measured median moved against the previous run of the same module."""
    rows = []
    for name in MODULES:
        before = results.get("_previous", {}).get(name)
        if name not in results or before is None:
            continue
        pairs = list(_paired_stats(results[name], before))
        outside = [(key, now, old) for key, now, old in pairs if not now["min"] <= old["median"] <= now["max"]]
        moves = [abs(now["median"] - old["median"]) / abs(old["median"]) for _, now, old in pairs if old["median"]]
        shown = "; ".join(f"{key} {_num(old['median'])} -> {_num(now['median'])} ({_num(now['min'])}-{_num(now['max'])})"
                          for key, now, old in outside[:6])  # fmt: skip
        more = f" and {len(outside) - 6} more" if len(outside) > 6 else ""
        median_move = statistics.median(moves) if moves else 0.0
        rows.append(f"| {name} | {len(pairs) - len(outside)} of {len(pairs)} | {median_move:.0%} / {max(moves, default=0):.0%} "
                    f"| {shown or '-'}{more} |")  # fmt: skip
    if not rows:
        return "## Rerun\n\nNo previous run to compare with yet: run `make bench` again.\n"
    nl = "\n"
    return f"""## Rerun against the previous run

Every figure measured several times (median, min, max) is compared with the same figure of
the previous run of its module. The min-max of a run spans repeats a few minutes apart;
between runs the machine itself may be faster or slower (this is a shared virtual machine),
which moves absolute timings and rates together, servers and baselines alike. So the table
gives both: how many previous medians fall inside this run's min-max, and how far medians
moved (median and largest relative move). Figures outside: previous median -> this median
(this min-max).

| module | previous median within this run's range | median moved (typical / largest) | outside |
|---|---|---|---|
{nl.join(rows)}
"""


def _num(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def _paired_stats(now: Any, before: Any, key: str = "") -> Any:
    """(key, this stat, previous stat) for every repeated measurement present in both runs."""
    if isinstance(now, dict) and {"median", "min", "max"} <= now.keys():
        if isinstance(before, dict) and "median" in before and now.get("runs", 1) > 1:
            yield key, now, before
        return
    if isinstance(now, dict) and isinstance(before, dict):
        for sub, value in now.items():
            if not sub.startswith("_") and sub in before:
                yield from _paired_stats(value, before[sub], f"{key}.{sub}" if key else sub)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
