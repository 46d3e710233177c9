"""A simulated day of a 50-node neighbourhood, with balancing on and off.

``python -m bench.day [--speed 720] [--quick]`` runs the real node actors (model
feature, gossip, timers) in one process on the in-memory transport, twice:

- **on**: every node reacts to its own view: the plant ramps towards the
  deficit it sees, batteries charge on surplus or low price and discharge on
  deficit or high price (``nodes.balancing``);
- **off**: nobody reacts to the grid (``balancing = false``): the plant runs
  flat at the average output it had in the *on* run (the same energy, the
  best constant schedule), batteries only serve their own household.

The neighbourhood: 29 houses (consumers), 20 prosumers with a small wind
turbine, a 13.5 kWh battery and, every other one, solar panels, and one
60 kW plant; linked as a random graph of average degree 4. The day is the
spring equinox at the default position (Lulea); weather and loads are seeded.

Every simulated minute the bench reads one house's view (its /state and /grid
reports) and derives: RMS and maximum of |grid net|, the price range, the
carbon intensity, and the share of demand met by renewables, defined per
sample as ``min(zero-emission production, consumption) / consumption`` and
summed over the day (batteries count as zero-emission: they store wind and
sun, and their charging counts as consumption). A plot goes to
docs/img/day.png. Figures are printed as JSON and returned as a dict.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grid.clock import SimClock, parse_instant
from grid.network import LocalGrid
from grid.node import NodeConfig
from nodes.topology import random_graph
from protocol.gossip import GossipConfig

ROOT = Path(__file__).resolve().parents[1]
PLOT = ROOT / "docs" / "img" / "day.png"
START = "2024-03-20T00:00:00Z"
DAY_S = 86_400
SAMPLE_S = 60.0  #: simulated seconds between samples
STEP_S = 60.0  #: simulated seconds per model step
#: Real seconds before the simulated day starts: nodes link and agree first.
WARMUP_S = 4.0
HOUSES, PROSUMERS = 29, 20
PLANT = {"max_kw": 60, "ramp_kw_per_min": 6, "marginal_cost": 60, "emissions": 820}
OBSERVER = "house-0"  #: the node whose view the bench reads
SPEED = 720.0  #: a day in two minutes, one step per simulated minute
QUICK_SPEED = 4320.0  #: a day in 20 s


def neighbourhood(balancing: bool, plant_output_kw: float, clock: dict[str, Any]) -> list[NodeConfig]:
    """The 50 nodes' configurations."""
    gossip = GossipConfig(heartbeat_s=1.0, ttl_s=5.0, sync_interval_s=2.0)

    def node(index: int, name: str, kind: str, params: dict[str, Any]) -> NodeConfig:
        model = {**params, "seed": 1000 + index, "step_s": STEP_S, "balancing": balancing}
        return NodeConfig(id=name, name=name, port=20_000 + index, kind=kind, gossip=gossip, flush_window_s=0.01,
                          features={"model": model, "clock": clock})  # fmt: skip

    configs = [node(0, "plant", "plant", {**PLANT, "output_kw": plant_output_kw})]
    for i in range(PROSUMERS):
        params = {"turbines": 1, "turbine_kw": 0.8, "solar_kw": 3.0 if i % 2 else 0.0, "battery_kwh": 13.5,
                  "battery_kw": 5.0, "annual_kwh": 4000}  # fmt: skip
        configs.append(node(1 + i, f"prosumer-{i}", "prosumer", params))
    for i in range(HOUSES):
        configs.append(node(1 + PROSUMERS + i, f"house-{i}", "consumer", {"annual_kwh": 4000}))
    return configs


@dataclass
class Day:
    """What the observer saw, one row per simulated minute."""

    balancing: bool
    hours: list[float] = field(default_factory=list)
    net_kw: list[float] = field(default_factory=list)
    price: list[int] = field(default_factory=list)
    carbon: list[int] = field(default_factory=list)
    demand_kw: list[float] = field(default_factory=list)
    clean_kw: list[float] = field(default_factory=list)
    plant_kw: list[float] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    real_s: float = 0.0

    def record(self, hour: float, state: dict[str, Any], grid: dict[str, Any]) -> None:
        """One sample from the observer's /state and /grid."""
        live = [row for row in grid["nodes"] if row["status"] == "alive"]
        self.hours.append(hour)
        self.net_kw.append(state["gridnet_w"] / 1000)
        self.price.append(state["price"])
        self.carbon.append(state["carbon_intensity"])
        self.demand_kw.append(sum(row["consumption"] for row in live))
        self.clean_kw.append(sum(row["production"] for row in live if row["emissions"] == 0))
        self.plant_kw.append(sum(row["production"] for row in live if row["kind"] == "plant"))


