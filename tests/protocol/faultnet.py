"""A whole grid of pure gossip cores on a simulated clock, every message through a FaultPlan.

The sibling of :mod:`tests.protocol.simnet` for timed fault runs: where
``SimNet`` lets a test deliver messages one by one, ``FaultNet`` runs the
node's own timers (heartbeat and expiry, digest sync, the push window) as
events on a simulated clock, and sends every message through
:meth:`protocol.faults.FaultPlan.decide` with a seeded generator: lost,
duplicated, delayed, reordered, or refused on a partitioned link (which the
sender notices, as with a refused connection). Sixty simulated seconds of a
20-node grid take about a second.

The test keeps the *model*: the last reading accepted by each node. The grid
agrees when every node's view holds exactly the model for each node it can
reach, sees the others as stale, and its net is the model's sum.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from random import Random
from typing import Callable, Iterable

from protocol.entry import Entry
from protocol.faults import FaultPlan
from protocol.gossip import GossipConfig, GossipCore, Send, Sibling
from protocol.messages import SyncGrid, UpdateNet

#: The design's defaults (docs/architecture.md): heartbeat 1 s, TTL 5 s, sync every 2 s.
DEFAULT = GossipConfig(heartbeat_s=1.0, ttl_s=5.0, sync_interval_s=2.0)


@dataclass
class FaultNet:
    """Cores by id, a timed event queue, a fault plan, and the model of accepted readings."""

    plan: FaultPlan
    seed: int = 1
    config: GossipConfig = DEFAULT
    flush_window_s: float = 0.005
    now: float = 0.0
    cores: dict[str, GossipCore] = field(default_factory=dict)
    model: dict[str, tuple[int, int]] = field(default_factory=dict)
    delivered: int = 0

    def __post_init__(self) -> None:
        self.rng = Random(self.seed)
        self._events: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._flush_due: set[str] = set()

    # ------------------------------------------------------------ building
    def add_node(self, origin: str) -> None:
        """A node with its heartbeat and sync timers started at random phases."""
        entry = Entry(origin=origin, incarnation=1, version=0, name=origin, address=f"{origin}:1")
        self.cores[origin] = GossipCore(entry, self.now, self.config)
        self.model[origin] = (0, 0)
        self._at(self.rng.uniform(0.0, self.config.heartbeat_s), self._heartbeat, origin)
        self._at(self.rng.uniform(0.0, self.config.sync_interval_s), self._sync, origin)

    def link(self, a: str, b: str) -> None:
        """Link two nodes both ways, as a finished AddSibling handshake does."""
        for x, y in ((a, b), (b, a)):
            self._emit(x, self.cores[x].add_sibling(Sibling(y, y, f"{y}:1"), self.now))

    def set_energy(self, origin: str, production_w: int, consumption_w: int) -> None:
        """An accepted reading: the origin's core changes, and so does the model."""
        self.cores[origin].update_self(self.now, production_w=production_w, consumption_w=consumption_w)
        self.model[origin] = (production_w, consumption_w)
        self._schedule_flush(origin)

    # ------------------------------------------------------------ running
    def run_until(self, t: float) -> None:
        """Process every event up to simulated time ``t``."""
        while self._events and self._events[0][0] <= t:
            when, _, action = heapq.heappop(self._events)
            self.now = when
            action()
        self.now = t

    def run_until_agreed(self, limit_s: float, islands: Iterable[set[str]] | None = None,
                         step_s: float = 0.05) -> float | None:  # fmt: skip
        """Simulated seconds until :meth:`agreed` holds, checked every ``step_s``; None past ``limit_s``."""
        groups = list(islands) if islands is not None else [set(self.cores)]
        return self.run_until_true(lambda: self.agreed(groups), limit_s, step_s)

    def run_until_true(self, done: Callable[[], bool], limit_s: float, step_s: float = 0.05) -> float | None:
        """Simulated seconds until ``done()`` holds, checked every ``step_s``; None past ``limit_s``."""
        start = self.now
        while self.now - start <= limit_s:
            if done():
                return self.now - start
            self.run_until(self.now + step_s)
        return None

    def agreed(self, islands: list[set[str]]) -> bool:
        """Each node holds exactly the model for its island, the rest of the grid stale, and the right net."""
        for island in islands:
            expected_net = sum(p - c for o, (p, c) in self.model.items() if o in island)
            for origin in island:
                core = self.cores[origin]
                if core.net_w != expected_net:
                    return False
                for other in self.cores:
                    if (other in island) != core.is_live(other):
                        return False
                    entry = core.view.get(other)
                    if other in island and (entry.production_w, entry.consumption_w) != self.model[other]:
                        return False
        return True

    # ------------------------------------------------------------ timers
    def _at(self, delay: float, fn: Callable[..., None], *args: object) -> None:
        heapq.heappush(self._events, (self.now + delay, next(self._seq), lambda: fn(*args)))

    def _heartbeat(self, origin: str) -> None:
        core = self.cores[origin]
        core.heartbeat(self.now)
        core.expire(self.now)
        self._schedule_flush(origin)
        self._at(self.config.heartbeat_s * self.rng.uniform(0.9, 1.1), self._heartbeat, origin)

    def _sync(self, origin: str) -> None:
        self._emit(origin, self.cores[origin].sync_targets(self.rng))
        self._at(self.config.sync_interval_s * self.rng.uniform(0.8, 1.2), self._sync, origin)

    def _schedule_flush(self, origin: str) -> None:
        if origin not in self._flush_due:
            self._flush_due.add(origin)
            self._at(self.flush_window_s, self._flush, origin)

    def _flush(self, origin: str) -> None:
        self._flush_due.discard(origin)
        self._emit(origin, self.cores[origin].flush(self.now))

    # ------------------------------------------------------------ the network
    def _emit(self, sender: str, sends: list[Send]) -> None:
        for send in sends:
            if not self.plan.reachable(sender, send.to):
                self.cores[sender].delivery_failed(send.to)  # connection refused: the sender knows
                continue
            for delay in self.plan.decide(sender, send.to, self.rng):
                self._at(delay, self._deliver, sender, send)

    def _deliver(self, sender: str, send: Send) -> None:
        target = self.cores[send.to]
        self.delivered += 1
        if isinstance(send.message, UpdateNet):
            if target.receive_update(sender, send.message, self.now):
                self._schedule_flush(send.to)
        elif isinstance(send.message, SyncGrid):
            self._emit(send.to, target.receive_digest(sender, send.message, self.now))
            self._schedule_flush(send.to)


