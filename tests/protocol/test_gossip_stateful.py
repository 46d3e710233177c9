"""The convergence property of the gossip core, riak_dt style.

A Hypothesis state machine drives 3-7 :class:`GossipCore` s over the pure
:class:`SimNet` with random rules: energy changes, links added and removed,
messages delivered, dropped, duplicated and reordered, partitions and heals,
time passing, heartbeats, restarts and graceful leaves. A trivial model keeps
the latest energy of every live node. Invariants hold after every step; at the
end of every run (``teardown``) the partitions heal, messages stop being lost,
and a bounded number of heartbeat / sync rounds must bring every connected
group of live nodes to the same live view and to the model's net, then the
whole grid once the islands are linked again.
"""

from __future__ import annotations

import sys
from random import Random

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from protocol.entry import Entry
from protocol.gossip import GossipConfig, GossipCore

from .simnet import SimNet

IDS = [f"n{i}" for i in range(7)]
CONFIG = GossipConfig(heartbeat_s=1.0, ttl_s=5.0, sync_interval_s=2.0, forget_after_s=3600.0)
#: Heartbeat rounds of the final check: entries of vanished nodes outlive the TTL.
ROUNDS = int(CONFIG.ttl_s / CONFIG.heartbeat_s) + 2

pick = st.integers(min_value=0, max_value=10**6)  # an index, taken modulo what exists


