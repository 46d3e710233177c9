"""Start and stop nodes inside a running asyncio loop.

A :class:`NodeService` is one node: its actor, and optionally its HTTP site.
Many services can share one loop, one scheduler and one transport (scenarios,
benchmarks); ``python -m grid.app`` runs exactly one.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from .events import EventHub
from .features import build_features, feature_routes
from .http import NodeHandle, make_app
from .http.auth import OperatorAuth
from .node import Leave, LoopNodeActor, NodeConfig, Observer
from .runtime import LoopReply, Scheduler
from .security import InflightGate, security_of
from .transport.base import Transport

log = logging.getLogger("grid.service")


class NodeService:
    """One node's actor and HTTP endpoint, started and stopped together."""

    def __init__(
        self,
        config: NodeConfig,
        transport: Transport,
        scheduler: Scheduler,
        observers: list[Observer] | None = None,
    ) -> None:
        self.config = config
        self.transport = transport
        self.scheduler = scheduler
        self.observers = observers or []
        self.actor: Any = None
        self.events = EventHub()
        # Built before the actor: the keyring must check the very first request.
        self.features = build_features(config)
        security = security_of(self.features, config)
        #: The grid key (sign, verify); hand ``peers.sign`` to an HTTP transport.
        self.peers = security.peers
        self.gate = InflightGate(security.settings.max_inflight, security.settings.body_timeout_s)
        tokens = security.settings.token_store(config.token)
        self.auth = OperatorAuth(tokens, private_reads=config.private_reads, limiter=self.peers.limiter)
        self._runner: web.AppRunner | None = None

    @property
    def handle(self) -> NodeHandle:
        """What HTTP handlers (and tests) use to talk to the actor."""
        return NodeHandle(self.actor, self.auth, self.config.id, self.events, peers=self.peers, gate=self.gate)

    def start_actor(self) -> None:
        """Start the node actor (no HTTP)."""
        self.actor = LoopNodeActor.start(
            self.config, self.transport, self.scheduler, self.observers,
            dev_mode=self.peers.is_open, features=self.features, events=self.events,
        )  # fmt: skip

    async def start(self, serve_http: bool = True) -> None:
        """Start the actor and, unless told not to, listen on the node's port."""
        self.start_actor()
        if not serve_http:
            return
        app = make_app(self.handle, feature_routes())
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port, reuse_address=True)
        try:
            await site.start()
        except OSError:
            await self.stop(graceful=False)
            raise

    async def stop(self, graceful: bool = True, timeout: float = 2.0) -> None:
        """Publish the ``left`` tombstone (when graceful), then stop everything."""
        if self.actor is None:
            return
        if graceful and self.actor.is_alive():
            reply = LoopReply(asyncio.get_running_loop())
            self.actor.tell(Leave(reply))
            try:
                await asyncio.wait_for(reply.future, timeout)
            except asyncio.TimeoutError:
                log.warning("%s did not leave in time", self.config.name)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await asyncio.to_thread(self.actor.stop, block=True, timeout=timeout)
        self.actor = None