def ring_with_chords(net: FaultNet, n: int, chords: int, rng: Random) -> list[str]:
    """``n`` nodes on a ring plus ``chords`` random extra links; returns the ids in ring order."""
    ids = [f"n{i:02d}" for i in range(n)]
    for origin in ids:
        net.add_node(origin)
    links = {frozenset((ids[i], ids[(i + 1) % n])) for i in range(n)}
    while len(links) < n + chords:
        a, b = rng.sample(ids, 2)
        links.add(frozenset((a, b)))
    for a, b in sorted(tuple(sorted(link)) for link in links):
        net.link(a, b)
    return ids


def lossy(loss: float) -> FaultPlan:
    """Every link: ``loss`` dropped, ``loss`` duplicated, ``loss`` held back 50-250 ms; 1-10 ms latency."""
    return FaultPlan(drop=loss, duplicate=loss, reorder=loss, delay_ms=(1, 10))


def grid20(loss: float, seed: int, config: GossipConfig = DEFAULT) -> tuple[FaultNet, list[str], Random]:
    """The reliability grid: 20 nodes, a ring plus 10 chords, 3 s after linking."""
    net = FaultNet(lossy(loss), seed=seed, config=config)
    rng = Random(seed)
    ids = ring_with_chords(net, 20, chords=10, rng=rng)
    net.run_until(3.0)  # links made, first heartbeats out
    return net, ids, rng


def change_readings(net: FaultNet, nodes: list[str], rng: Random, seconds: float, every_s: float = 0.1) -> None:
    """A reading accepted every ``every_s`` at a random node, for ``seconds``."""
    end = net.now + seconds
    while net.now < end:
        net.set_energy(rng.choice(nodes), rng.randrange(0, 20_000), rng.randrange(0, 20_000))
        net.run_until(net.now + every_s)


def nothing_lost(net: FaultNet, holders: Iterable[str], origins: Iterable[str]) -> bool:
    """Every holder's view carries the last accepted reading of every origin."""
    origins = list(origins)
    return all(
        (net.cores[h].view[o].production_w, net.cores[h].view[o].consumption_w) == net.model[o]
        for h in holders
        for o in origins
    )
