"""Event rules in a real node actor driven by a clock the test moves: once per episode, never in cool-down."""

from __future__ import annotations

import heapq
import itertools
import threading
from typing import Any, Callable, Iterator

import pytest

from grid.features import build_features
from grid.node import Inbound, NodeActor, Query
from grid.runtime import CallbackReply
from grid.transport.memory import MemoryTransport
from protocol.dispatch import Dispatch, public_key_from_seed, verify_dispatch
from protocol.envelopes import tell
from protocol.gossip import GossipConfig
from protocol.messages import UpdateEnergy

from .dispatch_support import OP, SEED, config, table

EPOCH_MS = 1_700_000_000_000
BEAT_S = 5.0


class ManualScheduler:
    """Time moves only when the test says; due timers run in order, in the test's thread."""

    def __init__(self) -> None:
        self.t = 0.0
        self._timers: list[tuple[float, int, Callable[..., Any], tuple[Any, ...]]] = []
        self._order = itertools.count()
        self._lock = threading.Lock()

    def now(self) -> float:
        return self.t

    def wall_ms(self) -> int:
        return EPOCH_MS + round(self.t * 1000)

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> None:
        with self._lock:
            heapq.heappush(self._timers, (self.t + max(0.0, delay), next(self._order), fn, args))

    def advance(self, seconds: float, node: "Node") -> None:
        """Move the clock, firing due timers one by one and letting the actor finish each."""
        end = self.t + seconds
        while True:
            with self._lock:
                if not self._timers or self._timers[0][0] > end:
                    break
                due, _, fn, args = heapq.heappop(self._timers)
            self.t = max(self.t, due)
            fn(*args)
            node.drain()
        self.t = end


class Node:
    """One node actor on the manual clock."""

    def __init__(self, scheduler: ManualScheduler, dispatch: dict[str, Any]) -> None:
        cfg = config("1", dispatch, gossip=GossipConfig(heartbeat_s=BEAT_S, ttl_s=60.0, sync_interval_s=600.0))
        self.scheduler = scheduler
        self.actor = NodeActor.start(cfg, MemoryTransport(), scheduler, features=build_features(cfg))

    def drain(self) -> Any:
        """Wait until the actor has handled everything sent so far (its mailbox is FIFO)."""
        return self.ask("state")

    def ask(self, what: str, **params: Any) -> Any:
        done = threading.Event()
        box: list[Any] = []
        self.actor.tell(Query(what, CallbackReply(lambda value: (box.append(value), done.set())), params))
        assert done.wait(5.0)
        return box[0]

    def energy(self, production_kw: float, consumption_kw: float) -> None:
        self.actor.tell(Inbound(tell(UpdateEnergy(production=production_kw, consumption=consumption_kw))))
        self.drain()

    def issued(self) -> list[dict[str, Any]]:
        return sorted(self.ask("dispatch.list")["dispatches"], key=lambda d: d["startTime"])


@pytest.fixture
def node() -> Iterator[Node]:
    scheduler = ManualScheduler()
    rule = {"kind": "price_above", "program_id": "p1", "threshold": 1000, "clear_below": 500, "for_minutes": 2,
            "dispatch_minutes": 1, "curtailment_kw": 2, "cooldown_minutes": 10}  # fmt: skip
    n = Node(scheduler, table(issuer=True, rules={"peak": rule}))
    try:
        yield n
    finally:
        n.actor.stop()


def run(node: Node, seconds: float) -> None:
    node.scheduler.advance(seconds, node)


def test_price_rule_fires_once_per_episode_and_not_in_cool_down(node: Node) -> None:
    node.energy(0, 5)  # a deficit with no supply: the price goes to the cap
    assert node.drain()["price"] > 1000
    run(node, 110)  # high for less than two minutes
    assert node.issued() == []
    run(node, 30)  # ... and now for more (a beat after the two minutes at most)
    first = node.issued()
    assert len(first) == 1 and first[0]["dispatchId"].startswith("rule.peak.")
    assert first[0]["issuer"] == OP and first[0]["endTime"] - first[0]["startTime"] == 60_000
    run(node, 300)  # still high: the same episode, no second dispatch
    assert len(node.issued()) == 1

    node.energy(10, 0)  # surplus: the price drops to the floor, the episode ends
    run(node, 30)
    node.energy(0, 5)  # a new episode, but within ten minutes of the first firing
    run(node, 180)
    assert len(node.issued()) == 1
    run(node, 10 * 60)  # the cool-down is over while the price is still high
    second = node.issued()
    assert len(second) == 2
    fired = [d["startTime"] for d in second]
    assert fired[1] - fired[0] >= 10 * 60_000


def test_a_fired_rule_issues_a_signed_dispatch_the_node_acts_on(node: Node) -> None:
    node.energy(0, 5)
    run(node, 140)
    (row,) = node.issued()
    shown = node.ask("dispatch.show", dispatch_id=row["dispatchId"])
    fields = {info.alias or name for name, info in Dispatch.model_fields.items()}
    verify_dispatch(Dispatch.model_validate({k: v for k, v in shown.items() if k in fields}),
                    {OP: public_key_from_seed(SEED)})  # fmt: skip
    assert shown["binding_here"] and node.drain()["consumption"] == 3.0
    assert shown["ack_status"]["acknowledged"] == ["1"]
    run(node, 60)  # the requested minute is over
    assert node.drain()["consumption"] == 5.0
