"""The in-process driver: every node of the scenario in this process (``grid.network.LocalGrid``).

Nodes share one event loop, scheduler and transport: the in-memory transport
by default (thousands of nodes, no sockets), or HTTP on loopback ports with
``http=True`` (each node a real endpoint; timeline messages then go through
HTTP too, as curl would send them). With ``listen=True`` nodes talk in memory
but each still serves its endpoints on a loopback port, so a browser can open
a node's dashboard while gossip stays fast. When the timeline has network faults,
the transport is wrapped in a seeded ChaosTransport (:mod:`.faults`).

Samples and dispatch probes ask the node actors directly (the same reports
``/state`` and ``/dispatches/{id}`` serve), which costs no sockets.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from pathlib import Path
from typing import Any

from protocol import codec
from protocol.errors import GridError
from protocol.faults import FaultPlan

from ..demo import pick_port
from ..network import LocalGrid
from ..node import Inbound, NodeConfig, Observer, Query
from ..runtime import LoopReply, LoopScheduler
from ..security import Secret
from ..transport.chaos import ChaosTransport
from ..transport.http import HttpTransport
from ..transport.memory import MemoryTransport
from .client import NodeClient
from .plan import PlannedNode

log = logging.getLogger("grid.scenario")

#: Seconds a sample or probe waits for one actor.
QUERY_TIMEOUT_S = 5.0
#: First fake port of the in-memory transport's addresses (nothing listens there).
MEMORY_PORT_BASE = 20_000


class InProcessDriver:
    """Runs the nodes as :class:`~grid.service.NodeService` objects on this loop."""

    def __init__(self, workdir: Path, *, http: bool = False, chaos: bool = False, seed: int = 0,
                 observers: list[Observer] | None = None, listen: bool = False) -> None:  # fmt: skip
        self.workdir = workdir
        #: Serve each node's endpoint on a loopback port even in memory (for its dashboard).
        self.listen = listen or http
        #: Called in every node's actor on every change (benchmarks time convergence with them).
        self.observers = list(observers or [])
        self.http = http
        self.mode = "in-process, HTTP on loopback" if http else "in-process, in-memory transport"
        if listen and not http:
            self.mode += ", endpoints on loopback"
        self.use_chaos = chaos
        self.seed = seed
        self.chaos: ChaosTransport | None = None
        self.grid: LocalGrid | None = None
        self.client = NodeClient()
        self.nodes: dict[str, PlannedNode] = {}
        self.addresses: dict[str, str] = {}
        self.clock: dict[str, Any] = {}

    async def open(self, nodes: list[PlannedNode], clock: dict[str, Any]) -> None:
        loop = asyncio.get_running_loop()
        scheduler = LoopScheduler(loop)
        inner: Any = HttpTransport(loop) if self.http else MemoryTransport()
        transport = inner
        if self.use_chaos:
            ids = {}
            for node in nodes:
                ids[self._address(node)] = node.id
            self.chaos = ChaosTransport(inner, FaultPlan(), random.Random(self.seed), scheduler,
                                        node_of=lambda address: ids.get(address, address))  # fmt: skip
            transport = self.chaos
        self.grid = LocalGrid(transport, scheduler, observers=self.observers, listen=self.listen)
        self.nodes = {n.name: n for n in nodes}
        self.clock = clock
        for node in nodes:
            self._address(node)

    def _address(self, node: PlannedNode) -> str:
        """The node's address, fixed at its first start (a restart comes back on it)."""
        if node.name not in self.addresses:
            if self.listen:
                port = pick_port(node.port or 0)
            else:
                port = node.port or MEMORY_PORT_BASE + node.index
            self.addresses[node.name] = f"127.0.0.1:{port}"
        return self.addresses[node.name]

    def config(self, node: PlannedNode) -> NodeConfig:
        """The node's configuration, as ``grid node`` would build it from flags and a TOML file."""
        port = int(self._address(node).rsplit(":", 1)[1])
        data_dir = self.workdir / "data" / node.name if node.persist else None
        if data_dir is not None:
            data_dir.mkdir(parents=True, exist_ok=True)
        return NodeConfig(
            id=node.id, name=node.name, port=port, token=Secret(node.token) if node.token else None,
            data_dir=data_dir, kind=node.kind, gossip=node.gossip, flush_window_s=node.flush_window_s,
            features=node.feature_tables(self.clock),
        )  # fmt: skip

    async def launch(self, nodes: list[PlannedNode]) -> dict[str, str]:
        assert self.grid is not None
        failed: dict[str, str] = {}
        for node in nodes:
            try:
                await self.grid.add(self.config(node))
            except (OSError, ValueError) as exc:
                failed[node.name] = str(exc)
        return failed

    async def halt(self, name: str, graceful: bool) -> None:
        assert self.grid is not None
        node_id = self.nodes[name].id
        if node_id in self.grid.services:
            await self.grid.stop(node_id, graceful=graceful)

    async def send(self, name: str, msg_type: str, msg: dict[str, Any], token: str | None) -> tuple[int, Any]:
        if self.http:
            return await self.client.send(self.addresses[name], msg_type, msg, token)
        assert self.grid is not None
        service = self.grid.services.get(self.nodes[name].id)
        if service is None:
            return 0, {"error": "unreachable", "detail": f"{name} is not running"}
        body = json.dumps({"envType": "Tell", "msgType": msg_type, "msg": msg}).encode()
        try:
            envelope = codec.decode(body, codec.JSON)
            outcome = await service.handle.call(lambda reply: Inbound(envelope, reply))
        except GridError as exc:
            return exc.status, exc.to_json()
        return outcome.status, outcome.body

    async def _query(self, name: str, what: str, params: dict[str, Any] | None = None) -> Any:
        assert self.grid is not None
        service = self.grid.services.get(self.nodes[name].id)
        if service is None or service.actor is None:
            return None
        reply = LoopReply(asyncio.get_running_loop())
        try:
            service.actor.tell(Query(what, reply, params or {}))
            answer = await asyncio.wait_for(reply.future, QUERY_TIMEOUT_S)
        except Exception:  # a stopped actor or a timeout: no answer this round
            return None
        return None if isinstance(answer, GridError) else answer

    async def states(self, names: list[str]) -> dict[str, dict[str, Any] | None]:
        answers = await asyncio.gather(*(self._query(name, "state") for name in names))
        return dict(zip(names, answers, strict=True))

    async def dispatch(self, name: str, dispatch_id: str) -> dict[str, Any] | None:
        return await self._query(name, "dispatch.show", {"dispatch_id": dispatch_id})

    def fact(self, name: str, fact: str) -> Any:
        node = self.nodes[name]
        address = self.addresses[name]
        return {"address": address, "port": int(address.rsplit(":", 1)[1]), "id": node.id, "name": node.name,
                "token": node.token or ""}[fact]  # fmt: skip

    def url(self, name: str) -> str | None:
        return f"http://{self.addresses[name]}/" if self.listen else None

    async def close(self) -> None:
        """Stop every node, then the transport; one slow node does not keep the others running."""
        if self.grid is not None:
            for node_id in list(self.grid.services):
                try:
                    await self.grid.stop(node_id, graceful=False)
                except Exception as exc:  # pykka.Timeout under load: the actor stops when it reaches the stop
                    log.warning("node %s did not stop in time: %r", node_id, exc)
            base = self.grid.base_transport
            if isinstance(base, HttpTransport):
                await base.close()
        await self.client.close()
