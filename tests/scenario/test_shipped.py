"""Every shipped scenario meets its expectations, in-process and as real processes.

The runs share one event loop and run at the same time (each its own grid,
transport or processes), so the whole set takes about as long as the longest
scenario. Full-length runs (the 500-node grid, the whole simulated day, the
storm as 17 processes) are marked slow.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from rich.console import Console

from grid.scenario import Mode, Result, load, make_plan, run_plan
from grid.scenario.report import summary
from grid.scenario.session import PROCESSES

ROOT = Path(__file__).resolve().parents[2]

#: (scenario, mode, quick) run together in one loop.
IN_PROCESS = [
    ("original-demo", Mode(), False),
    ("churn", Mode(), False),
    ("storm", Mode(), False),
    ("village", Mode(), True),
    ("large", Mode(), True),
]
PROCESS_RUNS = [("original-demo", Mode(PROCESSES), False), ("churn", Mode(PROCESSES), False)]


def key(name: str, mode: Mode) -> str:
    return f"{name} {mode}"


def run_together(runs: list[tuple[str, Mode, bool]]) -> dict[str, Result]:
    async def all_runs() -> list[Result]:
        return await asyncio.gather(*(
            run_plan(make_plan(load(ROOT / "scenarios" / f"{name}.toml"), quick=quick), mode, handle_signals=False)
            for name, mode, quick in runs
        ))  # fmt: skip

    return {key(name, mode): result for (name, mode, _), result in zip(runs, asyncio.run(all_runs()), strict=True)}


def explain(result: Result) -> str:
    out = io.StringIO()
    Console(file=out, width=160).print(summary(result))
    return out.getvalue()


@pytest.fixture(scope="module")
def results() -> dict[str, Result]:
    return run_together(IN_PROCESS + PROCESS_RUNS)


@pytest.mark.parametrize("run", [key(name, mode) for name, mode, _ in IN_PROCESS + PROCESS_RUNS])
def test_shipped_scenario_meets_its_expectations(results: dict[str, Result], run: str) -> None:
    result = results[run]
    assert result.ok, explain(result)
    assert result.recording.samples and all(o.passed for o in result.outcomes)
    assert result.mode.startswith("processes") == run.endswith(PROCESSES)


def test_original_demo_over_http_in_process() -> None:
    """Alone: its nodes answer HTTP on this loop, which the concurrent runs would crowd."""
    result = run_together([("original-demo", Mode(http=True), False)])[key("original-demo", Mode(http=True))]
    assert result.ok, explain(result)


def test_storm_splits_into_islands_and_heals(results: dict[str, Result]) -> None:
    """Read straight from the samples: each side counts and agrees on itself, then all on the whole."""
    result = results[key("storm", Mode())]
    rec = result.recording
    (window,) = rec.windows()
    north, south = (set(group) for group in window.groups)
    assert len(north) == 9 and len(south) == 8 and "plant" in north
    late = [s for s in rec.samples if window.end - 3 <= s.t < window.end]  # islands have long formed
    assert late
    for sample in late:
        for side in (north, south):
            seen = [sample.nodes[n] for n in side]
            assert {s.live for s in seen} == {len(side)}
            nets = [s.gridnet_w for s in seen]
            assert max(nets) - min(nets) <= 1000  # the storm's tolerance: models keep stepping
    last = late[-1]
    north_net = last.nodes["plant"].gridnet_w
    south_net = last.nodes["s-house-0"].gridnet_w
    assert abs(north_net - south_net) > 1000, "two islands, two different nets"
    after = [s for s in rec.samples if s.t >= window.end + 3]
    assert after and all({n.live for n in s.nodes.values()} == {17} for s in after)
    islands = next(o for o in result.outcomes if o.check == "islands")
    assert islands.passed and "islands formed" in islands.detail and "agreed again" in islands.detail


@pytest.mark.slow
@pytest.mark.parametrize(("name", "mode"), [("large", Mode()), ("village", Mode()), ("storm", Mode(PROCESSES))],
                         ids=["large in-process", "village in-process", "storm processes"])  # fmt: skip
def test_full_length(name: str, mode: Mode) -> None:
    result = run_together([(name, mode, False)])[key(name, mode)]
    assert result.ok, explain(result)
