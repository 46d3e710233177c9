"""Many nodes in one process: benchmarks, scenarios and tests build grids with this.

All nodes share one event loop, one scheduler and one transport: the
in-memory one (no sockets, thousands of nodes) or HTTP on loopback ports
(each node a real endpoint, as separate processes would be).
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from protocol.envelopes import tell
from protocol.gossip import GossipCore
from protocol.messages import AddSibling, UpdateEnergy

from .node import Inbound, NodeConfig, Observer, Query
from .runtime import LoopReply, LoopScheduler, Scheduler
from .service import NodeService
from .transport.base import Transport
from .transport.http import HttpTransport
from .transport.memory import MemoryTransport


class Watch:
    """An observer that fires when every watched node satisfies a predicate.

    Runs in the actors (on any thread), so it only reads the core it is handed and guards
    its own set with a lock. Used to time convergence without polling.
    """

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self._predicate: Callable[[GossipCore], bool] | None = None
        self._done: set[str] = set()
        self._lock = threading.Lock()
        self.event = threading.Event()

    def arm(self, predicate: Callable[[GossipCore], bool], already: set[str] | None = None) -> None:
        """Start waiting until ``predicate(core)`` holds at every node."""
        with self._lock:
            self._predicate = predicate
            self._done = set(already or ())
            self.event.clear()

    def __call__(self, core: GossipCore, changed: list[str]) -> None:
        predicate = self._predicate
        if predicate is None or core.origin in self._done or not predicate(core):
            return
        with self._lock:
            self._done.add(core.origin)
            if len(self._done) >= self.expected:
                self.event.set()

    async def wait(self, timeout: float) -> bool:
        """Whether every node got there within ``timeout`` seconds."""
        return await asyncio.to_thread(self.event.wait, timeout)


@dataclass
class LocalGrid:
    """A set of nodes running in this process."""

    transport: Transport
    scheduler: Scheduler
    services: dict[str, NodeService] = field(default_factory=dict)
    observers: list[Observer] = field(default_factory=list)
    #: Serve every node's HTTP endpoint (its port must be free) even when nodes talk in memory.
    listen: bool = False

    @classmethod
    def in_memory(cls, observers: list[Observer] | None = None) -> "LocalGrid":
        """Nodes reach each other through their mailboxes (no sockets)."""
        loop = asyncio.get_running_loop()
        return cls(MemoryTransport(), LoopScheduler(loop), observers=list(observers or []))

    @classmethod
    def over_http(cls, observers: list[Observer] | None = None) -> "LocalGrid":
        """Nodes each listen on a loopback port and talk HTTP."""
        loop = asyncio.get_running_loop()
        return cls(HttpTransport(loop), LoopScheduler(loop), observers=list(observers or []))

    @property
    def base_transport(self) -> Transport:
        """The transport under any wrapper (a ChaosTransport keeps the real one as ``inner``)."""
        transport = self.transport
        while hasattr(transport, "inner"):
            transport = transport.inner
        return transport

    @property
    def serve_http(self) -> bool:
        return self.listen or isinstance(self.base_transport, HttpTransport)

    async def add(self, config: NodeConfig) -> NodeService:
        """Start one node."""
        service = NodeService(config, self.transport, self.scheduler, self.observers)
        await service.start(serve_http=self.serve_http)
        if isinstance(self.base_transport, MemoryTransport):
            self.base_transport.register(config.address, service.actor)
        self.services[config.id] = service
        return service

    def tell(self, node_id: str, message: Any) -> None:
        """Deliver an operator message to a node, as curl would (without HTTP)."""
        self.services[node_id].actor.tell(Inbound(tell(message)))

    def link(self, a: str, b: str) -> None:
        """Ask node ``a`` to link with ``b`` (the AddSibling handshake follows)."""
        other = self.services[b].config
        self.tell(a, AddSibling(sibling_name=other.name, sibling_address=other.address, sibling_id=other.id))

    def set_energy(self, node_id: str, production_kw: float, consumption_kw: float) -> None:
        """An operator's UpdateEnergy to one node."""
        self.tell(node_id, UpdateEnergy(production=production_kw, consumption=consumption_kw))

    async def query(self, node_id: str, what: str = "state") -> Any:
        """A node's report (``state``, ``grid``, ...)."""
        reply = LoopReply(asyncio.get_running_loop())
        self.services[node_id].actor.tell(Query(what, reply))
        return await reply.future

    async def stop(self, node_id: str, graceful: bool = True) -> None:
        """Stop one node."""
        service = self.services.pop(node_id)
        if isinstance(self.base_transport, MemoryTransport):
            self.base_transport.unregister(service.config.address)
        await service.stop(graceful=graceful)

    async def close(self) -> None:
        """Stop every node and the transport."""
        for node_id in list(self.services):
            await self.stop(node_id, graceful=False)
        if isinstance(self.base_transport, HttpTransport):
            await self.base_transport.close()
