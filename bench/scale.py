"""The 500-node scenario (scenarios/large.toml) in one process: start-up, convergence, memory.

``python -m bench.scale [--quick]`` prints the figures as JSON (``--quick``:
the scenario's quick variant, 100 nodes, one repetition). Measured on the
scenario's own nodes, links and timing knobs, with the scenario runner's
in-process driver (in-memory transport, real node actors):

- ``startup_s``: start every node, send every link's AddSibling, until every
  node's view holds all N nodes (an observer in each actor reports when its
  view satisfies the condition, so nothing polls);
- ``one_change_s``: the scenario's first event (n-0 starts producing 100 kW)
  until every node has the new entry;
- ``burst_change_s``: the second event (ten nodes change at once) until every
  node's grid net is exactly the new one;
- ``leave_s``: n-1 leaves gracefully until every other node holds its tombstone;
- ``sample_round_s``: reading every node's /state report once (what one
  sample of the scenario runner costs, hence its default sampling interval);
- ``peak_rss_mb``: peak resident memory of the benchmark process, and the
  resident memory per node once the grid is linked;
- ``scenario``: the whole scenario through the runner, as
  ``grid scenario run scenarios/large.toml`` runs it: expectations, start-up.
"""

from __future__ import annotations

import asyncio
import gc
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from grid.network import Watch
from grid.scenario import Mode, Plan, load, make_plan, run_plan
from grid.scenario.actions import LINKS_IN_FLIGHT
from grid.scenario.runner_inproc import InProcessDriver
from nodes.topology import diameter

from .common import ROOT, fmt_stat, in_fresh_process, median_of
from .core import rss_mb

SCENARIO = ROOT / "scenarios" / "large.toml"
#: Longest any one measurement may take before the bench gives up on it.
LIMIT_S = 300.0


async def _timed(watch: Watch, action: Any) -> float:
    """Seconds from ``action()`` until the armed watch fires (raises if it never does)."""
    started = time.perf_counter()
    await action()
    if not await watch.wait(LIMIT_S):
        raise RuntimeError("the grid did not converge")
    return time.perf_counter() - started


async def measure(plan: Plan) -> dict[str, Any]:
    """One grid of the plan's nodes and links: start-up, three changes, one sample, memory."""
    n = len(plan.nodes)
    watch = Watch(n)
    ids = {node.name: node.id for node in plan.nodes}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        driver = InProcessDriver(Path(tmp), observers=[watch])
        await driver.open(list(plan.nodes), {})
        before = rss_mb()
        try:
            result = await _startup(driver, plan, watch)
            gc.collect()
            result["memory_per_node_kib"] = (rss_mb() - before) * 1024 / n
            result.update(await _changes(driver, ids, watch))
            rounds = []
            for _ in range(3):
                started = time.perf_counter()
                await driver.states(list(ids))
                rounds.append(time.perf_counter() - started)
            result["sample_round_s"] = sorted(rounds)[1]
        finally:
            await driver.close()
    return result


async def _startup(driver: InProcessDriver, plan: Plan, watch: Watch) -> dict[str, float]:
    n = len(plan.nodes)
    started = time.perf_counter()
    failed = await driver.launch(list(plan.nodes))
    if failed:
        raise RuntimeError(f"nodes did not start: {failed}")
    launched = time.perf_counter() - started
    watch.arm(lambda core: len(core.view) == n)

    gate = asyncio.Semaphore(LINKS_IN_FLIGHT)

    async def link(a: str, b: str) -> None:
        msg = {"siblingName": b, "siblingAddress": driver.fact(b, "address"), "siblingId": driver.fact(b, "id")}
        async with gate:
            await driver.send(a, "AddSibling", msg, None)

    async def link_all() -> None:
        await asyncio.gather(*(link(a, b) for a, b in plan.edges))

    await _timed(watch, link_all)
    return {"launch_s": launched, "startup_s": time.perf_counter() - started}


async def _changes(driver: InProcessDriver, ids: dict[str, str], watch: Watch) -> dict[str, float]:
    first, leaver = ids["n-0"], ids["n-1"]
    watch.arm(lambda core: first in core.view and core.view[first].production_w == 100_000, already={first})
    one = await _timed(watch, lambda: driver.send("n-0", "UpdateEnergy", {"production": 100, "consumption": 0}, None))
    net = (await driver.states(["n-2"]))["n-2"]["gridnet_w"]  # type: ignore[index]
    ten = [f"n-1{k}" for k in range(10)]
    watch.arm(lambda core: core.net_w == net + 10 * 3000)

    async def burst() -> None:
        await asyncio.gather(*(driver.send(name, "UpdateEnergy", {"production": 2, "consumption": 0}, None)
                               for name in ten))  # fmt: skip

    burst_s = await _timed(watch, burst)
    watch.arm(lambda core: leaver in core.view and core.view[leaver].status == "left", already={leaver})
    leave = await _timed(watch, lambda: driver.halt("n-1", graceful=True))
    return {"one_change_s": one, "burst_change_s": burst_s, "leave_s": leave}


