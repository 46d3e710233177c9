"""Grid key rotation: KeyRotation by role, persisted across restarts, and under
continuous traffic not one valid peer message is refused."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
import pytest

from grid.service import NodeService
from grid.transport.memory import MemoryTransport
from protocol.envelopes import tell
from protocol.gossip import GossipConfig
from protocol.keyrotation import KeyRotation

from .inproc import K1, K2, node_config, operator, post, query, signed, start_node, stop_node, wait_for
from .test_peer_auth import link, update

OPERATORS = ("manager:ops:tm-ops", "owner:meter:to-meter", "viewer:screen:tv-screen")


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def rotation(action: str, key: tuple[str, str], token: str | None) -> tuple[bytes, dict[str, str]]:
    msg: dict[str, Any] = {"action": action, "keyId": key[0]}
    if action == "install":
        msg["secret"] = key[1]
    return operator("KeyRotation", msg, token)


async def rotate(session: aiohttp.ClientSession, node: NodeService, action: str, key: tuple[str, str],
                 token: str | None = "tm-ops") -> tuple[int, Any]:  # fmt: skip
    status, answer, _ = await post(session, node.config.address, *rotation(action, key, token))
    return status, answer


async def test_rotation_needs_a_manager_and_checks_its_input(session, tmp_path: Path) -> None:
    node = await start_node(node_config("A", "1", keys=(K1,), token="t1", operators=OPERATORS), MemoryTransport())
    try:
        assert (await rotate(session, node, "install", K2, "to-meter"))[0] == 403
        assert (await rotate(session, node, "install", K2, "tv-screen"))[0] == 403
        assert (await rotate(session, node, "install", K2, None))[0] == 401
        assert (await query(node))["security"]["keys"] == ["k1"]
        status, answer = await rotate(session, node, "remove", K1)
        assert (status, answer["error"]) == (409, "active_key")
        assert (await rotate(session, node, "use", ("k7", "")))[1]["error"] == "unknown_key"
        assert (await rotate(session, node, "install", ("k1", "another-secret-for-k1")))[1]["error"] == "key_conflict"
        assert (await rotate(session, node, "install", ("k3", "short")))[0] == 400
        status, answer = await rotate(session, node, "install", K2, "t1")  # the -t token is admin
        assert status == 200 and answer == {"status": "ok", "keys": ["k1", "k2"], "active": "k1"}
        assert K2[1] not in str(answer)
        # A peer holding the grid key may not rotate anybody's keys: KeyRotation is not a
        # peer message, so even a signed Tell naming a peer is an operator's and needs a token.
        body, headers = signed(tell(KeyRotation(action="use", key_id="k2"), return_id="2"))
        status, answer, _ = await post(session, node.config.address, body, headers)
        assert (status, answer["error"]) == (401, "missing_token")
        assert (await query(node))["security"]["active"] == "k1"
    finally:
        await stop_node(node)


async def test_rotation_survives_restart_and_removed_key_stays_removed(session, tmp_path: Path) -> None:
    config = node_config("A", "1", keys=(K1,), token="t1", data_dir=tmp_path / "A")
    node = await start_node(config, MemoryTransport())
    try:
        for action, key in (("install", K2), ("use", K2), ("remove", K1)):
            assert (await rotate(session, node, action, key, "t1"))[0] == 200
    finally:
        await stop_node(node)
    # Same command line (still saying --grid-key k1:...), same data directory.
    node = await start_node(node_config("A", "1", keys=(K1,), token="t1", data_dir=tmp_path / "A",
                                        port=config.port), MemoryTransport())  # fmt: skip
    try:
        security = (await query(node))["security"]
        assert (security["keys"], security["active"], security["dev_mode"]) == (["k2"], "k2", False)
        status, answer, _ = await post(session, node.config.address, *signed(update("95"), K1))
        assert (status, answer["error"]) == (401, "unknown_key")
        assert (await post(session, node.config.address, *signed(update("95"), K2)))[0] == 202
    finally:
        await stop_node(node)


async def test_installing_the_first_key_ends_development_mode(session) -> None:
    node = await start_node(node_config("A", "1", token="t1"), MemoryTransport())
    try:
        assert (await query(node))["dev_mode"] is True
        assert (await post(session, node.config.address, *signed(update("94"), K2)))[0] == 202  # open: anything
        assert (await rotate(session, node, "install", K1, "t1"))[0] == 200
        state = await query(node)
        assert state["dev_mode"] is False and state["security"]["active"] == "k1"
        status, answer, _ = await post(session, node.config.address, *signed(update("93"), K2))
        assert (status, answer["error"]) == (401, "unknown_key")
    finally:
        await stop_node(node)


LIVELY = GossipConfig(heartbeat_s=0.1, ttl_s=2.0, sync_interval_s=0.3)


async def test_rotation_under_continuous_traffic_refuses_no_valid_message(session) -> None:
    """Three linked nodes over HTTP, readings flowing all the time, keys rotated k1 -> k2."""
    nodes = [await start_node(node_config(n, i, keys=(K1,), token="t", gossip=LIVELY)) for n, i in
             (("A", "1"), ("B", "2"), ("C", "3"))]  # fmt: skip
    a, b, c = nodes
    stop = asyncio.Event()
    sent: list[int] = []

    async def traffic() -> None:
        reading = 0
        while not stop.is_set():
            reading += 1
            body, headers = operator("UpdateEnergy", {"production": reading, "consumption": 0}, "t")
            assert (await post(session, a.config.address, body, headers))[0] == 202
            sent.append(reading)
            await asyncio.sleep(0.01)

    try:
        await link(session, a, b, "t")
        await link(session, b, c, "t")
        pump = asyncio.create_task(traffic())
        for action, key in (("install", K2), ("use", K2), ("remove", K1)):
            for node in nodes:
                assert (await rotate(session, node, action, key, "t"))[0] == 200
                await asyncio.sleep(0.05)  # let traffic flow between every step
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.3)
        stop.set()
        await pump
        last = sent[-1] * 1000
        await wait_for(lambda: _agree(nodes, last), timeout=10)
        accepted = 0
        for node in nodes:
            security = (await query(node))["security"]
            assert security["rejected"] == {}, node.config.name
            accepted += security["accepted"]
            assert security["accepted"] > 0 and (security["keys"], security["active"]) == (["k2"], "k2")
        print(f"rotation under traffic: {len(sent)} readings, {accepted} signed peer messages accepted, 0 refused")
        status, answer, _ = await post(session, c.config.address, *signed(update("92"), K1))
        assert (status, answer["error"]) == (401, "unknown_key")
    finally:
        stop.set()
        for node in nodes:
            await stop_node(node)


async def _agree(nodes: list[NodeService], gridnet_w: int) -> bool:
    states = [await query(node) for node in nodes]
    return all(s["gridnet_w"] == gridnet_w and s["nodes_live"] == 3 for s in states)
