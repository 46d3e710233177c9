"""Benchmark of dispatch (issue 6): from issuing a dispatch to the issuer holding every acknowledgement.

``python -m bench.dispatch [--quick]`` prints the figures as JSON. 100 real
node actors in one process on the in-memory transport, a random graph of
average degree 4, every node enrolled in one program and acknowledging by
policy (``opt_in``); node 0 holds the operator key. Each run issues a fresh
dispatch at node 0 (which signs it) and measures, without polling:

- ``last_ack_s``: until node 0's event stream has shown an acknowledgement
  from every node (the issuer's book holds all 100 answers);
- ``gridnet_s``: until node 0's grid net shows every node's curtailment
  (each node's entry carries its curtailed consumption);
- ``messages``: envelopes the transport carried meanwhile (dispatch
  replication plus the gossip of the curtailed entries).
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from typing import Any

from grid.network import LocalGrid
from grid.node import Inbound, NodeConfig
from nodes.topology import diameter, random_graph
from protocol.dispatch import Dispatch, public_key_from_seed
from protocol.envelopes import tell
from protocol.gossip import GossipCore, GossipConfig

from .common import fmt_stat, median_of

SEED = bytes(range(32))
OP = "op-bench"
#: Gossip timers as a deployed node has them, a longer TTL so a busy machine never marks nodes stale.
GOSSIP = GossipConfig(heartbeat_s=1.0, ttl_s=30.0, sync_interval_s=2.0)
CONSUMPTION_KW, CURTAIL_KW = 5.0, 2.0


def table(issuer: bool) -> dict[str, Any]:
    """The ``[dispatch]`` table of every node; node 0 also holds the key."""
    t: dict[str, Any] = {
        "ack_policy": "opt_in",
        "operators": {OP: public_key_from_seed(SEED).hex()},
        "programs": [{"program_id": "p1", "offered_kw": CURTAIL_KW}],
    }
    if issuer:
        t.update(operator_seed=SEED.hex(), operator_id=OP)
    return t


class NetWatch:
    """An observer: notes when node 0's view first reaches a grid net (runs in the actor, on the loop)."""

    def __init__(self) -> None:
        self.target: int | None = None
        self.event = threading.Event()
        self.at = 0.0

    def arm(self, target_w: int) -> None:
        self.event.clear()
        self.target = target_w

    def __call__(self, core: GossipCore, changed: list[str]) -> None:
        if core.origin == "0" and self.target is not None and core.net_w == self.target and not self.event.is_set():
            self.at = time.perf_counter()
            self.event.set()


async def build(n: int, seed: int, watch: NetWatch) -> tuple[LocalGrid, dict[str, Any]]:
    """Start, link and load ``n`` nodes; wait until node 0 knows every enrolment."""
    grid = LocalGrid.in_memory(observers=[watch])
    for i in range(n):
        config = NodeConfig(id=str(i), name=f"n{i}", host=f"node{i}", port=1, gossip=GOSSIP,
                            features={"dispatch": table(i == 0)})  # fmt: skip
        await grid.add(config)
    edges = random_graph(n, 4, seed)
    for a, b in edges:
        grid.link(str(a), str(b))
    for i in range(n):
        grid.set_energy(str(i), 0, CONSUMPTION_KW)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        listing = await grid.query("0", "dispatch.list")
        state = await grid.query("0")
        if len(listing["enrolled"].get("p1", [])) == n and state["nodes_live"] == n:
            break
        await asyncio.sleep(0.1)
    else:
        raise RuntimeError("the grid did not settle within 120 s")
    return grid, {"nodes": n, "links": len(edges), "diameter": diameter(n, edges)}


async def issue_once(grid: LocalGrid, n: int, watch: NetWatch, dispatch_id: str) -> dict[str, float]:
    """Issue one dispatch at node 0; time the last acknowledgement and the grid net at node 0."""
    issuer = grid.services["0"]
    subscription = issuer.events.subscribe()
    now_ms = time.time_ns() // 1_000_000
    d = Dispatch(dispatch_id=dispatch_id, program_id="p1", event_type="curtail", start_time=now_ms,
                 end_time=now_ms + 3_600_000, curtailment_kw=CURTAIL_KW)  # fmt: skip
    watch.arm(-round(n * (CONSUMPTION_KW - CURTAIL_KW) * 1000))
    sent_before = grid.transport.sent  # type: ignore[attr-defined]
    acked: set[str] = set()
    t0 = time.perf_counter()
    issuer.actor.tell(Inbound(tell(d)))
    try:
        while len(acked) < n:
            event = await asyncio.wait_for(subscription.queue.get(), 60)
            ack = event.data.get("ack") if event.kind == "dispatch" else None
            if ack is not None and ack["dispatchId"] == dispatch_id:
                acked.add(ack["nodeId"])
        last_ack = time.perf_counter() - t0
    finally:
        issuer.events.unsubscribe(subscription)
    if not await asyncio.to_thread(watch.event.wait, 60):
        raise RuntimeError("node 0 never saw every curtailment in its grid net")
    messages = grid.transport.sent - sent_before  # type: ignore[attr-defined]
    # End the dispatch (a cancel from node 0) so the next run starts from full consumption.
    watch.arm(-round(n * CONSUMPTION_KW * 1000))
    issuer.actor.tell(Inbound(tell(d.model_copy(update={"status": "cancelled", "modification_number": 1}))))
    await asyncio.to_thread(watch.event.wait, 60)
    return {"last_ack_s": last_ack, "gridnet_s": watch.at - t0, "messages": messages}


async def bench(n: int, runs: int, seed: int = 1) -> dict[str, Any]:
    watch = NetWatch()
    grid, shape = await build(n, seed, watch)
    try:
        results = [await issue_once(grid, n, watch, f"bench-{i}") for i in range(runs)]
    finally:
        await grid.close()
    return {**shape, **{key: median_of([r[key] for r in results]) for key in results[0]}}


def run(quick: bool = False) -> dict[str, Any]:
    """The dispatch benchmark; ``quick`` uses 30 nodes and one run."""
    return asyncio.run(bench(30 if quick else 100, 1 if quick else 5))


def report(f: dict[str, Any]) -> str:
    """The dispatch section of docs/benchmarks.md."""
    return f"""## Dispatch

Command: `python -m bench dispatch` (about {f.get('_seconds', 0):.0f} s).

| what | measured |
|---|---|
| {f['nodes']} nodes in one process (random graph degree 4, diameter {f['diameter']}): issuing a dispatch at one node until it holds every node's acknowledgement | {fmt_stat(f['last_ack_s'], 1000, 0)} ms |
| same: until the issuer's grid net shows every node's curtailment | {fmt_stat(f['gridnet_s'], 1000, 0)} ms |
| envelopes carried meanwhile (dispatch, acks, memberships, curtailed entries) | {fmt_stat(f['messages'], 1, 0)} |

How it is measured: real node actors on the in-memory transport, every node enrolled and
acknowledging by policy; the issuer signs the dispatch. The time of the last
acknowledgement is read from the issuer's event stream, the grid net from an observer in
its actor, so nothing polls. Each run cancels its dispatch before the next one.
"""


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