class GossipMachine(RuleBasedStateMachine):
    """Real cores on a lossy network, next to a dict of energies."""

    def __init__(self) -> None:
        super().__init__()
        self.net = SimNet(config=CONFIG)
        self.rng = Random(0)
        self.model: dict[str, int] = {}  # live origin -> production_w - consumption_w
        self.highest: dict[str, Entry] = {}  # origin -> newest entry it ever published
        self.seen: dict[str, dict[str, tuple[int, int]]] = {}  # node -> origin -> stamp it held

    # ------------------------------------------------------------------ helpers
    def live(self) -> list[str]:
        return sorted(self.net.cores)

    def node(self, index: int) -> str:
        live = self.live()
        return live[index % len(live)]

    def pair(self, i: int, j: int) -> tuple[str, str] | None:
        live = self.live()
        a, b = live[i % len(live)], live[j % len(live)]
        return None if a == b else (a, b)

    def components(self) -> list[list[str]]:
        """Connected groups of live nodes over the sibling links."""
        seen: set[str] = set()
        groups = []
        for start in self.live():
            if start in seen:
                continue
            group, todo = [], [start]
            seen.add(start)
            while todo:
                x = todo.pop()
                group.append(x)
                for y in self.net.cores[x].siblings:
                    if y in self.net.cores and y not in seen:
                        seen.add(y)
                        todo.append(y)
            groups.append(sorted(group))
        return groups

    # ------------------------------------------------------------------ rules
    @initialize(n=st.integers(min_value=3, max_value=7), parents=st.lists(pick, min_size=6, max_size=6))
    def start(self, n: int, parents: list[int]) -> None:
        for origin in IDS[:n]:
            self.net.add_node(origin)
            self.model[origin] = 0
        for i in range(1, n):  # a random spanning tree, so the grid starts connected
            self.net.link(IDS[i], IDS[parents[i - 1] % i])

    @rule(i=pick, production_w=st.integers(0, 50_000), consumption_w=st.integers(0, 50_000), push=st.booleans())
    def set_energy(self, i: int, production_w: int, consumption_w: int, push: bool) -> None:
        origin = self.node(i)
        core = self.net.cores[origin]
        core.update_self(self.net.now, production_w=production_w, consumption_w=consumption_w)
        self.model[origin] = production_w - consumption_w
        if push:  # else the change waits, coalesced, for a later flush
            self.net.emit(origin, core.flush(self.net.now))

    @rule(i=pick, j=pick)
    def add_link(self, i: int, j: int) -> None:
        if pair := self.pair(i, j):
            self.net.link(*pair)

    @rule(i=pick, j=pick)
    def remove_link(self, i: int, j: int) -> None:
        if pair := self.pair(i, j):
            self.net.unlink(*pair)

    @rule(i=pick)
    def flush(self, i: int) -> None:
        origin = self.node(i)
        self.net.emit(origin, self.net.cores[origin].flush(self.net.now))

    @rule()
    def flush_all(self) -> None:
        self.net.flush_all()

    @precondition(lambda self: self.net.queue)
    @rule()
    def deliver_first(self) -> None:
        self.net.deliver_one(0)

    @precondition(lambda self: self.net.queue)
    @rule()
    def deliver_last(self) -> None:
        """Reordering at its worst: newest first, so older news arrives after newer."""
        self.net.deliver_one(len(self.net.queue) - 1)

    @precondition(lambda self: self.net.queue)
    @rule(i=pick)
    def deliver_any(self, i: int) -> None:
        """Reordering: deliver a message that is not necessarily the oldest."""
        self.net.deliver_one(i % len(self.net.queue))

    @precondition(lambda self: self.net.queue)
    @rule(i=pick)
    def drop(self, i: int) -> None:
        self.net.drop(i % len(self.net.queue))

    @precondition(lambda self: self.net.queue)
    @rule(i=pick)
    def duplicate(self, i: int) -> None:
        self.net.duplicate(i % len(self.net.queue))

    @rule(members=st.sets(pick, min_size=1, max_size=3))
    def partition(self, members: set[int]) -> None:
        self.net.partition({self.node(i) for i in members})

    @rule()
    def heal(self) -> None:
        self.net.heal()

    @rule(seconds=st.sampled_from([0.1, 0.5, 1.0, 2.5, 6.0]))
    def advance(self, seconds: float) -> None:
        self.net.advance(seconds)
        self.net.expire_all()

    @rule(i=pick, push=st.booleans())
    def heartbeat(self, i: int, push: bool) -> None:
        origin = self.node(i)
        core = self.net.cores[origin]
        core.heartbeat(self.net.now)
        if push:
            self.net.emit(origin, core.flush(self.net.now))

    @rule(i=pick)
    def sync(self, i: int) -> None:
        origin = self.node(i)
        self.net.emit(origin, self.net.cores[origin].sync_targets(self.rng))

    @rule(i=pick)
    def restart(self, i: int) -> None:
        """A new life: persisted incarnation (+1) and siblings, a fresh reading of 0 W.

        (A restart that lost its incarnation is out of contract: its new life
        can reach an old (incarnation, version) with different content, which
        digests cannot tell apart until its next heartbeat. Refutation is
        tested on its own in test_gossip_merge.py.)
        """
        origin = self.node(i)
        self.net.restart(origin)
        self.model[origin] = 0
        self.seen.pop(origin, None)  # a new life starts from an empty view

    @precondition(lambda self: len(self.net.cores) > 2)
    @rule(i=pick)
    def leave(self, i: int) -> None:
        origin = self.node(i)
        self.published(self.net.leave(origin).me)
        del self.model[origin]

    def published(self, entry: Entry) -> None:
        """Remember the newest entry each origin ever published."""
        known = self.highest.get(entry.origin)
        if _newer(entry, known):
            self.highest[entry.origin] = entry

    # ------------------------------------------------------------------ invariants
    @invariant()
    def own_entry_is_latest_energy(self) -> None:
        for origin, core in self.net.cores.items():
            assert core.view[origin] is core.me
            assert core.me.status == "alive"
            assert core.me.net_w == self.model[origin]
            assert core.is_live(origin)

    @invariant()
    def net_is_sum_of_live_entries(self) -> None:
        for core in self.net.cores.values():
            assert core.net_w == sum(e.net_w for e in core.view.values() if core.is_live(e.origin))

    @invariant()
    def nothing_newer_than_its_origins_own_entry(self) -> None:
        cores = self.net.cores
        for core in cores.values():
            self.published(core.me)
        for core in cores.values():
            for origin, entry in core.view.items():
                own = cores[origin].me if origin in cores else self.highest[origin]  # or its tombstone
                assert not _newer(entry, own), (core.origin, origin, _stamp(entry))

    @invariant()
    def views_only_move_forward(self) -> None:
        """Merge never replaces an entry by an older one (nothing is forgotten here)."""
        for node, core in self.net.cores.items():
            seen = self.seen.setdefault(node, {})
            for origin, before in seen.items():
                assert origin in core.view and _stamp(core.view[origin]) >= before, (node, origin, before)
            seen.update({origin: _stamp(entry) for origin, entry in core.view.items()})

    @invariant()
    def bookkeeping_is_consistent(self) -> None:
        for origin, core in self.net.cores.items():
            assert core.learned_at.keys() == core.view.keys()
            assert core.stale <= core.view.keys() - {origin}
            assert core.known.keys() == core.siblings.keys()
            for sibling in core.siblings:  # links are bidirectional between live nodes
                assert sibling not in self.net.cores or origin in self.net.cores[sibling].siblings

    def check_invariants_now(self) -> None:
        self.net_is_sum_of_live_entries()
        self.nothing_newer_than_its_origins_own_entry()
        self.views_only_move_forward()

    # ------------------------------------------------------------------ the final check
    def teardown(self) -> None:
        # Only judge convergence of runs that got here cleanly; a failed step
        # must be reported as itself, not masked by a second failure.
        if sys.exc_info()[0] is None and self.net.cores:
            check_convergence(self)


