"""The chaos transport: unit behaviour with a fake network and clock, then whole
node actors converging through it (loss, duplication, reordering, a partition)."""

from __future__ import annotations

import asyncio
import random
from typing import Any, Callable

import pytest

from grid.node import Inbound, NodeConfig
from grid.runtime import LoopScheduler
from grid.service import NodeService
from grid.transport.chaos import ChaosTransport
from grid.transport.memory import MemoryTransport
from protocol.envelopes import ask, tell
from protocol.faults import FaultPlan
from protocol.gossip import GossipConfig
from protocol.messages import AddSibling, SyncGrid, UpdateEnergy

from .inproc import query, wait_for


class FakeInner:
    """Records deliveries; answers Asks with an echo."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    def send(self, address: str, envelope: Any, on_fail: Callable[[str], None]) -> None:
        self.sent.append((address, envelope))

    def ask(self, address: str, envelope: Any, on_reply: Callable[..., None]) -> None:
        self.sent.append((address, envelope))
        on_reply(envelope, None)


class ManualClock:
    """A scheduler whose timers fire only when the test advances time."""

    def __init__(self) -> None:
        self.t = 0.0
        self.timers: list[tuple[float, Callable[..., None], tuple[Any, ...]]] = []

    def now(self) -> float:
        return self.t

    def wall_ms(self) -> int:
        return int(self.t * 1000)

    def call_later(self, delay: float, fn: Callable[..., None], *args: Any) -> None:
        self.timers.append((self.t + delay, fn, args))

    def advance(self, seconds: float) -> None:
        self.t += seconds
        due = sorted((t, i) for i, (t, _, _) in enumerate(self.timers) if t <= self.t)
        fire = [self.timers[i] for _, i in due]
        self.timers = [timer for timer in self.timers if timer[0] > self.t]
        for _, fn, args in fire:
            fn(*args)


def chaos(plan: FaultPlan, seed: int = 1) -> tuple[ChaosTransport, FakeInner, ManualClock]:
    inner, clock = FakeInner(), ManualClock()
    return ChaosTransport(inner, plan, random.Random(seed), clock), inner, clock


def gossip(sender: str = "A") -> Any:
    return tell(SyncGrid(), return_id=sender)


def test_clean_plan_delivers_everything_at_once() -> None:
    transport, inner, _ = chaos(FaultPlan())
    for _ in range(10):
        transport.send("B", gossip(), lambda reason: pytest.fail(reason))
    assert len(inner.sent) == 10 and transport.counts["delivered"] == 10


def test_loss_is_silent_and_duplicates_arrive_twice_at_the_planned_rates() -> None:
    transport, inner, clock = chaos(FaultPlan(drop=0.2, duplicate=0.5, delay_ms=(1, 5)))
    failures: list[str] = []
    for _ in range(2000):
        transport.send("B", gossip(), failures.append)
    assert inner.sent == []  # every copy waits for its delay on the scheduler
    clock.advance(0.01)
    counts = transport.counts
    assert failures == [] and counts["lost"] + counts["delivered"] + counts["duplicated"] == 2000
    assert 300 < counts["lost"] < 500 and len(inner.sent) == counts["delivered"] + 2 * counts["duplicated"]


def test_reordered_messages_are_overtaken() -> None:
    transport, inner, clock = chaos(FaultPlan(reorder=0.3, delay_ms=(1, 1), reorder_ms=(50, 60)))
    for i in range(50):
        transport.send("B", tell(SyncGrid(round=str(i)), return_id="A"), lambda reason: None)
        clock.advance(0.002)
    clock.advance(0.1)
    order = [int(envelope.message.round) for _, envelope in inner.sent]
    assert sorted(order) == list(range(50)) and order != list(range(50))


def test_partition_one_way_cut_and_heal_at_run_time() -> None:
    transport, inner, _ = chaos(FaultPlan(), seed=3)
    failures: list[str] = []
    transport.partition({"A", "B"}, {"C"})
    transport.send("B", gossip("A"), failures.append)
    transport.send("C", gossip("A"), failures.append)
    assert [a for a, _ in inner.sent] == ["B"] and failures == ["partitioned"]  # the sender is told at once
    transport.heal()
    transport.cut_one_way("C", "A")
    transport.send("C", gossip("A"), failures.append)
    transport.send("A", gossip("C"), failures.append)
    assert [a for a, _ in inner.sent] == ["B", "C"] and failures == ["partitioned", "partitioned"]
    transport.heal()
    transport.send("A", gossip("C"), failures.append)
    assert [a for a, _ in inner.sent][-1] == "A"


def test_asks_lose_requests_or_answers_and_report_it() -> None:
    transport, _, clock = chaos(FaultPlan(drop=0.5), seed=4)
    replies: list[tuple[Any, Any]] = []
    request = ask(AddSibling(sibling_name="A", sibling_address="a:1", sibling_id="A"), req_id="r", return_id="A")
    for _ in range(200):
        transport.ask("B", request, lambda envelope, error: replies.append((envelope, error)))
    clock.advance(1.0)
    errors = {error for _, error in replies if error}
    assert len(replies) == 200 and errors == {"the request was lost", "the answer was lost"}
    answered = sum(1 for envelope, _ in replies if envelope is not None)
    assert 25 < answered < 75  # both ways must survive: about a quarter


def test_same_seed_same_faults() -> None:
    def run(seed: int) -> list[str]:
        transport, inner, clock = chaos(FaultPlan(drop=0.3, duplicate=0.3, reorder=0.3, delay_ms=(1, 9)), seed)
        for i in range(200):
            transport.send(f"n{i % 7}", tell(SyncGrid(round=str(i)), return_id="A"), lambda reason: None)
        clock.advance(1.0)
        return [f"{address}/{envelope.message.round}" for address, envelope in inner.sent]

    assert run(8) == run(8) and run(8) != run(9)


# ---------------------------------------------------------------- node actors through chaos
FAST = GossipConfig(heartbeat_s=0.1, ttl_s=0.8, sync_interval_s=0.2)
N = 8


async def test_actors_converge_through_loss_and_heal_a_partition() -> None:
    """Eight node actors on the in-memory transport behind chaos, with short real timers."""
    loop = asyncio.get_running_loop()
    memory, scheduler = MemoryTransport(), LoopScheduler(loop)
    configs = [NodeConfig(id=f"n{i}", name=f"N{i}", port=10_000 + i, gossip=FAST) for i in range(N)]
    by_address = {c.address: c.id for c in configs}
    transport = ChaosTransport(memory, FaultPlan(), random.Random(5), scheduler, node_of=by_address.__getitem__)
    nodes = {c.id: NodeService(c, transport, scheduler) for c in configs}
    for node in nodes.values():
        await node.start(serve_http=False)
        memory.register(node.config.address, node.actor)
    readings: dict[str, float] = {}

    def operator(node_id: str, message: Any) -> None:
        nodes[node_id].actor.tell(Inbound(tell(message)))

    def reading(node_id: str, kw: float) -> None:
        readings[node_id] = kw
        operator(node_id, UpdateEnergy(production=kw, consumption=0))

    async def agree(groups: list[list[str]]) -> bool:
        for group in groups:
            expected = round(sum(readings.get(n, 0.0) for n in group) * 1000)
            states = [await query(nodes[n]) for n in group]
            if any(s["gridnet_w"] != expected or s["nodes_live"] != len(group) for s in states):
                return False
        return True

    try:
        links = [(i, (i + 1) % N) for i in range(N)] + [(0, 4), (2, 6)]  # a ring with two chords
        for a, b in links:
            other = nodes[f"n{b}"].config
            operator(f"n{a}", AddSibling(sibling_name=other.name, sibling_address=other.address, sibling_id=other.id))
        everyone = [[f"n{i}" for i in range(N)]]
        await wait_for(lambda: agree(everyone), timeout=20)

        transport.set_plan(FaultPlan(drop=0.1, duplicate=0.1, reorder=0.1, delay_ms=(1, 5), reorder_ms=(20, 60)))
        for i in range(N):
            reading(f"n{i}", i + 1)
        await wait_for(lambda: agree(everyone), timeout=20)

        left, right = [f"n{i}" for i in range(4)], [f"n{i}" for i in range(4, N)]
        transport.partition(left, right)
        reading("n1", 10)
        reading("n5", 20)
        await wait_for(lambda: agree([left, right]), timeout=20)

        transport.heal()
        await wait_for(lambda: agree(everyone), timeout=20)
        assert transport.counts["lost"] > 0 and transport.counts["duplicated"] > 0 and transport.counts["cut"] > 0
    finally:
        for node in nodes.values():
            await node.stop(graceful=False)
