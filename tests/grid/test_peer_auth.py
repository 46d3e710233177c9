"""The grid key at a node's door: forged, tampered, replayed and out-of-window peer
messages get 401 and change nothing; nodes without the right key cannot link."""

from __future__ import annotations

import time
from typing import Any, AsyncIterator

import aiohttp
import pytest

from grid.service import NodeService
from grid.transport.memory import MemoryTransport
from protocol.entry import Entry
from protocol.envelopes import Envelope, tell
from protocol.messages import RemoveSibling, UpdateNet

from .inproc import K1, K2, node_config, operator, post, query, signed, start_node, stop_node, wait_for

WINDOW_MS = 30_000


def update(origin: str, production_w: int = 5000) -> Envelope:
    """An UpdateNet from peer 2 carrying a new node's entry."""
    entry = Entry(origin=origin, incarnation=1, version=1, name=f"N{origin}", address="127.0.0.1:9",
                  production_w=production_w)  # fmt: skip
    return tell(UpdateNet(entries=(entry,), ages_ms=(0,)), return_id="2")


async def snapshot(node: NodeService) -> tuple[Any, ...]:
    """Everything a peer message could change: the view and the links."""
    grid = await query(node, "grid")
    state = await query(node, "state")
    rows = tuple((r["id"], r["incarnation"], r["version"], r["production"], r["consumption"]) for r in grid["nodes"])
    return rows, tuple(s["id"] for s in state["siblings"]), state["gridnet_w"]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def keyed() -> AsyncIterator[NodeService]:
    """A node with grid key k1 whose state changes only through requests."""
    node = await start_node(node_config("A", "1", keys=(K1,), token="t1"), MemoryTransport())
    yield node
    await stop_node(node)


def tampered(body: bytes) -> bytes:
    """The same message with 5 kW turned into 9 kW (same length, so only the MAC can tell)."""
    other, _ = signed(update("98", production_w=9000))
    assert len(other) == len(body) and other != body
    return other


BAD_REQUESTS = {
    # name: (how the request is spoiled, expected 401 code)
    "unsigned": (lambda body, headers: (body, {"Content-Type": headers["Content-Type"]}), "missing_signature"),
    "wrong secret": (lambda body, headers: signed(update("98"), ("k1", "not-the-grid-secret-000")), "bad_signature"),
    "unknown key": (lambda body, headers: signed(update("98"), ("k9", "some-other-secret-0000")), "unknown_key"),
    "tampered body": (lambda body, headers: (tampered(body), headers), "bad_signature"),
    "too old": (lambda body, headers: signed(update("98"), timestamp_ms=_now() - WINDOW_MS - 5_000), "too_old"),
    "too new": (lambda body, headers: signed(update("98"), timestamp_ms=_now() + WINDOW_MS + 5_000), "too_new"),
    "signed for another path": (lambda body, headers: signed(update("98"), path="/other"), "bad_signature"),
    "malformed signature": (
        lambda body, headers: (body, {**headers, "X-Grid-Signature": "zz" * 32}), "malformed"),
}


def _now() -> int:
    return time.time_ns() // 1_000_000


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
async def test_bad_peer_message_is_401_and_changes_nothing(keyed: NodeService, session, case: str) -> None:
    spoil, code = BAD_REQUESTS[case]
    body, headers = signed(update("98"))
    before = await snapshot(keyed)
    bad_body, bad_headers = spoil(body, headers)
    status, answer, _ = await post(session, keyed.config.address, bad_body, bad_headers)
    assert (status, answer["error"]) == (401, code)
    assert await snapshot(keyed) == before
    # The untouched original still passes: the request was refused for what was spoiled.
    status, _, _ = await post(session, keyed.config.address, body, headers)
    assert status == 202
    assert "98" in {row[0] for row in (await snapshot(keyed))[0]}
    security = (await query(keyed))["security"]
    assert security["rejected"] == {code: 1} and security["accepted"] == 1


