"""The chat feature in-process: direct delivery and its fallback, loss, duplicates, restarts, bad input.

Topology of every grid here (a line; only neighbours are siblings)::

    1 --- 2 --- 3 --- 4
"""

from __future__ import annotations

from pathlib import Path

from protocol.chat import Chat, ChatReceipt, ChatTyping
from protocol.faults import FaultPlan

from .chat_support import line_grid, messages, operator, read
from .inproc import wait_for

LINE = ["1", "2", "3", "4"]


async def test_direct_delivery_and_fallback_routes() -> None:
    grid, chaos = await line_grid(LINE, seed=2)
    try:
        chaos.cut_one_way("4", "1")
        await operator(grid, "4", Chat(to="1", text="up the line"))
        await operator(grid, "1", Chat(to="4", text="straight down"))

        async def routes() -> tuple[list[str], list[str]] | None:
            at_1, at_4 = await messages(grid, "1", "4"), await messages(grid, "4", "1")
            incoming_1 = [m["route"] for m in at_1 if m["direction"] == "in"]
            incoming_4 = [m["route"] for m in at_4 if m["direction"] == "in"]
            return (incoming_1[0], incoming_4[0]) if incoming_1 and incoming_4 else None

        up, down = await wait_for(routes)
        # 4 could not reach 1 directly, so it went through its sibling 3, which could.
        assert up == ["4", "3", "1"]
        assert down == ["1", "4"]  # the direct address works: one hop
    finally:
        await grid.close()


async def test_with_direct_off_chats_are_relayed_and_receipts_come_back() -> None:
    grid, _ = await line_grid(LINE, seed=3, direct=False)
    try:
        await operator(grid, "1", Chat(to="4", text="relayed"))
        got = await wait_for(lambda: messages(grid, "4", "1"))
        assert got[0]["route"] == ["1", "2", "3", "4"] and got[0]["status"] == "delivered"

        async def status_at_1() -> str:
            return (await messages(grid, "1", "4"))[0]["status"]

        await wait_for(lambda: _eq(status_at_1(), "delivered"))
        assert (await operator(grid, "4", ChatReceipt(to="1"))).status == 202
        await wait_for(lambda: _eq(status_at_1(), "read"))
        assert (await operator(grid, "4", ChatReceipt(to="1"))).status == 200  # nothing new to mark
    finally:
        await grid.close()


async def _eq(coro, expected) -> bool:  # type: ignore[no-untyped-def]
    return (await coro) == expected


async def test_lossy_duplicating_links_still_deliver_each_chat_once_in_order() -> None:
    plan = FaultPlan(drop=0.15, duplicate=0.2, reorder=0.2, delay_ms=(0.0, 20.0), reorder_ms=(20.0, 80.0))
    grid, _ = await line_grid(LINE, seed=4, direct=False)
    try:
        grid.transport.set_plan(plan)  # type: ignore[attr-defined]
        for n in range(1, 9):
            await operator(grid, "4", Chat(to="1", text=f"household {n}"))
            await operator(grid, "1", Chat(to="4", text=f"operator {n}"))

        async def settled() -> bool:
            at_1, at_4 = await messages(grid, "1", "4"), await messages(grid, "4", "1")
            return (len([m for m in at_1 if m["direction"] == "in"]) == 8
                    and len([m for m in at_4 if m["direction"] == "in"]) == 8
                    and all(m["status"] != "sent" for m in at_1 + at_4))  # fmt: skip

        await wait_for(settled, timeout=40)
        for node, peer, who in (("1", "4", "household"), ("4", "1", "operator")):
            incoming = [m["text"] for m in await messages(grid, node, peer) if m["direction"] == "in"]
            assert incoming == [f"{who} {n}" for n in range(1, 9)]
    finally:
        await grid.close()


async def test_a_chat_to_a_stopped_node_waits_and_arrives_once_when_it_is_back(tmp_path: Path) -> None:
    grid, _ = await line_grid(LINE, seed=5, data=tmp_path, direct=False)
    try:
        config = grid.services["4"].config
        await grid.stop("4")  # graceful: the others learn at once that it left
        await wait_for(lambda: _live(grid, "1", "4", False))
        answer = await operator(grid, "1", Chat(to="4", text="are you there?"))
        assert answer.status == 202 and answer.body["status"] == "queued"
        typing = await operator(grid, "1", ChatTyping(to="4"))
        assert typing.body["status"] == "not_sent"  # a typing signal is not kept for later
        listing = await read(grid, "1")
        assert listing["conversations"][0]["unconfirmed"] == 1 and not listing["conversations"][0]["live"]

        await grid.add(config)  # back, with its store (and so its links)
        got = await wait_for(lambda: messages(grid, "4", "1"), timeout=15)
        assert [m["text"] for m in got] == ["are you there?"] and got[0]["route"] == ["1", "2", "3", "4"]
        await wait_for(lambda: _unconfirmed_is(grid, "1", 0), timeout=15)  # the receipt came back
        assert [m["text"] for m in await messages(grid, "4", "1")] == ["are you there?"]
    finally:
        await grid.close()


async def _unconfirmed_is(grid, node: str, count: int) -> bool:  # type: ignore[no-untyped-def]
    return (await grid.query(node))["chat"]["unconfirmed"] == count


async def _live(grid, node: str, peer: str, live: bool) -> bool:  # type: ignore[no-untyped-def]
    rows = (await grid.query(node, "grid"))["nodes"]
    return any(r["id"] == peer and (r["status"] == "alive") == live for r in rows)


async def test_operator_mistakes_are_refused_and_change_nothing() -> None:
    grid, _ = await line_grid(["1", "2"], seed=6)
    try:
        cases = [
            (Chat(to="1", text="me"), 409, "chat_to_self"),
            (Chat(to="9", text="who?"), 404, "unknown_node"),
            (Chat.model_validate({"from": "2", "to": "2", "text": "x"}), 403, "not_this_node"),
            (ChatReceipt(to="2"), 404, "unknown_conversation"),
            (ChatReceipt(to="2", delivered=3), 400, "node_field"),
            (ChatTyping(to="1"), 409, "chat_to_self"),
        ]
        for message, status, code in cases:
            answer = await operator(grid, "1", message)
            assert (answer.status, answer.body["error"]) == (status, code), message
        assert (await read(grid, "1"))["conversations"] == []
        first = await operator(grid, "1", Chat(to="2", text="once", chatId="q-1"))
        again = await operator(grid, "1", Chat(to="2", text="once", chatId="q-1"))
        assert (first.status, again.status, again.body["status"]) == (202, 200, "unchanged")
        assert [m["chatId"] for m in await messages(grid, "1", "2")] == ["q-1"]
        await wait_for(lambda: messages(grid, "2", "1"))
        unknown = await operator(grid, "2", ChatReceipt(to="1", chatId="nope"))
        assert (unknown.status, unknown.body["error"]) == (404, "unknown_chat")
    finally:
        await grid.close()