async def run_day(balancing: bool, plant_output_kw: float, speed: float) -> Day:
    """Start the 50 nodes, let them run through one simulated day, sample it."""
    epoch = time.time() + WARMUP_S
    clock_table = {"speed": speed, "start": START, "epoch": epoch}
    clock = SimClock.from_settings(clock_table)
    configs = neighbourhood(balancing, plant_output_kw, clock_table)
    grid = LocalGrid.in_memory()
    day = Day(balancing)
    began = time.perf_counter()
    try:
        for config in configs:
            await grid.add(config)
        for a, b in random_graph(len(configs), 4.0, seed=3):
            grid.link(configs[a].id, configs[b].id)
        await _until_all_live(grid, len(configs), deadline=epoch)
        await _sample(grid, clock, day)
        day.steps = [(await grid.query(c.id))["model"]["steps"] for c in configs]
    finally:
        await grid.close()
    day.real_s = time.perf_counter() - began
    return day


async def _until_all_live(grid: LocalGrid, count: int, deadline: float) -> None:
    while True:
        states = [await grid.query(node_id) for node_id in list(grid.services)]
        if all(s["nodes_live"] == count for s in states):
            return
        if time.time() > deadline + 10:
            raise RuntimeError("the neighbourhood did not link up in time")
        await asyncio.sleep(0.1)


async def _sample(grid: LocalGrid, clock: SimClock, day: Day) -> None:
    """One sample per simulated minute, from the simulated day's start to its end."""
    start_s = parse_instant(START)
    for k in range(int(DAY_S / SAMPLE_S)):
        due = clock.epoch_s + clock.real_seconds(k * SAMPLE_S)
        await asyncio.sleep(max(0.0, due - time.time()))
        state = await grid.query(OBSERVER, "state")
        view = await grid.query(OBSERVER, "grid")
        day.record((clock.now_s() - start_s) / 3600, state, view)


def figures(day: Day) -> dict[str, Any]:
    """The day's figures (kW, EUR/MWh, gCO2/kWh)."""
    n = len(day.net_kw)
    demand = sum(day.demand_kw)
    met = sum(min(c, d) for c, d in zip(day.clean_kw, day.demand_kw, strict=True))
    return {
        "rms_net_kw": round(math.sqrt(sum(x * x for x in day.net_kw) / n), 3),
        "max_abs_net_kw": round(max(abs(x) for x in day.net_kw), 3),
        "price_min": min(day.price),
        "price_max": max(day.price),
        "price_mean": round(sum(day.price) / n, 1),
        "carbon_mean": round(sum(day.carbon) / n, 1),
        "renewable_share": round(met / demand, 3) if demand else 0.0,
        "demand_kwh": round(demand * SAMPLE_S / 3600, 1),
        "plant_kwh": round(sum(day.plant_kw) * SAMPLE_S / 3600, 1),
        "samples": n,
        "model_steps_per_node": {"min": min(day.steps), "max": max(day.steps)},
        "real_s": round(day.real_s, 1),
    }


