"""Helpers of the chat feature tests: in-process grids of nodes in a line, chats in and out."""

from __future__ import annotations

import asyncio
from pathlib import Path
from random import Random
from typing import Any

from grid.network import LocalGrid
from grid.node import Inbound, NodeConfig, Query
from grid.runtime import LoopReply, LoopScheduler
from grid.transport.chaos import ChaosTransport
from grid.transport.memory import MemoryTransport
from protocol.envelopes import tell
from protocol.faults import FaultPlan
from protocol.gossip import GossipConfig

from .inproc import wait_for

GOSSIP = GossipConfig(heartbeat_s=0.2, ttl_s=2.0, sync_interval_s=0.3)
#: Quick per-hop and end-to-end retries, so lost messages cost little test time.
CHAT = {"ack_timeout_s": 0.4, "retry_base_s": 0.1, "retry_cap_s": 1.0, "resend_s": 1.5}


async def line_grid(ids: list[str], plan: FaultPlan = FaultPlan(), seed: int = 1, data: Path | None = None,
                    **chat: Any) -> tuple[LocalGrid, ChaosTransport]:  # fmt: skip
    """Nodes ``ids`` linked in that order, in memory behind a chaos transport, converged.

    With ``data``, each node keeps its store in ``data/<id>`` (it can be stopped and added again).
    """
    loop = asyncio.get_running_loop()
    scheduler = LoopScheduler(loop)
    base = 20_000 + Random(seed).randrange(20_000)
    addresses = {f"127.0.0.1:{base + i}": node_id for i, node_id in enumerate(ids)}
    chaos = ChaosTransport(MemoryTransport(), plan, Random(seed), scheduler, node_of=lambda a: addresses.get(a, a))
    grid = LocalGrid(chaos, scheduler)
    for address, node_id in addresses.items():
        port = int(address.rsplit(":", 1)[1])
        config = NodeConfig(id=node_id, name=f"N{node_id}", port=port, gossip=GOSSIP, flush_window_s=0.0,
                            data_dir=data / node_id if data else None, features={"chat": {**CHAT, **chat}})  # fmt: skip
        await grid.add(config)
    for a, b in zip(ids, ids[1:]):
        grid.link(a, b)

    async def everyone_sees_everyone() -> bool:
        states = [await grid.query(node_id) for node_id in ids]
        return all(state["nodes_live"] == len(ids) for state in states)

    await wait_for(everyone_sees_everyone, timeout=20)
    return grid, chaos


async def operator(grid: LocalGrid, node_id: str, message: Any) -> Any:
    """An operator's message to a node (no HTTP); returns the node's answer (an Outcome)."""
    reply = LoopReply(asyncio.get_running_loop())
    grid.services[node_id].actor.tell(Inbound(tell(message), reply))
    return await asyncio.wait_for(reply.future, 5)


async def read(grid: LocalGrid, node_id: str, what: str = "chat.list", **params: Any) -> Any:
    """A chat query straight from the actor."""
    reply = LoopReply(asyncio.get_running_loop())
    grid.services[node_id].actor.tell(Query(what, reply, params))
    return await asyncio.wait_for(reply.future, 5)


async def messages(grid: LocalGrid, node_id: str, peer: str) -> list[dict[str, Any]]:
    """The chats node ``node_id`` holds with ``peer``."""
    return (await read(grid, node_id, "chat.show", peer=peer))["messages"]
