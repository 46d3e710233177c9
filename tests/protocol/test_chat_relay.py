"""Chats across a lossy network of routers, no sockets: each is delivered exactly once, in order.

A seeded discrete-event simulation: every node runs a :class:`nodes.chatroute.Router`
and keeps :class:`protocol.chat.Conversation`s; links lose, duplicate and delay
(so reorder) messages, acknowledgements included. Origins resend unconfirmed
chats end to end as the chat feature does; targets answer with cumulative
receipts that travel the same way. Whatever the seed, every chat must arrive
exactly once, in its sender's order, and every sender must learn it.
"""

from __future__ import annotations

import heapq
import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from random import Random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from nodes.chatroute import AckTo, Deliver, Effect, Router, RouterConfig, Topology, Transmit
from protocol.chat import Chat, ChatReceipt, ChatRelay, Conversation, relay

CONFIG = dict(ack_timeout_s=0.5, retry_base_s=0.1, retry_cap_s=1.0, max_attempts=8, hold_s=10.0)
RESEND_S = 3.0
EPOCH = 1


@dataclass
class Node:
    router: Router
    convs: dict[str, Conversation] = field(default_factory=dict)
    unconfirmed: dict[str, tuple[Chat, float]] = field(default_factory=dict)  # chat id -> (chat, resend at)

    def conv(self, peer: str) -> Conversation:
        return self.convs.setdefault(peer, Conversation(peer))


class Net:
    """Nodes on a graph; messages between them through a lossy, duplicating, delaying medium."""

    def __init__(self, graph: dict[str, set[str]], rng: Random, loss: float, dup: float, direct: bool) -> None:
        self.graph, self.rng, self.loss, self.dup = graph, rng, loss, dup
        self.topo = {n: Topology.from_view(n, graph, graph[n]) for n in graph}
        config = RouterConfig(direct=direct, **CONFIG)  # type: ignore[arg-type]
        self.nodes = {n: Node(Router(n, config, Random(rng.random()))) for n in graph}
        self.now = 0.0
        self.queue: list[tuple[float, int, str, Any]] = []
        self.order = itertools.count()
        self.delivered: dict[tuple[str, str], list[int]] = defaultdict(list)
        self.relay_ids = itertools.count()

    # -------------------------------------------------------- the medium
    def post(self, src: str, dst: str, payload: Any) -> None:
        if self.rng.random() < self.loss:
            return
        for _ in range(2 if self.rng.random() < self.dup else 1):
            heapq.heappush(self.queue, (self.now + self.rng.uniform(0.001, 0.2), next(self.order), dst, (src, payload)))

    def run(self, until: float) -> None:
        while self.queue and self.queue[0][0] <= until:
            self.now, _, dst, event = heapq.heappop(self.queue)
            if event == "tick":
                self.tick(dst)
                continue
            src, payload = event
            node = self.nodes[dst]
            if isinstance(payload, ChatRelay):
                self.apply(dst, node.router.receive(src, payload, self.now, self.topo[dst]))
            else:
                node.router.acked(payload)

    def tick(self, name: str) -> None:
        node = self.nodes[name]
        self.apply(name, node.router.tick(self.now, self.topo[name]))
        for chat_id, (chat, due) in list(node.unconfirmed.items()):
            if due <= self.now:
                node.unconfirmed[chat_id] = (chat, self.now + RESEND_S)
                if not node.router.holds(f"chat:{chat_id}"):
                    self.originate(name, chat, f"chat:{chat_id}")
        heapq.heappush(self.queue, (self.now + 0.05, next(self.order), name, "tick"))

    # -------------------------------------------------------- node behaviour
    def send_chat(self, src: str, dst: str, text: str) -> None:
        conv = self.nodes[src].conv(dst)
        seq = conv.next_seq()
        chat = Chat(chat_id=f"{src}-{dst}-{seq}", sender=src, to=dst, text=text, sent=1, epoch=EPOCH, seq=seq)
        self.nodes[src].unconfirmed[chat.chat_id] = (chat, self.now + RESEND_S)  # type: ignore[index]
        self.originate(src, chat, f"chat:{chat.chat_id}")

    def originate(self, name: str, item: Any, key: str) -> None:
        made = relay(f"r{next(self.relay_ids)}", item)
        self.apply(name, self.nodes[name].router.originate(made, self.now, self.topo[name], key))

    def apply(self, name: str, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Transmit):
                assert effect.direct or effect.to in self.graph[name], "hop-by-hop sends go to siblings only"
                self.post(name, effect.to, effect.relay)
            elif isinstance(effect, AckTo):
                self.post(name, effect.to, effect.relay_ids)
            elif isinstance(effect, Deliver):
                self.deliver(name, effect.relay)

    def deliver(self, name: str, arrived: ChatRelay) -> None:
        node, peer = self.nodes[name], arrived.origin
        conv = node.conv(peer)
        if arrived.chat is not None:
            ready, verdict = conv.accept(arrived.chat)
            self.delivered[(peer, name)] += [c.seq for c in ready]
            if verdict in ("new", "duplicate"):
                receipt = ChatReceipt(sender=name, to=peer, epoch=conv.in_epoch, delivered=conv.in_delivered)
                self.originate(name, receipt, f"receipt:{peer}")
        elif arrived.receipt is not None and conv.take_receipt(arrived.receipt, EPOCH):
            for chat_id, (chat, _) in list(node.unconfirmed.items()):
                if chat.to == peer and chat.seq <= conv.out_delivered:
                    del node.unconfirmed[chat_id]


def connected_graph(rng: Random, n: int, extra: int) -> dict[str, set[str]]:
    """A random tree over n nodes plus ``extra`` random links."""
    names = [str(i) for i in range(n)]
    graph: dict[str, set[str]] = {name: set() for name in names}
    for i in range(1, n):
        a, b = names[i], names[rng.randrange(i)]
        graph[a].add(b)
        graph[b].add(a)
    for _ in range(extra):
        a, b = rng.sample(names, 2)
        graph[a].add(b)
        graph[b].add(a)
    return graph


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), direct=st.booleans())
def test_every_chat_arrives_exactly_once_in_order_over_a_lossy_network(seed: int, direct: bool) -> None:
    rng = Random(seed)
    net = Net(connected_graph(rng, rng.randint(3, 10), rng.randint(0, 4)), rng, loss=0.2, dup=0.2, direct=direct)
    for name in net.nodes:
        net.tick(name)
    names = list(net.nodes)
    pairs = {(rng.choice(names), rng.choice(names)) for _ in range(4)}
    pairs = {(a, b) for a, b in pairs if a != b}
    sent: dict[tuple[str, str], int] = defaultdict(int)
    for step in range(20):  # chats of several conversations, interleaved, while earlier ones travel
        a, b = rng.choice(sorted(pairs)) if pairs else ("0", "1")
        if a != b:
            net.send_chat(a, b, f"chat {step}")
            sent[(a, b)] += 1
        net.run(net.now + rng.uniform(0.0, 0.3))
    net.run(net.now + 60.0)
    for (a, b), count in sent.items():
        assert net.delivered[(a, b)] == list(range(1, count + 1)), (a, b)
        assert not net.nodes[a].unconfirmed, f"{a} never learnt that {b} got its chats"
