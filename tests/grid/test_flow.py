"""Flow limits: bounded work in flight, 503 + Retry-After past it, and bodies
that never finish time out while the node keeps serving everyone else."""

from __future__ import annotations

import asyncio
from typing import AsyncIterator

import aiohttp
import pytest

from grid.service import NodeService
from grid.transport.memory import MemoryTransport

from .inproc import node_config, operator, post, query, start_node, stop_node, wait_for

BODY_TIMEOUT_S = 0.5
ENERGY = ("UpdateEnergy", {"production": 2, "consumption": 1})


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=400)) as client:
        yield client


async def start(max_inflight: int) -> NodeService:
    config = node_config("A", "1", max_inflight=max_inflight, body_timeout_s=BODY_TIMEOUT_S)
    return await start_node(config, MemoryTransport())


async def stalled_request(node: NodeService) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Headers promising 100 bytes of body, then only 7 of them, then silence."""
    reader, writer = await asyncio.open_connection(node.config.host, node.config.port)
    writer.write(b"POST /messaging HTTP/1.1\r\nHost: grid\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100\r\n\r\n{\"envTy")  # fmt: skip
    await writer.drain()
    return reader, writer


async def answer_of(reader: asyncio.StreamReader) -> bytes:
    """The status line and body the node finally sent on a stalled connection."""
    return await asyncio.wait_for(reader.read(4096), timeout=BODY_TIMEOUT_S * 20)


async def test_never_finished_body_times_out_while_others_are_served(session) -> None:
    node = await start(max_inflight=8)
    try:
        reader, writer = await stalled_request(node)
        for reading in range(5):  # the stalled request blocks nobody
            body, headers = operator("UpdateEnergy", {"production": reading, "consumption": 0})
            assert (await post(session, node.config.address, body, headers))[0] == 202
        answer = await answer_of(reader)
        assert answer.startswith(b"HTTP/1.1 400") and b'"body_timeout"' in answer
        writer.close()
        assert (await query(node))["production"] == 4
    finally:
        await stop_node(node)


async def test_past_the_limit_requests_are_shed_with_503_and_retry_after(session) -> None:
    node = await start(max_inflight=2)
    try:
        stalled = [await stalled_request(node) for _ in range(2)]
        await wait_for(lambda: node.gate.inflight == 2)  # both inside the handler, holding a slot each
        status, answer, headers = await post(session, node.config.address, *operator(*ENERGY))
        assert (status, answer["error"]) == (503, "overloaded") and int(headers["Retry-After"]) >= 1
        async with session.get(f"http://{node.config.address}/healthz") as resp:
            assert resp.status == 200  # liveness does not queue behind /messaging
        assert (await query(node))["production"] == 0  # the shed request changed nothing
        for reader, writer in stalled:
            assert (await answer_of(reader)).startswith(b"HTTP/1.1 400")
            writer.close()
        assert (await post(session, node.config.address, *operator(*ENERGY)))[0] == 202
        assert node.gate.shed == 1 and node.gate.inflight == 0
    finally:
        await stop_node(node)


async def test_a_flood_never_holds_more_than_the_limit(session) -> None:
    node = await start(max_inflight=8)
    try:
        body, headers = operator(*ENERGY)
        results = await asyncio.gather(*(post(session, node.config.address, body, headers) for _ in range(300)))
        statuses = {status for status, _, _ in results}
        assert statuses <= {202, 503} and 202 in statuses
        assert all("Retry-After" in h for status, _, h in results if status == 503)
        assert node.gate.peak <= 8 and node.gate.inflight == 0
        assert (await post(session, node.config.address, body, headers))[0] == 202
    finally:
        await stop_node(node)
