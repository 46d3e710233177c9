"""Benchmark of the support chat (issue 10): how long a chat, its receipt and a typing signal take.

``python -m bench.chat [--quick]`` prints the figures as JSON. Nodes in a line
(so a chat crosses every node), all in this process:

- over real HTTP on loopback, 4 nodes, ``direct = false`` (relayed over 3 hops),
  and the same line with ``direct = true`` (one hop to the target's address);
- on the in-memory transport, 32 nodes, relayed over 31 hops (the cost of
  the relaying itself, without sockets).

Each run sends one chat from the first node to the last and measures, from
the node's event streams (nothing polls): ``chat_s``, until the last node
delivered it; ``receipt_s``, until the first node holds the ``delivered``
receipt; ``typing_s``, a typing signal from the first node to the last.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from grid.events import EventHub
from grid.network import LocalGrid
from grid.node import NodeConfig
from protocol.chat import Chat, ChatTyping
from protocol.gossip import GossipConfig

from .common import free_port, median_of

#: Deployed timers; a long TTL so a busy machine never marks nodes stale mid-run.
GOSSIP = GossipConfig(heartbeat_s=1.0, ttl_s=30.0, sync_interval_s=2.0)


async def line(n: int, over_http: bool, direct: bool) -> LocalGrid:
    """``n`` nodes linked 0-1-...-(n-1), every node seeing every other."""
    grid = LocalGrid.over_http() if over_http else LocalGrid.in_memory()
    for i in range(n):
        host, port = ("127.0.0.1", free_port()) if over_http else (f"node{i}", 1)
        await grid.add(NodeConfig(id=str(i), name=f"n{i}", host=host, port=port, gossip=GOSSIP,
                                  features={"chat": {"direct": direct}}))  # fmt: skip
    for i in range(n - 1):
        grid.link(str(i), str(i + 1))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ends = [await grid.query(str(i)) for i in (0, n - 1)]
        if all(state["nodes_live"] == n for state in ends):
            return grid
        await asyncio.sleep(0.05)
    await grid.close()
    raise RuntimeError(f"a line of {n} nodes did not settle within 120 s")


async def next_event(hub: EventHub, sub: Any, kind: str, test: Any) -> float:
    """When the next ``kind`` event passing ``test`` reached ``hub``."""
    while True:
        event = await asyncio.wait_for(sub.queue.get(), 30)
        if event.kind == kind and test(event.data):
            return time.perf_counter()


async def one_run(grid: LocalGrid, last: str, seq: int) -> dict[str, float]:
    first_hub, last_hub = grid.services["0"].events, grid.services[last].events
    first_sub, last_sub = first_hub.subscribe(), last_hub.subscribe()
    try:
        t0 = time.perf_counter()
        grid.tell("0", Chat(to=last, text=f"benchmark chat {seq}"))
        delivered = await next_event(last_hub, last_sub, "chat", lambda d: d["direction"] == "in" and d["seq"] == seq)
        receipt = await next_event(first_hub, first_sub, "chat_receipt", lambda d: d["delivered"] >= seq)
        t1, sent_ms = time.perf_counter(), time.time_ns() // 1_000_000
        grid.tell("0", ChatTyping(to=last, typing=True))
        # Not the "stopped typing" that the chat itself caused at the last node: this signal.
        typed = await next_event(last_hub, last_sub, "chat_typing", lambda d: d["typing"] and d["at"] >= sent_ms)
    finally:
        first_hub.unsubscribe(first_sub)
        last_hub.unsubscribe(last_sub)
    return {"chat_s": delivered - t0, "receipt_s": receipt - t0, "typing_s": typed - t1}


async def bench(n: int, over_http: bool, direct: bool, runs: int) -> dict[str, Any]:
    grid = await line(n, over_http, direct)
    try:
        results = [await one_run(grid, str(n - 1), seq) for seq in range(1, runs + 1)]
    finally:
        await grid.close()
    figures = {key: median_of([r[key] for r in results]) for key in results[0]}
    return {"nodes": n, "hops": 1 if direct else n - 1, **figures}


def run(quick: bool = False) -> dict[str, Any]:
    """The chat benchmark; ``quick`` makes fewer runs and a shorter in-memory line."""
    runs = 5 if quick else 30
    return {
        "http_relayed": asyncio.run(bench(4, over_http=True, direct=False, runs=runs)),
        "http_direct": asyncio.run(bench(4, over_http=True, direct=True, runs=runs)),
        "memory_relayed": asyncio.run(bench(8 if quick else 32, over_http=False, direct=False, runs=runs)),
    }


def _ms(stat: dict[str, float]) -> str:
    return f"{stat['median'] * 1000:.1f} ({stat['min'] * 1000:.1f}-{stat['max'] * 1000:.1f})"


def report(f: dict[str, Any]) -> str:
    """The chat section of docs/benchmarks.md."""
    rows = [("HTTP on loopback, relayed", f["http_relayed"]), ("HTTP on loopback, direct", f["http_direct"]),
            ("in memory, relayed", f["memory_relayed"])]  # fmt: skip
    lines = "\n".join(f"| {name} | {r['nodes']} | {r['hops']} | {_ms(r['chat_s'])} | {_ms(r['receipt_s'])} | "
                      f"{_ms(r['typing_s'])} |" for name, r in rows)  # fmt: skip
    return f"""## Chat

Command: `python -m bench chat` (about {f.get('_seconds', 0):.0f} s). Milliseconds, median (min-max).

| line of nodes | nodes | hops | chat delivered | receipt back | typing signal |
|---|---|---|---|---|---|
{lines}

How it is measured: one chat at a time from the first node of a line to the last, all
nodes in one process; times are read from the nodes' event streams (`chat`,
`chat_receipt`, `chat_typing`), so nothing polls.
"""


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
