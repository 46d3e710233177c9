"""The chat endpoints over real HTTP in-process: roles, /whoami, bad input as 4xx JSON, the CLI.

Two nodes on loopback ports, linked: 1 (grid operator) --- 2 (household).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from typer.testing import CliRunner

from grid.cli import app
from grid.node import Inbound
from grid.service import NodeService
from protocol.envelopes import tell
from protocol.messages import AddSibling

from .chat_support import GOSSIP
from .inproc import node_config, operator, post, start_node, stop_node, wait_for

ADMIN, MANAGER, OWNER, VIEWER = "t-admin", "t-manager", "t-owner", "t-viewer"
ROLES = (f"manager:ops:{MANAGER}", f"owner:home:{OWNER}", f"viewer:look:{VIEWER}")


@pytest.fixture
async def pair() -> AsyncIterator[tuple[NodeService, NodeService]]:
    one = await start_node(node_config("Ops", "1", token=ADMIN, operators=ROLES, gossip=GOSSIP))
    two = await start_node(node_config("Home", "2", token=ADMIN, operators=ROLES, gossip=GOSSIP))
    try:
        link = AddSibling(sibling_name="Home", sibling_address=two.config.address, sibling_id="2")
        one.actor.tell(Inbound(tell(link)))
        async with aiohttp.ClientSession() as session:
            await wait_for(lambda: _sees(session, one, "2"), timeout=10)
            await wait_for(lambda: _sees(session, two, "1"), timeout=10)
        yield one, two
    finally:
        await stop_node(one)
        await stop_node(two)


async def _sees(session: aiohttp.ClientSession, node: NodeService, other: str) -> bool:
    status, body = await get(session, node, "/grid")
    return status == 200 and any(row["id"] == other and row["status"] == "alive" for row in body["nodes"])


async def get(session: aiohttp.ClientSession, node: NodeService, path: str, token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": token} if token else {}
    async with session.get(f"http://{node.config.address}{path}", headers=headers) as resp:
        return resp.status, await resp.json()


async def send(session: aiohttp.ClientSession, node: NodeService, msg_type: str, msg: dict[str, Any],
               token: str | None) -> tuple[int, Any]:  # fmt: skip
    status, answer, _ = await post(session, node.config.address, *operator(msg_type, msg, token))
    return status, answer


async def test_roles_decide_who_may_chat_and_read_chats(pair: tuple[NodeService, NodeService]) -> None:
    one, _ = pair
    async with aiohttp.ClientSession() as session:
        for token, role in ((None, None), (VIEWER, "viewer"), (OWNER, "owner"), (MANAGER, "manager"), (ADMIN, "admin")):
            status, body = await get(session, one, "/whoami", token)
            assert (status, body["role"], body["open"]) == (200, role, False)
        assert (await get(session, one, "/whoami", "wrong"))[0] == 401
        chat = {"to": "2", "text": "hello"}
        assert (await send(session, one, "Chat", chat, None))[0] == 401
        assert (await send(session, one, "Chat", chat, VIEWER))[0] == 403
        assert (await get(session, one, "/chats", VIEWER))[0] == 403
        assert (await get(session, one, "/chats"))[0] == 401
        status, answer = await send(session, one, "Chat", chat, OWNER)
        assert status == 202 and answer["seq"] == 1
        status, body = await get(session, one, "/chats", OWNER)
        assert status == 200 and [c["peer"] for c in body["conversations"]] == ["2"]
        # Relays and acks are peers' messages: an operator needs the all-powers token to even try.
        relay = {"relayId": "r1", "ttl": 3, "route": ["1"],
                 "typing": {"from": "1", "to": "2"}}  # fmt: skip
        assert (await send(session, one, "ChatRelay", relay, MANAGER))[0] == 403
        status, answer = await send(session, one, "ChatRelay", relay, ADMIN)
        assert (status, answer["error"]) == (400, "missing_return_id")


async def test_bad_input_is_a_4xx_json_error_and_changes_nothing(pair: tuple[NodeService, NodeService]) -> None:
    one, _ = pair
    async with aiohttp.ClientSession() as session:
        bad_messages = [
            ({"to": "2", "text": ""}, 400),
            ({"to": "2", "text": "   "}, 400),
            ({"to": "2", "text": "x" * 5000}, 400),
            ({"to": "2"}, 400),
            ({"to": "1", "text": "me"}, 409),
            ({"to": "nobody", "text": "hi"}, 404),
            ({"to": "2", "text": "hi", "from": "2"}, 403),
            ({"to": "2", "text": "hi", "seq": -1}, 400),
            ({"to": ["2"], "text": "hi"}, 400),
        ]
        for msg, expected in bad_messages:
            status, answer = await send(session, one, "Chat", msg, OWNER)
            assert status == expected and set(answer) == {"error", "detail"}, (msg, status, answer)
        for path in ("/chats/bad%20id", "/chats/2?limit=0", "/chats/2?limit=abc", "/chats/2?before=-1",
                     "/chats/2?limit=²"):  # fmt: skip
            status, answer = await get(session, one, path, OWNER)
            assert status == 400 and set(answer) == {"error", "detail"}, path
        status, body = await get(session, one, "/chats", OWNER)
        assert body["conversations"] == [] and body["unread"] == 0


async def test_the_cli_sends_and_reads(pair: tuple[NodeService, NodeService]) -> None:
    one, two = pair
    runner = CliRunner()

    def cli(*args: str) -> Any:
        return runner.invoke(app, list(args), terminal_width=200)

    sent = await asyncio.to_thread(cli, "chat", "send", two.config.address, "--to", "1", "Why is my bill high?",
                                   "-t", OWNER)  # fmt: skip
    assert sent.exit_code == 0, sent.output
    assert json.loads(sent.output)["status"] == "accepted"

    async def arrived() -> Any:
        listing = await asyncio.to_thread(cli, "chat", "read", one.config.address, "-t", MANAGER)
        return listing if "Why is my bill" in listing.output else None

    listing = await wait_for(arrived, timeout=10)
    assert "Home" in listing.output and "1 unread" in listing.output
    shown = await asyncio.to_thread(cli, "chat", "read", one.config.address, "--with", "2", "--mark-read", "-t", MANAGER)
    assert shown.exit_code == 0 and "Why is my bill high?" in shown.output and "0 unread" in shown.output
    refused = await asyncio.to_thread(cli, "chat", "send", two.config.address, "--to", "1", "hi", "-t", VIEWER)
    assert refused.exit_code == 1 and "forbidden" in refused.output