async def test_replayed_message_is_refused(keyed: NodeService, session) -> None:
    body, headers = signed(update("97"))
    assert (await post(session, keyed.config.address, body, headers))[0] == 202
    before = await snapshot(keyed)
    status, answer, _ = await post(session, keyed.config.address, body, headers)
    assert (status, answer["error"]) == (401, "replayed")
    assert await snapshot(keyed) == before


async def test_operator_door_is_not_a_way_around_the_key(keyed: NodeService, session) -> None:
    # An UpdateNet without returnId is an operator message: it needs the admin token.
    envelope = tell(update("96").message)
    body, headers = signed(envelope)
    before = await snapshot(keyed)
    status, answer, _ = await post(session, keyed.config.address, body, headers)
    assert (status, answer["error"]) == (401, "missing_token")
    assert await snapshot(keyed) == before


async def test_replayed_unlink_cannot_cut_a_relinked_sibling(session) -> None:
    a = await start_node(node_config("A", "1", keys=(K1,), token="t1"))
    b = await start_node(node_config("B", "2", keys=(K1,), token="t2"))
    try:
        await link(session, a, b, "t1")
        unlink = tell(RemoveSibling(sibling_id="2"), return_id="2")  # B unlinking itself names itself
        body, headers = signed(unlink)  # what B would send: captured on the wire
        assert (await post(session, a.config.address, body, headers))[0] == 202
        assert await siblings(a) == []
        await link(session, a, b, "t1")
        before = await snapshot(a)
        status, answer, _ = await post(session, a.config.address, body, headers)  # the replay
        assert (status, answer["error"]) == (401, "replayed")
        assert await siblings(a) == ["2"] and (await snapshot(a))[1] == before[1]
    finally:
        await stop_node(a)
        await stop_node(b)


@pytest.mark.parametrize("outsider_keys", [(), (("k1", "a-wrong-secret-for-k1"),), (K2,)],
                         ids=["no key", "wrong secret", "other key"])  # fmt: skip
async def test_node_without_the_grid_key_cannot_link_either_way(session, outsider_keys) -> None:
    a = await start_node(node_config("A", "1", keys=(K1,), token="t1"))
    w = await start_node(node_config("W", "9", keys=outsider_keys, token="t9"))
    try:
        before = await snapshot(a)
        for src, dst, token in ((w, a, "t9"), (a, w, "t1")):
            body, headers = operator("AddSibling", adding(dst), token)
            assert (await post(session, src.config.address, body, headers))[0] == 202
            assert await wait_for(lambda: link_outcome(src, dst)) == "failed"
        assert await siblings(a) == []
        assert await snapshot(a) == before
        assert set((await query(a))["security"]["rejected"]) <= {"missing_signature", "bad_signature", "unknown_key"}
    finally:
        await stop_node(a)
        await stop_node(w)


# ---------------------------------------------------------------- helpers
async def link_outcome(src: NodeService, dst: NodeService) -> str | None:
    """``failed`` or ``linked`` once ``src``'s attempt to link ``dst`` is over, else None."""
    status = (await query(src))["links"].get(dst.config.address, {}).get("status")
    return status if status in ("failed", "linked") else None


def adding(node: NodeService) -> dict[str, str]:
    return {"siblingName": node.config.name, "siblingAddress": node.config.address, "siblingId": node.config.id}


async def siblings(node: NodeService) -> list[str]:
    return [s["id"] for s in (await query(node))["siblings"]]


async def link(session: aiohttp.ClientSession, a: NodeService, b: NodeService, token: str) -> None:
    body, headers = operator("AddSibling", adding(b), token)
    assert (await post(session, a.config.address, body, headers))[0] in (200, 202)
    await wait_for(lambda: _has(a, b.config.id))


async def _has(node: NodeService, sibling: str) -> bool:
    return sibling in await siblings(node)