def plot(on: Day, off: Day, path: Path = PLOT) -> None:
    """Grid net, price and supply over the day, balancing on against off."""
    import matplotlib

    matplotlib.use("Agg")  # no display; the bench writes a file
    import matplotlib.pyplot as plt

    fig, (net, price, supply) = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    net.plot(off.hours, off.net_kw, color="tab:red", lw=0.8, label="balancing off")
    net.plot(on.hours, on.net_kw, color="tab:blue", lw=0.8, label="balancing on")
    net.axhline(0, color="black", lw=0.5)
    net.set_ylabel("grid net, kW")
    net.legend(loc="upper left")
    price.step(off.hours, off.price, color="tab:red", lw=0.8, where="post", label="balancing off")
    price.step(on.hours, on.price, color="tab:blue", lw=0.8, where="post", label="balancing on")
    price.set_ylabel("price, EUR/MWh")
    price.legend(loc="upper left")
    carbon = price.twinx()  # the price is often flat (one marginal plant); carbon is not
    carbon.plot(on.hours, on.carbon, color="tab:gray", lw=0.8, label="carbon intensity (on)")
    carbon.set_ylabel("gCO2/kWh")
    carbon.legend(loc="upper right")
    supply.plot(on.hours, on.demand_kw, color="black", lw=0.8, label="consumption")
    supply.plot(on.hours, on.clean_kw, color="tab:green", lw=0.8, label="wind, sun, batteries")
    supply.plot(on.hours, on.plant_kw, color="tab:brown", lw=0.8, label="plant (balancing on)")
    supply.set_ylabel("power, kW")
    supply.set_xlabel(f"hour of {START[:10]} (simulated)")
    supply.legend(loc="upper left")
    fig.suptitle("A simulated day of a 50-node neighbourhood (bench/day.py)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


async def both_days(speed: float, write_plot: bool = True) -> dict[str, Any]:
    """Both days and their figures."""
    on = await run_day(True, plant_output_kw=15.0, speed=speed)
    flat_kw = sum(on.plant_kw) / len(on.plant_kw)
    off = await run_day(False, plant_output_kw=flat_kw, speed=speed)
    if write_plot:
        plot(on, off)
    on_figures, off_figures = figures(on), figures(off)
    cut = 1 - on_figures["rms_net_kw"] / off_figures["rms_net_kw"] if off_figures["rms_net_kw"] else 0.0
    return {
        "nodes": 1 + PROSUMERS + HOUSES,
        "speed": speed,
        "balancing_on": on_figures,
        "balancing_off": {**off_figures, "flat_plant_kw": round(flat_kw, 3)},
        "rms_cut": round(cut, 3),
        "goal_rms_cut": 0.8,
        "plot": str(PLOT.relative_to(ROOT)) if write_plot else None,
    }


def run(quick: bool = False, speed: float | None = None) -> dict[str, Any]:
    """The benchmark as ``python -m bench`` calls it; ``quick`` runs a coarse day in ~20 s
    (steps bounded to 0.05 s real, i.e. 3.6 simulated minutes) and leaves the plot alone."""
    speed = speed or (QUICK_SPEED if quick else SPEED)
    return asyncio.run(both_days(speed, write_plot=not quick))


def report(f: dict[str, Any]) -> str:
    """The Markdown section of docs/benchmarks.md."""
    on, off = f["balancing_on"], f["balancing_off"]
    rows = [
        ("RMS of grid net, kW", on["rms_net_kw"], off["rms_net_kw"]),
        ("max of abs(grid net), kW", on["max_abs_net_kw"], off["max_abs_net_kw"]),
        ("price min - max (mean), EUR/MWh", f"{on['price_min']} - {on['price_max']} ({on['price_mean']})",
         f"{off['price_min']} - {off['price_max']} ({off['price_mean']})"),
        ("carbon intensity, mean gCO2/kWh", on["carbon_mean"], off["carbon_mean"]),
        ("share of demand met by renewables", on["renewable_share"], off["renewable_share"]),
        ("consumption / plant energy, kWh", f"{on['demand_kwh']} / {on['plant_kwh']}",
         f"{off['demand_kwh']} / {off['plant_kwh']}"),
        ("model steps per node (nominal 1440)", _span(on["model_steps_per_node"]), _span(off["model_steps_per_node"])),
        ("real seconds for the day", on["real_s"], off["real_s"]),
    ]  # fmt: skip
    table = "\n".join(f"| {name} | {a} | {b} |" for name, a, b in rows)
    return (
        "## A simulated day: balancing on and off (`bench/day.py`)\n\n"
        f"{f['nodes']} real node actors (29 houses, 20 prosumers with wind, batteries and some sun, one plant) "
        f"on the in-memory transport, one simulated day at speed {f['speed']:g}; the *off* plant runs flat at "
        f"{off['flat_plant_kw']} kW, the *on* run's mean. See docs/models.md.\n\n"
        "| figure | balancing on | balancing off |\n|---|---|---|\n"
        f"{table}\n\n"
        f"Balancing cuts the RMS imbalance by **{f['rms_cut']:.0%}** (goal: {f['goal_rms_cut']:.0%}).\n\n"
        "![A simulated day](img/day.png)\n"
    )


def _span(steps: dict[str, int]) -> str:
    return f"{steps['min']} - {steps['max']}"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """``python -m bench.day [--speed N] [--quick]``: print the figures as JSON, return them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, default=None, help=f"simulated s per real s (default {SPEED:g})")
    parser.add_argument("--quick", action="store_true", help="a coarse day in about 20 s, plot not written")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    result = run(quick=args.quick, speed=args.speed)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
