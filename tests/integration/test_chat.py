"""Support chat between real node processes in a line, so every chat is relayed.

Topology (1 is the grid operator's node, 2-4 households; only neighbours are siblings)::

    1 (operator, manager token) --- 2 --- 3 --- 4 (household, persisted)

Every node runs with ``[chat] direct = false``: it sends over its sibling links only
and never opens a connection to a node that is not its neighbour. On loopback
every node could reach every other directly, so without this setting the
chats would take one hop and these tests would not see relaying at all;
direct delivery and its fallback are tested in-process (tests/grid/test_chat_feature.py)
where a link can be cut one way. Each route is checked hop by hop.

The tests share the grid and run in file order; each counts what the grid
holds now rather than assuming what an earlier test left.
"""

from __future__ import annotations

from http.client import HTTPConnection
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator

import pytest

from .procs import ROOT, Cluster, NodeProc, http, wait_until

FAST = ["--heartbeat", "0.3", "--ttl", "3", "--sync-interval", "0.5"]
GRID_KEY = ["--grid-key", "k1:chat-test-grid-secret-0123456789"]  # relays are signed like any peer message
MANAGER, OWNER = "ops-token", "home-token"
ARTIFACTS = ROOT / "test-artifacts" / "chat"


@pytest.fixture(scope="module")
def line(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, NodeProc]]:
    """Nodes 1-2-3-4 linked in a line, agreeing on the grid."""
    tmp = tmp_path_factory.mktemp("chat-line")
    config = tmp / "chat.toml"
    config.write_text("[chat]\ndirect = false\n")
    cluster = Cluster(tmp)
    try:
        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(cluster.start, f"N{i}", str(i), f"t{i}", persist=i == 4,
                                   extra=[*FAST, *GRID_KEY, "--config", str(config), "--operator",
                                          f"manager:ops:{MANAGER}" if i == 1 else f"owner:home:{OWNER}"])
                       for i in range(1, 5)]  # fmt: skip
            nodes = {n.node_id: n for n in (f.result() for f in futures)}
        for a, b in (("1", "2"), ("2", "3"), ("3", "4")):
            assert nodes[a].link(nodes[b])[0] == 202
        cluster.agree(list(nodes.values()), gridnet=0.0, live=4, timeout=30)
        yield nodes
    finally:
        cluster.close()


def token_of(node: NodeProc) -> str:
    return MANAGER if node.node_id == "1" else OWNER


def say(node: NodeProc, msg_type: str, msg: dict[str, Any]) -> tuple[int, Any]:
    return node.tell(msg_type, msg, token=token_of(node))


def chats(node: NodeProc, peer: str | None = None) -> Any:
    status, body = http("GET", node.address, f"/chats/{peer}" if peer else "/chats",
                        headers={"Authorization": token_of(node)})  # fmt: skip
    assert status == 200, body
    return body


def incoming(node: NodeProc, peer: str) -> list[dict[str, Any]]:
    return [m for m in chats(node, peer)["messages"] if m["direction"] == "in"]


