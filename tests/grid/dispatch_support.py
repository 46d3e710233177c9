"""Helpers of the dispatch tests: operator keys, ``[dispatch]`` tables, in-process grids."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from grid.network import LocalGrid
from grid.node import Inbound, NodeConfig, Outcome, Query
from grid.runtime import LoopReply
from grid.service import NodeService
from protocol.base import Message
from protocol.dispatch import Dispatch, public_key_from_seed, sign_dispatch
from protocol.envelopes import tell
from protocol.errors import GridError
from protocol.gossip import GossipConfig

OP = "op-main"
SEED = bytes(range(32))
PUBLIC = public_key_from_seed(SEED).hex()
WRONG_SEED = bytes(range(100, 132))
FAST = GossipConfig(heartbeat_s=0.2, ttl_s=3.0, sync_interval_s=0.5)


def table(policy: str = "opt_in", *, issuer: bool = False, offered_kw: float = 3.0, program: str | None = "p1",
          channels: tuple[str, ...] = ("events",), **extra: Any) -> dict[str, Any]:  # fmt: skip
    """A ``[dispatch]`` table trusting :data:`OP`; ``issuer`` gives the node the operator key."""
    t: dict[str, Any] = {"ack_policy": policy, "operators": {OP: PUBLIC}, "digest_every": 1, **extra}
    if program is not None:
        t["programs"] = [{"program_id": program, "channels": list(channels), "offered_kw": offered_kw}]
    if issuer:
        t.update(operator_seed=SEED.hex(), operator_id=OP)
    return t


def config(node_id: str, dispatch: dict[str, Any], data_dir: Path | None = None,
           gossip: GossipConfig = FAST) -> NodeConfig:  # fmt: skip
    """A node on a made-up address (the in-memory transport needs no port)."""
    return NodeConfig(id=node_id, name=f"N{node_id}", port=20000 + int(node_id), data_dir=data_dir, gossip=gossip,
                      features={"dispatch": dispatch}, flush_window_s=0.0)  # fmt: skip


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def make_dispatch(dispatch_id: str = "d1", *, start: int | None = None, length_ms: int | None = 60_000,
                  sign_with: bytes | None = SEED, **changes: Any) -> Dispatch:  # fmt: skip
    """A curtail dispatch of program p1 for 2 kW, starting now, signed by :data:`OP` unless told otherwise."""
    begin = now_ms() if start is None else start
    end = None if length_ms is None else begin + length_ms
    fields = {"dispatch_id": dispatch_id, "program_id": "p1", "event_type": "curtail", "start_time": begin,
              "end_time": end, "curtailment_kw": 2.0, "issuer": OP}  # fmt: skip
    d = Dispatch.model_validate({**fields, **changes})
    return sign_dispatch(d, sign_with) if sign_with is not None else d


async def call(service: NodeService, message: Message, return_id: str | None = None) -> Outcome:
    """Hand one message to a node's actor (as /messaging would) and return its outcome."""
    return await service.handle.call(lambda reply: Inbound(tell(message, return_id=return_id), reply))


async def ask(service: NodeService, what: str, **params: Any) -> Any:
    """A read from the actor; a GridError answer is returned, not raised."""
    reply = LoopReply(asyncio.get_running_loop())
    service.actor.tell(Query(what, reply, params))
    return await asyncio.wait_for(reply.future, 5.0)


async def start_grid(tables: dict[str, dict[str, Any]], links: list[tuple[str, str]],
                     consumption_kw: float = 5.0, data_dirs: dict[str, Path] | None = None) -> LocalGrid:  # fmt: skip
    """Nodes on the in-memory transport, linked, each consuming ``consumption_kw``."""
    grid = LocalGrid.in_memory()
    for node_id, t in tables.items():
        await grid.add(config(node_id, t, (data_dirs or {}).get(node_id)))
    for a, b in links:
        grid.link(a, b)
    for node_id in tables:
        grid.set_energy(node_id, 0, consumption_kw)
    return grid


async def consumption(grid: LocalGrid, node_id: str) -> float:
    return (await grid.query(node_id))["consumption"]


async def answers(service: NodeService, dispatch_id: str) -> dict[str, list[str]] | None:
    """Who acknowledged, opted out, or has not answered, as ``service`` sees it (None: unknown dispatch)."""
    shown = await ask(service, "dispatch.show", dispatch_id=dispatch_id)
    return None if isinstance(shown, GridError) else shown["ack_status"]