async def whole_scenario(plan: Plan) -> dict[str, Any]:
    """The scenario as ``grid scenario run`` plays it."""
    started = time.perf_counter()
    result = await run_plan(plan, Mode(), handle_signals=False)
    agree = next((o.detail for o in result.outcomes if o.check == "agree"), "")
    return {"ok": result.ok, "ready_s": round(result.ready_s, 2), "wall_s": round(time.perf_counter() - started, 1),
            "expectations": f"{sum(o.passed for o in result.outcomes)}/{len(result.outcomes)}", "agree": agree,
            "error": result.error}  # fmt: skip


def run(quick: bool = False) -> dict[str, Any]:
    """Every figure; ``quick`` runs the scenario's 100-node quick variant once."""
    plan = make_plan(load(SCENARIO), quick=quick)
    grids = [asyncio.run(measure(plan)) for _ in range(1 if quick else 3)]
    n = len(plan.nodes)
    index = {name: k for k, name in enumerate(plan.names)}
    figures: dict[str, Any] = {
        "nodes": n,
        "links": len(plan.edges),
        "diameter": diameter(n, [(index[a], index[b]) for a, b in plan.edges]),
        "heartbeat_s": plan.nodes[0].gossip.heartbeat_s,
        "flush_window_s": plan.nodes[0].flush_window_s,
        **{key: median_of([g[key] for g in grids]) for key in grids[0]},
        "scenario": asyncio.run(whole_scenario(plan)),
    }
    # A process that already ran grids (or other benchmarks) reuses the memory they freed:
    # memory is measured on a grid in a process of its own.
    memory = in_fresh_process("scale", *(["--quick"] if quick else []))
    figures["memory_per_node_kib"] = median_of([memory["memory_per_node_kib"]])
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


def report(f: dict[str, Any]) -> str:
    """The scenario-scale section of docs/benchmarks.md."""
    n, s = f["nodes"], f["scenario"]
    return f"""## A 500-node scenario in one process

Command: `python -m bench scale` (about {f.get('_seconds', 0):.0f} s). The grid of `scenarios/large.toml`: {n} nodes,
{f['links']} links (random, average degree 4, diameter {f['diameter']}), in-memory transport, the scenario's
timing knobs (heartbeat {f['heartbeat_s']:g} s, push window {f['flush_window_s'] * 1000:g} ms).

| what | measured |
|---|---|
| start {n} node actors | {fmt_stat(f['launch_s'])} s |
| start them and link them until every node's view holds all {n} | {fmt_stat(f['startup_s'])} s |
| n-0 starts producing 100 kW: until every node has it | {fmt_stat(f['one_change_s'], 1000, 0)} ms |
| ten nodes change at once: until every node's grid net is exact | {fmt_stat(f['burst_change_s'], 1000, 0)} ms |
| n-1 leaves gracefully: until every node holds its tombstone | {fmt_stat(f['leave_s'], 1000, 0)} ms |
| one sample of every node's /state report (the runner's sampling cost) | {fmt_stat(f['sample_round_s'], 1000, 0)} ms |
| resident memory per node, linked (a grid in a process of its own) | {fmt_stat(f['memory_per_node_kib'], 1, 0)} KiB |
| peak resident memory of the benchmark process | {f['peak_rss_mb']:.0f} MiB |
| `grid scenario run scenarios/large.toml`: expectations met | {s['expectations']} ({s['agree']}); \
grid ready in {s['ready_s']} s, {s['wall_s']} s in all |

How it is measured: the scenario runner's in-process driver starts the plan's nodes and sends
every AddSibling as the runner does; an observer in each node actor reports when that node's
view satisfies the condition (all nodes present, the new entry, the exact net, the
tombstone), so convergence times are not sampled. The last row runs the whole scenario
through the runner, whose own sampling reads every node every 2 s.
"""


if __name__ == "__main__":
    if "--fresh" in sys.argv:  # memory per node on one grid, for in_fresh_process
        plan = make_plan(load(SCENARIO), quick="--quick" in sys.argv)
        print(json.dumps({"memory_per_node_kib": asyncio.run(measure(plan))["memory_per_node_kib"]}))
    else:
        print(json.dumps(run(quick="--quick" in sys.argv), indent=2, default=str))
