"""A pure, deterministic network of gossip cores for tests: no sockets, no threads.

Messages sit in a queue; the test decides when to deliver, drop, duplicate or
reorder them, and when time passes. It is the ``ConnectionPair`` of h11 for a
whole grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from random import Random
from typing import Callable

from protocol.entry import Entry, kw_to_watts
from protocol.gossip import GossipConfig, GossipCore, Send, Sibling
from protocol.messages import SyncGrid, UpdateNet


def make_entry(origin: str, incarnation: int = 1) -> Entry:
    """A fresh entry for a node called ``origin``."""
    return Entry(origin=origin, incarnation=incarnation, version=0, name=origin, address=f"{origin}:1")


@dataclass
class SimNet:
    """Cores by id, an in-flight queue of (sender, Send), and a clock."""

    config: GossipConfig = field(default_factory=GossipConfig)
    now: float = 0.0
    cores: dict[str, GossipCore] = field(default_factory=dict)
    queue: list[tuple[str, Send]] = field(default_factory=list)
    cut: set[frozenset[str]] = field(default_factory=set)
    delivered: int = 0

    def add_node(self, origin: str, incarnation: int = 1) -> GossipCore:
        core = GossipCore(make_entry(origin, incarnation), self.now, self.config)
        self.cores[origin] = core
        return core

    def link(self, a: str, b: str) -> None:
        self._emit(a, self.cores[a].add_sibling(Sibling(b, b, f"{b}:1"), self.now))
        self._emit(b, self.cores[b].add_sibling(Sibling(a, a, f"{a}:1"), self.now))

    def set_energy(self, origin: str, production_kw: float, consumption_kw: float) -> None:
        self.cores[origin].update_self(
            self.now, production_w=kw_to_watts(production_kw), consumption_w=kw_to_watts(consumption_kw)
        )

    def unlink(self, a: str, b: str) -> None:
        """Remove the link on both sides (a RemoveSibling exchange)."""
        for x, y in ((a, b), (b, a)):
            if x in self.cores:
                self.cores[x].remove_sibling(y, self.now)

    def restart(self, origin: str, amnesia: bool = False) -> GossipCore:
        """Replace ``origin``'s core as a real restart does.

        The incarnation and the siblings are persisted, so the new life starts
        one incarnation higher and re-links to the same siblings (emitting the
        digest offers that repair the links). With ``amnesia`` the incarnation
        was lost: the new life reuses it and must refute its previous life.
        """
        old = self.cores[origin]
        incarnation = old.me.incarnation + (0 if amnesia else 1)
        core = GossipCore(make_entry(origin, incarnation), self.now, self.config)
        self.cores[origin] = core
        for sibling in old.siblings.values():
            self._emit(origin, core.add_sibling(Sibling(sibling.id, sibling.name, sibling.address), self.now))
        return core

    def leave(self, origin: str) -> GossipCore:
        """Graceful stop: publish the tombstone, send it, and go away.

        Messages already in flight from the node are still delivered; messages
        to it fail from now on.
        """
        core = self.cores[origin]
        core.leave(self.now)
        self._emit(origin, core.flush(self.now))
        del self.cores[origin]
        return core

    def drop(self, index: int = 0) -> tuple[str, Send]:
        """Lose an in-flight message silently (no delivery failure is reported)."""
        return self.queue.pop(index)

    def duplicate(self, index: int = 0) -> None:
        """Put a second copy of an in-flight message at the end of the queue."""
        self.queue.append(self.queue[index])

    def partition(self, group: set[str]) -> None:
        """Cut every link between ``group`` and the other nodes."""
        others = set(self.cores) - group
        self.cut |= {frozenset((a, b)) for a in group for b in others}

    def heal(self) -> None:
        """Remove every partition."""
        self.cut.clear()

    def heartbeat_all(self) -> None:
        for core in self.cores.values():
            core.heartbeat(self.now)

    def expire_all(self) -> None:
        for core in self.cores.values():
            core.expire(self.now)

    def flush_all(self) -> None:
        for origin, core in self.cores.items():
            self._emit(origin, core.flush(self.now))

    def _emit(self, sender: str, sends: list[Send]) -> None:
        self.queue.extend((sender, s) for s in sends)

    def emit(self, sender: str, sends: list[Send]) -> None:
        """Put what a core returned (``sends`` from ``sender``) in flight."""
        self._emit(sender, sends)

    def deliver_one(self, index: int = 0) -> None:
        sender, send = self.queue.pop(index)
        target = self.cores.get(send.to)
        if target is None or frozenset((sender, send.to)) in self.cut:
            if sender in self.cores:
                self.cores[sender].delivery_failed(send.to)
            return
        self.delivered += 1
        if isinstance(send.message, UpdateNet):
            target.receive_update(sender, send.message, self.now)
        elif isinstance(send.message, SyncGrid):
            self._emit(send.to, target.receive_digest(sender, send.message, self.now))

    def settle(
        self, max_steps: int = 100_000, rng: Random | None = None, check: Callable[[], None] | None = None
    ) -> int:
        """Deliver and flush until nothing is in flight; returns messages delivered.

        Deliveries are first-in first-out, or in an order drawn from ``rng``;
        ``check`` runs after every delivery.
        """
        steps = 0
        while steps < max_steps:
            self.flush_all()
            if not self.queue:
                return steps
            while self.queue and steps < max_steps:
                self.deliver_one(rng.randrange(len(self.queue)) if rng else 0)
                steps += 1
                if check:
                    check()
        raise AssertionError("network did not settle")

    def sync_round(self, rng: Random) -> None:
        for origin, core in self.cores.items():
            self._emit(origin, core.sync_targets(rng))

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def nets(self) -> dict[str, int]:
        return {o: c.net_w for o, c in self.cores.items()}