def record(name: str, figures: dict[str, Any]) -> None:
    """Leave measured figures for people to read (timings are never asserted)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{name}.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(name, figures)


class EventStream:
    """A node's ``/events`` of some kinds, read as they come (only events after it opened)."""

    def __init__(self, node: NodeProc, kinds: str) -> None:
        host, port = node.address.split(":")
        self.conn = HTTPConnection(host, int(port), timeout=10)
        # after=<huge>: no backlog, only what happens from now on.
        self.conn.request("GET", f"/events?kinds={kinds}&after=999999999", headers={"Authorization": token_of(node)})
        self.response = self.conn.getresponse()
        assert self.response.status == 200

    def next_event(self, timeout: float) -> tuple[str, dict[str, Any], float]:
        """(kind, data, monotonic time it arrived); fails after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        kind, data = "", []
        while time.monotonic() < deadline:
            line = self.response.fp.readline().decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
            elif line == "" and data:
                return kind, json.loads("".join(data)), time.monotonic()
        raise AssertionError(f"no event within {timeout} s")

    def close(self) -> None:
        self.conn.close()


def test_a_household_asks_the_operator_answers_and_both_see_receipts(line: dict[str, NodeProc]) -> None:
    home, ops = line["4"], line["1"]
    status, answer = say(home, "Chat", {"to": "1", "text": "My consumption doubled overnight - why?"})
    assert status == 202 and answer["status"] == "accepted"

    asked = wait_until(lambda: incoming(ops, "4"), timeout=10)[-1]
    assert asked["from"] == "4" and asked["text"] == "My consumption doubled overnight - why?"
    assert asked["route"] == ["4", "3", "2", "1"]  # relayed by every node between
    listing = chats(ops)
    row = next(c for c in listing["conversations"] if c["peer"] == "4")
    assert row["name"] == "N4" and row["unread"] >= 1 and row["live"]

    status, _ = say(ops, "Chat", {"to": "4", "text": "Your heat pump ran all night; see your hourly chart."})
    assert status == 202
    reply = wait_until(lambda: incoming(home, "1"), timeout=10)[-1]
    assert reply["from"] == "1" and reply["route"] == ["1", "2", "3", "4"]

    def status_at(node: NodeProc, peer: str, chat_id: str) -> str:
        return next(m["status"] for m in chats(node, peer)["messages"] if m["chatId"] == chat_id)

    wait_until(lambda: status_at(home, "1", asked["chatId"]) == "delivered", timeout=10)
    assert say(ops, "ChatReceipt", {"to": "4", "chatId": asked["chatId"]})[0] == 202
    wait_until(lambda: status_at(home, "1", asked["chatId"]) == "read", timeout=10)
    assert chats(ops)["unread"] == 0

    wait_until(lambda: status_at(ops, "4", reply["chatId"]) == "delivered", timeout=10)
    assert say(home, "ChatReceipt", {"to": "1"})[0] == 202  # everything delivered so far
    wait_until(lambda: status_at(ops, "4", reply["chatId"]) == "read", timeout=10)


def test_a_typing_signal_crosses_the_line_at_once(line: dict[str, NodeProc]) -> None:
    home, ops = line["4"], line["1"]
    latencies = []
    for typing in (True, False, True):
        stream = EventStream(home, "chat_typing")
        try:
            sent = time.monotonic()
            status, answer = say(ops, "ChatTyping", {"to": "4", "typing": typing})
            assert status == 202 and answer["status"] == "accepted"
            kind, data, arrived = stream.next_event(timeout=5)  # the goal is < 1 s: a bound, not a timing test
        finally:
            stream.close()
        assert (kind, data["peer"], data["typing"]) == ("chat_typing", "1", typing)
        latencies.append(round((arrived - sent) * 1000, 1))
    assert next(c for c in chats(home)["conversations"] if c["peer"] == "1")["typing"] is True
    record("typing_latency", {"hops": 3, "latencies_ms": latencies})


def test_the_operator_holds_three_conversations_at_once(line: dict[str, NodeProc]) -> None:
    ops, homes = line["1"], [line["2"], line["3"], line["4"]]
    before = {h.node_id: len(incoming(ops, h.node_id)) for h in homes}

    def ask(home: NodeProc) -> None:
        for n in range(3):
            assert say(home, "Chat", {"to": "1", "text": f"question {n} from {home.name}"})[0] == 202

    with ThreadPoolExecutor(3) as pool:  # the three households write at the same time
        list(pool.map(ask, homes))
    for home in homes:
        got = wait_until(lambda: len(incoming(ops, home.node_id)) == before[home.node_id] + 3 and incoming(ops, home.node_id),
                         timeout=15)  # fmt: skip
        assert [m["text"] for m in got[-3:]] == [f"question {n} from {home.name}" for n in range(3)]
        assert all(m["from"] == home.node_id for m in got)
    listing = chats(ops)
    assert {c["peer"] for c in listing["conversations"]} >= {"2", "3", "4"}
    assert all(c["unread"] >= 3 for c in listing["conversations"] if c["peer"] in ("2", "3"))

    for home in homes:
        assert say(ops, "Chat", {"to": home.node_id, "text": f"answer for {home.name}"})[0] == 202
    for home in homes:
        got = wait_until(lambda: [m["text"] for m in incoming(home, "1") if m["text"].startswith("answer")], timeout=15)
        assert got == [f"answer for {home.name}"]


def test_a_chat_to_a_node_that_is_down_arrives_once_after_it_restarts(line: dict[str, NodeProc]) -> None:
    ops, home, relay = line["1"], line["4"], line["3"]
    had = len(incoming(home, "1"))
    home.kill()  # SIGKILL: the others notice only when its entry goes stale
    assert say(ops, "Chat", {"to": "4", "text": "sent while it was dying"})[0] == 202

    def stale_at(node: NodeProc) -> bool:
        rows = http("GET", node.address, "/grid")[1]["nodes"]
        return any(r["id"] == "4" and r["status"] != "alive" for r in rows)

    wait_until(lambda: stale_at(ops), timeout=15)
    status, answer = say(ops, "Chat", {"to": "4", "text": "sent while it was away"})
    assert status == 202 and answer["status"] == "queued"

    restarted = time.monotonic()
    home.start()  # same port, same data directory
    texts = wait_until(lambda: (t := [m["text"] for m in incoming(home, "1")[had:]]) and len(t) >= 2 and t, timeout=20)
    arrived = time.monotonic()
    assert texts == ["sent while it was dying", "sent while it was away"]

    def settled() -> bool:  # every copy on its way has been acknowledged or given up
        mine = chats(ops, "4")["messages"]
        return all(m["status"] != "sent" for m in mine) and relay.state()["chat"]["relaying"] == 0 \
            and ops.state()["chat"]["unconfirmed"] == 0

    wait_until(settled, timeout=20)
    assert [m["text"] for m in incoming(home, "1")[had:]] == ["sent while it was dying", "sent while it was away"]
    record("offline_delivery", {"after_restart_s": round(arrived - restarted, 2),
                                "copies_dropped_at_target": home.state()["chat"]["duplicates"]})
