"""Run a village grid and photograph one node's dashboard (the README's screenshot).

    .venv/bin/python -m tests.browser.village docs/img/dashboard.png --seconds 150

Nine real node processes on loopback, sharing one simulated clock that runs
60 times faster than the wall clock (an afternoon passes in a few minutes);
every node runs dispatch, the plant holds the operator key and announces an
evening dispatch, and the photographed home has a smart meter with
yesterday's readings::

    Gas plant --- Wind co-op --- Sunny home --- Farm
        |                            |            |
      Home 2 ------ Home 1 ----------'          Bakery
                      |                           |
                    School -----------------------'
                      |
                    Battery

Needs Debian's chromium and chromedriver (see tests/browser/browser.py).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

from nodes.metering_sample import SAMPLE_MAX_HOURLY_KWH, generate_sample_readings
from protocol.dispatch import public_key_from_seed

from ..integration.procs import Cluster, NodeProc, http, wait_until
from .browser import DESKTOP, Browser, missing

SEED = bytes(range(32))
OPERATOR = "village-operator"
DEVICE = "home-meter"
SPEED = 60.0
#: Simulated start: a midsummer afternoon.
START = "2026-06-21T13:00:00+00:00"

#: id, name, kind flags.
NODES = (
    ("1", "Gas plant", ["--kind", "plant", "--max-kw", "40", "--marginal-cost", "95", "--emissions", "490"]),
    ("2", "Wind co-op", ["--kind", "prosumer", "--turbines", "3", "--turbine-kw", "5", "--annual-kwh", "3000"]),
    ("3", "Sunny home", ["--kind", "prosumer", "--solar-kw", "8", "--battery-kwh", "13.5", "--annual-kwh", "4500"]),
    ("4", "Farm", ["--kind", "prosumer", "--solar-kw", "20", "--annual-kwh", "25000"]),
    ("5", "Bakery", ["--kind", "consumer", "--annual-kwh", "60000"]),
    ("6", "School", ["--kind", "consumer", "--annual-kwh", "45000"]),
    ("7", "Home 1", ["--kind", "consumer", "--annual-kwh", "4000"]),
    ("8", "Home 2", ["--kind", "consumer", "--annual-kwh", "5000", "--flexible-share", "0.3"]),
    ("9", "Battery", ["--kind", "prosumer", "--battery-kwh", "60", "--battery-kw", "15", "--annual-kwh", "1",
                      "--buy-below", "60", "--sell-above", "110"]),
)
LINKS = (("1", "2"), ("2", "3"), ("3", "4"), ("1", "8"), ("8", "7"), ("7", "3"), ("4", "5"), ("7", "6"),
         ("6", "5"), ("6", "9"))  # fmt: skip
VIEWED = "3"


def config(path: Path, node_id: str) -> Path:
    """Dispatch for every node (the plant issues); a smart meter for the viewed home."""
    policy = "manual" if node_id == VIEWED else "opt_in"
    lines = ["[dispatch]", f'ack_policy = "{policy}"']
    if node_id == "1":
        lines += [f'operator_seed = "{SEED.hex()}"', f'operator_id = "{OPERATOR}"']
    lines += ["[dispatch.operators]", f'{OPERATOR} = "{public_key_from_seed(SEED).hex()}"', "[[dispatch.programs]]",
              'program_id = "evening"', 'name = "Evening peak"', "offered_kw = 2.0"]  # fmt: skip
    if node_id == VIEWED:
        lines += ["[metering]", f'devices = [{{id = "{DEVICE}", max_hourly_kwh = {SAMPLE_MAX_HOURLY_KWH}, '
                  'description = "whole house"}]']  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path


def start_village(cluster: Cluster, folder: Path) -> dict[str, NodeProc]:
    """Start, link and return the village's nodes."""
    epoch = f"{time.time():.3f}"
    clock = ["--speed", str(SPEED), "--start", START, "--epoch", epoch, "--step", "60"]

    def start(node_id: str, name: str, flags: list[str]) -> NodeProc:
        extra = flags + clock + ["--config", str(config(folder / f"{node_id}.toml", node_id))]
        return cluster.start(name, node_id, f"t{node_id}", extra=extra)

    with ThreadPoolExecutor(3) as pool:  # three at a time: starting is CPU-bound
        nodes = {n.node_id: n for n in pool.map(lambda spec: start(*spec), NODES)}
    for a, b in LINKS:
        status, answer = nodes[a].link(nodes[b])
        assert status == 202, answer
    wait_until(lambda: all(n.state()["nodes_live"] == len(NODES) for n in nodes.values()), timeout=60)
    return nodes


def post_yesterday(node: NodeProc) -> str:
    """Yesterday's meter readings (the shipped sample household); returns the day."""
    day = (datetime.now(timezone.utc) - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    readings = generate_sample_readings(start_ms=int(day.timestamp() * 1000), days=1, device_id=DEVICE)
    body = [{"timestamp": r.timestamp_ms, "device_id": r.device_id, "measurement_value": r.wh / 1000}
            for r in readings]  # fmt: skip
    headers = {"Content-Type": "application/json", "Authorization": node.token or ""}
    for start in range(0, len(body), 72):
        status, answer = http("POST", node.address, "/meter/readings", json.dumps(body[start:start + 72]).encode(),
                              headers)  # fmt: skip
        assert status == 202, answer
    return day.date().isoformat()


def announce_dispatch(plant: NodeProc) -> None:
    """An evening dispatch, starting in an hour of wall time: every home may still answer."""
    start = int(time.time() * 1000) + 3_600_000
    msg = {"dispatchId": "evening-peak", "programId": "evening", "eventType": "curtail", "startTime": start,
           "endTime": start + 2 * 3_600_000, "curtailmentKw": 1.5, "message": "Please shift laundry and charging"}
    status, answer = plant.tell("Dispatch", msg)
    assert status == 202, answer


def photograph(node: NodeProc, day: str, out: Path, seconds: float, profile: Path) -> None:
    """Keep the dashboard open for ``seconds`` (its charts fill), then save a screenshot."""
    browser = Browser(profile)
    try:
        browser.resize(DESKTOP)
        browser.open(f"http://{node.address}/")
        browser.wait_for(lambda: browser.js("return !document.getElementById('meter-panel').hidden"), timeout=20)
        browser.js("const d = document.getElementById('meter-day'); d.value = arguments[0];"
                   "d.dispatchEvent(new Event('change', { bubbles: true }));", day)  # fmt: skip
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(min(5.0, max(0.0, deadline - time.monotonic())))
        browser.js("document.activeElement && document.activeElement.blur()")
        browser.screenshot(out)
    finally:
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="where to write the PNG")
    parser.add_argument("--seconds", type=float, default=150.0, help="how long the page watches before the photo")
    args = parser.parse_args()
    reason = missing()
    if reason:
        raise SystemExit(reason)
    with tempfile.TemporaryDirectory() as tmp:
        cluster = Cluster(Path(tmp))
        try:
            nodes = start_village(cluster, Path(tmp))
            day = post_yesterday(nodes[VIEWED])
            announce_dispatch(nodes["1"])
            photograph(nodes[VIEWED], day, args.out, args.seconds, Path(tmp) / "profile")
        finally:
            cluster.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
