"""Nodes inside the test process, on real loopback ports: fast security and flow tests.

Each node is a :class:`grid.service.NodeService` on the test's event loop,
with a real aiohttp site, so requests go through the whole HTTP stack.
Gossip timers are slowed to a crawl by default, so a node's state changes
only when a test makes it change.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import aiohttp

from grid.node import NodeConfig, Query
from grid.runtime import LoopReply, LoopScheduler
from grid.security import with_flags
from grid.service import NodeService
from grid.transport.base import Transport
from grid.transport.http import HttpTransport
from grid.transport.memory import MemoryTransport
from protocol import codec
from protocol.envelopes import Envelope
from protocol.gossip import GossipConfig
from protocol.keyring import Keyring, nonce_from_bytes, sign

from ..integration.procs import HOST, free_port

K1 = ("k1", "k1-secret-0123456789abcdef")
K2 = ("k2", "k2-secret-fedcba9876543210")
SLOW = GossipConfig(heartbeat_s=1000.0, ttl_s=3000.0, sync_interval_s=1000.0)


def node_config(name: str, node_id: str, *, keys: tuple[tuple[str, str], ...] = (), token: str | None = None,
                operators: tuple[str, ...] = (), data_dir: Path | None = None, gossip: GossipConfig = SLOW,
                max_inflight: int | None = None, body_timeout_s: float | None = None,
                port: int | None = None) -> NodeConfig:  # fmt: skip
    """A node's config with security settings given as the CLI flags would give them."""
    features = with_flags({}, [f"{k}:{s}" for k, s in keys], list(operators), max_inflight)
    if body_timeout_s is not None:
        features["security"] = {**features["security"], "body_timeout_s": body_timeout_s}
    return NodeConfig(id=node_id, name=name, host=HOST, port=port or free_port(), token=token, data_dir=data_dir,
                      gossip=gossip, features=features, flush_window_s=0.0)  # fmt: skip


async def start_node(config: NodeConfig, transport: Transport | None = None, serve_http: bool = True) -> NodeService:
    """Start one node; HTTP transport (signing with the node's key) unless one is given."""
    loop = asyncio.get_running_loop()
    if transport is None:
        transport = HttpTransport(loop, timeout_s=2.0)
    service = NodeService(config, transport, LoopScheduler(loop))
    if isinstance(transport, HttpTransport):
        transport.signer, transport.answer_check = service.peers.sign, service.peers.check_answer
    await service.start(serve_http=serve_http)
    if isinstance(transport, MemoryTransport):
        transport.register(config.address, service.actor)
    return service


async def stop_node(service: NodeService) -> None:
    """Stop a node and close its HTTP transport."""
    transport = service.transport
    await service.stop(graceful=False)
    if isinstance(transport, HttpTransport):
        await transport.close(grace_s=0.2)


async def query(service: NodeService, what: str = "state") -> Any:
    """A report straight from the actor (no HTTP)."""
    reply = LoopReply(asyncio.get_running_loop())
    service.actor.tell(Query(what, reply))
    return await asyncio.wait_for(reply.future, 5.0)


async def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Await ``predicate()`` (sync or async) until truthy; fail after ``timeout``."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        last = predicate()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s (last: {last!r})")


def signed(envelope: Envelope, key: tuple[str, str] = K1, *, timestamp_ms: int | None = None,
           method: str = "POST", path: str = "/messaging") -> tuple[bytes, dict[str, str]]:  # fmt: skip
    """A peer request as a node would send it: msgpack body and X-Grid-* headers."""
    body = codec.encode(envelope)
    keyring = Keyring.with_key(key[0], key[1].encode())
    stamp = timestamp_ms if timestamp_ms is not None else _wall_ms()
    headers = sign(keyring, method, path, body, stamp, nonce_from_bytes(os.urandom(16)))
    return body, {"Content-Type": codec.MSGPACK, **headers}


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


async def post(session: aiohttp.ClientSession, address: str, body: bytes, headers: dict[str, str],
               method: str = "POST") -> tuple[int, Any, dict[str, str]]:  # fmt: skip
    """One request to /messaging: (status, JSON answer or raw bytes, headers)."""
    async with session.request(method, f"http://{address}/messaging", data=body, headers=headers) as resp:
        raw = await resp.read()
        try:
            answer: Any = json.loads(raw)
        except ValueError:
            answer = raw
        return resp.status, answer, dict(resp.headers)


def operator(msg_type: str, msg: dict[str, Any], token: str | None = None) -> tuple[bytes, dict[str, str]]:
    """An operator's JSON Tell, as curl sends it."""
    body = json.dumps({"envType": "Tell", "msgType": msg_type, "msg": msg}).encode()
    headers = {"Content-Type": codec.JSON, **({"Authorization": token} if token else {})}
    return body, headers