def check_convergence(machine: GossipMachine) -> None:
    """Heal, stop losing messages, and every island, then the whole grid, must agree."""
    net = machine.net
    net.heal()  # and no drop rule runs from here on
    settle(machine)  # what was still in flight arrives
    islands = machine.components()
    sync_grid(machine, islands, "final")
    heartbeat_rounds(machine)
    for island in islands:
        assert_agree(machine, island)
    # Link the islands again: the whole grid converges on the model's net.
    for a, b in zip(islands, islands[1:]):
        net.link(a[0], b[0])
    settle(machine)
    sync_grid(machine, [machine.live()], "bridged")
    heartbeat_rounds(machine)
    assert_agree(machine, machine.live())


def settle(machine: GossipMachine) -> None:
    """Deliver everything, in a random order, checking the invariants after each delivery."""
    machine.net.settle(rng=machine.rng, check=machine.check_invariants_now)


def sync_grid(machine: GossipMachine, islands: list[list[str]], round_id: str) -> None:
    """One grid-wide SyncGrid per island repairs everything: afterwards every
    node of an island holds the same entries, tombstones and stale ones too,
    including nodes that restarted and lost their view."""
    net = machine.net
    for index, island in enumerate(islands):
        net.emit(island[0], net.cores[island[0]].join_round(f"{round_id}-{index}"))
    settle(machine)
    for island in islands:
        views = {x: net.cores[x].view for x in island}
        first = views[island[0]]
        assert all(view == first for view in views.values()), {x: _digest(v) for x, v in views.items()}


def heartbeat_rounds(machine: GossipMachine) -> None:
    """Enough heartbeat rounds for every vanished node's entry to outlive the
    TTL, with time passing less than the TTL per round. No early exit: after
    the sync above, agreement must hold within this bound."""
    net = machine.net
    for _ in range(ROUNDS):
        net.advance(CONFIG.heartbeat_s)
        net.heartbeat_all()
        net.sync_round(machine.rng)
        settle(machine)
        net.expire_all()


def live_view(core: GossipCore) -> dict[str, tuple[int, int]]:
    return {e.origin: _stamp(e) for e in core.live_entries()}


def assert_agree(machine: GossipMachine, group: list[str]) -> None:
    cores = {x: machine.net.cores[x] for x in group}
    expected = sum(machine.model[x] for x in group)
    views = {x: live_view(c) for x, c in cores.items()}
    assert all(set(v) == set(group) for v in views.values()), views
    assert all(v == views[group[0]] for v in views.values()), views
    assert {x: c.net_w for x, c in cores.items()} == {x: expected for x in group}
    assert len({c.view_digest() for c in cores.values()}) == 1
    for x, core in cores.items():  # refutation done: everyone holds x's own entry
        assert all(machine.net.cores[y].view[x] == core.me for y in group)


def _stamp(entry: Entry) -> tuple[int, int]:
    return (entry.incarnation, entry.version)


def _newer(entry: Entry, other: Entry | None) -> bool:
    """The test's own order, independent of the code under test."""
    return other is None or _stamp(entry) > _stamp(other)


def _digest(view: dict[str, Entry]) -> dict[str, tuple[int, int]]:
    return {origin: _stamp(entry) for origin, entry in sorted(view.items())}


GossipMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestGossipConvergence = GossipMachine.TestCase
