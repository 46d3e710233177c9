"""Reliability figures (issue 5): agreement under loss and partitions, liveness, key costs.

``python -m bench.reliability [--quick]`` prints the figures as JSON. Measured:

- ``sim``: the 20-node grid of tests/protocol/test_reliability.py on the pure
  gossip core and a simulated clock (heartbeat 1 s, TTL 5 s, sync 2 s), every
  link dropping, duplicating and reordering ``loss`` of its messages, over
  several seeds: simulated seconds until the exact net everywhere after
  readings stop; until each half agrees on its island after a partition
  (counted from the last change); until all agree again after a 30 s
  partition heals (and the same in sync rounds of 2 s); the share of 0.1 s
  samples in the 30 s after that without full agreement (false staleness);
  and the same share with a TTL of 10 s.
- ``keys``: microseconds to sign and to verify one 200-byte peer request.
- ``procs``: three real processes at the default timing: seconds from SIGKILL
  until both others mark the node stale; stale marks seen during a 2 s SIGSTOP.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from grid.security import PeerAuth
from protocol.gossip import GossipConfig
from protocol.keyring import Keyring

from tests.integration.procs import Cluster
from tests.protocol.faultnet import change_readings, grid20

from .common import median_of

LOSSES = (0.0, 0.1, 0.3)


def sim_once(loss: float, seed: int, ttl_s: float = 5.0) -> dict[str, float]:
    """One seed: converge, partition for 30 s, heal, then watch 30 s for false staleness."""
    config = GossipConfig(heartbeat_s=1.0, ttl_s=ttl_s, sync_interval_s=2.0)
    net, ids, rng = grid20(loss, seed, config)
    change_readings(net, ids, rng, seconds=5.0)
    converge = net.run_until_agreed(limit_s=60.0)
    left, right = set(ids[:10]), set(ids[10:])
    start = net.now
    net.plan = net.plan.partition(left, right)
    change_readings(net, ids, rng, seconds=10.0)
    island = net.run_until_agreed(limit_s=start + 30.0 - net.now, islands=[left, right])
    net.run_until(start + 30.0)
    net.plan = net.plan.heal()
    heal = net.run_until_agreed(limit_s=60.0)
    misses = 0
    for _ in range(300):
        net.run_until(net.now + 0.1)
        misses += not net.agreed([set(ids)])
    return {
        "converge_s": _or_inf(converge),
        "island_s": _or_inf(island),
        "heal_s": _or_inf(heal),
        "heal_rounds": _or_inf(heal) / config.sync_interval_s,
        "disagree_share": misses / 300,
        "delivered": net.delivered,
    }


def _or_inf(value: float | None) -> float:
    return float("inf") if value is None else round(value, 3)


def sim(seeds: int) -> dict[str, Any]:
    """Every loss rate over ``seeds`` seeds; the TTL-10 s variant at the highest loss."""
    result: dict[str, Any] = {}
    for loss in LOSSES:
        runs = [sim_once(loss, seed) for seed in range(1, seeds + 1)]
        result[f"loss_{int(loss * 100)}"] = {key: median_of([r[key] for r in runs]) for key in runs[0]}
    runs = [sim_once(LOSSES[-1], seed, ttl_s=10.0) for seed in range(1, seeds + 1)]
    result["loss_30_ttl_10"] = {key: median_of([r[key] for r in runs]) for key in runs[0]}
    return result


def keys(rounds: int = 20_000) -> dict[str, float]:
    """Sign and verify cost of one 200-byte peer request."""
    sender = PeerAuth(Keyring.with_key("k1", b"0123456789abcdef-secret"))
    receiver = PeerAuth(Keyring.with_key("k1", b"0123456789abcdef-secret"))
    body = os.urandom(200)
    signed = [sender.sign("POST", "/messaging", body) for _ in range(rounds)]
    start = time.perf_counter()
    for _ in range(rounds):
        sender.sign("POST", "/messaging", body)
    sign_us = (time.perf_counter() - start) / rounds * 1e6
    start = time.perf_counter()
    for headers in signed:
        receiver.verify("POST", "/messaging", body, headers, "bench")
    verify_us = (time.perf_counter() - start) / rounds * 1e6
    return {"sign_us": round(sign_us, 2), "verify_us": round(verify_us, 2)}


def procs() -> dict[str, float]:
    """Kill and pause a real process at the default timing (heartbeat 1 s, TTL 5 s)."""
    with tempfile.TemporaryDirectory() as tmp:
        cluster = Cluster(Path(tmp))
        try:
            extra = ["--grid-key", "k1:bench-grid-secret-0123"]
            a, b, c = (cluster.start(n, i, "t", extra=extra) for n, i in (("A", "1"), ("B", "2"), ("C", "3")))
            a.link(b)
            b.link(c)
            cluster.agree([a, b, c], gridnet=0.0, live=3)
            c.signal(signal.SIGSTOP)
            stale_seen, paused = 0, time.monotonic()
            while time.monotonic() - paused < 2.0:
                stale_seen += sum(n.state()["nodes_stale"] for n in (a, b))
                time.sleep(0.05)
            c.signal(signal.SIGCONT)
            cluster.agree([a, b, c], gridnet=0.0, live=3)
            c.kill()
            killed = time.monotonic()
            cluster.agree([a, b], gridnet=0.0, live=2, timeout=30)
            return {"kill_to_stale_s": round(time.monotonic() - killed, 2), "stale_during_2s_pause": stale_seen}
        finally:
            cluster.close()


def run(quick: bool = False) -> dict[str, Any]:
    """Every reliability figure; ``quick`` uses one seed and skips real processes."""
    started = time.monotonic()
    figures: dict[str, Any] = {"sim": sim(1 if quick else 5), "keys": keys(2_000 if quick else 20_000)}
    if not quick:
        figures["procs"] = procs()
    figures["_seconds"] = round(time.monotonic() - started, 1)
    return figures


def _cell(stat: dict[str, float], unit: str = " s") -> str:
    """``median (min-max)``; a run that never agreed within its limit shows as 'not within the limit'."""

    def one(value: float) -> str:
        return "not within the limit" if value == float("inf") else f"{value:g}{unit}"

    if stat["min"] == stat["max"]:
        return one(stat["median"])
    return f"{one(stat['median'])} ({one(stat['min'])} - {one(stat['max'])})"


def report(f: dict[str, Any]) -> str:
    """The reliability section of docs/benchmarks.md (the full tables are in docs/reliability.md)."""
    rows = []
    for key, sim_figures in f["sim"].items():
        loss, _, ttl = key.removeprefix("loss_").partition("_ttl_")
        label = f"{loss}% (TTL {ttl} s)" if ttl else f"{loss}%"
        rows.append(
            f"| {label} | {_cell(sim_figures['converge_s'])} | {_cell(sim_figures['island_s'])} "
            f"| {_cell(sim_figures['heal_s'])} | {_cell(sim_figures['disagree_share'], '')} |"
        )
    procs_line = ""
    if "procs" in f:
        p = f["procs"]
        procs_line = (f"\nReal processes at the default timing (heartbeat 1 s, TTL 5 s): a node paused 2 s was marked "
                      f"stale {p['stale_during_2s_pause']} times; a killed node was marked stale "
                      f"{p['kill_to_stale_s']} s after the kill.\n")
    table = "\n".join(rows)
    return f"""## Reliability

Command: `python -m bench.reliability` (about {f.get('_seconds', 0):.0f} s). 20 nodes running the real gossip
core on a simulated network and clock (heartbeat 1 s, TTL 5 s, sync 2 s); loss p drops,
duplicates and delays p of the messages on every link; medians of several seeds (min - max).
What each row injects and which test guards it: [reliability.md](reliability.md).

| loss | agree after changes stop | islands agree during a 30 s partition | re-agree after the heal | share of samples not agreeing in the 30 s after the heal |
|---|---|---|---|---|
{table}
{procs_line}
Grid key: signing a request takes {f['keys']['sign_us']} us, checking it {f['keys']['verify_us']} us.
"""


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
