"""Merge is commutative, associative and idempotent; and the rules around it.

Property tests deliver the same entries to fresh cores in different orders,
groupings and with duplicates, and compare the resulting views and nets with a
model (the newest entry per origin). Unit tests then pin down each rule of
``protocol/gossip.py`` on two to five cores wired through the pure SimNet, in
the manner of h11's ``ConnectionPair``: liveness and ages, tombstones,
refutation, what ``flush`` sends to whom, repair after a failed delivery, the
original four-node demo, and the grid-wide SyncGrid round.
"""

from __future__ import annotations

from random import Random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import codec
from protocol.entry import MAX_VERSION, Entry
from protocol.envelopes import tell
from protocol.gossip import GossipConfig, GossipCore, Send, Sibling
from protocol.messages import SyncGrid, UpdateNet

from .simnet import SimNet, make_entry

CONFIG = GossipConfig(heartbeat_s=1.0, ttl_s=5.0, sync_interval_s=2.0, forget_after_s=60.0)
ORIGINS = ("a", "b", "c", "d")
ME = "z"  # the receiving core; never an origin of generated entries


# ---------------------------------------------------------------------- strategies
def entry_for(origin: str, incarnation: int, version: int) -> Entry:
    """The one entry an origin publishes at (incarnation, version): content follows from the key."""
    h = (ORIGINS.index(origin) + 1) * 7919 + incarnation * 131 + version * 17
    return Entry(
        origin=origin,
        incarnation=incarnation,
        version=version,
        status="left" if (incarnation + version) % 4 == 3 else "alive",
        name=origin,
        address=f"{origin}:1",
        production_w=h % 5_000,
        consumption_w=(h * 31) % 7_000,
    )


entries = st.builds(entry_for, st.sampled_from(ORIGINS), st.integers(0, 3), st.integers(0, 5))
entry_sets = st.lists(entries, max_size=12)


def merged(*batches: list[Entry] | tuple[Entry, ...], me: str = ME) -> GossipCore:
    """A fresh core called ``me`` that received each batch as one UpdateNet, in order."""
    core = GossipCore(make_entry(me), 0.0, CONFIG)
    for batch in batches:
        core.receive_update("x", UpdateNet(entries=tuple(batch)), 0.0)
    return core


def others(core: GossipCore) -> list[Entry]:
    """What a core would pass on: its view without its own entry."""
    return [e for o, e in sorted(core.view.items()) if o != ME]


def state(core: GossipCore) -> tuple:
    return (core.view, core.net_w, [e.origin for e in core.live_entries()])


def model(*batches: list[Entry]) -> tuple:
    """The newest entry per origin, and the net of the alive ones."""
    newest: dict[str, Entry] = {ME: make_entry(ME)}
    for entry in (e for batch in batches for e in batch):
        held = newest.get(entry.origin)
        if held is None or (entry.incarnation, entry.version) > (held.incarnation, held.version):
            newest[entry.origin] = entry
    alive = [e for o, e in sorted(newest.items()) if e.status == "alive"]
    return (newest, sum(e.net_w for e in alive), [e.origin for e in alive])


# ---------------------------------------------------------------------- merge properties
@settings(max_examples=150, deadline=None)
@given(entry_sets)
def test_merge_equals_the_model(batch: list[Entry]) -> None:
    assert state(merged(batch)) == model(batch)


@settings(max_examples=150, deadline=None)
@given(entry_sets, entry_sets)
def test_merge_is_commutative(a: list[Entry], b: list[Entry]) -> None:
    assert state(merged(a, b)) == state(merged(b, a)) == model(a, b)


@settings(max_examples=150, deadline=None)
@given(entry_sets, entry_sets, entry_sets)
def test_merge_is_associative(a: list[Entry], b: list[Entry], c: list[Entry]) -> None:
    left = merged(others(merged(a, b)), c)
    right = merged(a, others(merged(b, c)))
    assert state(left) == state(right) == model(a, b, c)


@settings(max_examples=150, deadline=None)
@given(entry_sets)
def test_merge_is_idempotent(a: list[Entry]) -> None:
    once = merged(a)
    assert state(merged(a, a)) == state(merged(a, others(once))) == state(once)
    once.flush(0.0)
    assert once.receive_update("x", UpdateNet(entries=tuple(a)), 0.0) == []  # nothing changed
    assert once.flush(0.0) == []  # so nothing to push either


@settings(max_examples=150, deadline=None)
@given(entry_sets, st.randoms(use_true_random=False), st.integers(1, 5))
def test_any_order_grouping_and_duplication_gives_the_same_view(a: list[Entry], rnd: Random, copies: int) -> None:
    deliveries = [e for e in a for _ in range(rnd.randint(1, copies))]
    rnd.shuffle(deliveries)
    batches, start = [], 0
    while start < len(deliveries):
        size = rnd.randint(1, 4)
        batches.append(deliveries[start : start + size])
        start += size
    assert state(merged(*batches)) == model(a)


@settings(max_examples=100, deadline=None)
@given(entry_sets, entry_sets)
def test_a_digest_exchange_merges_both_ways(a: list[Entry], b: list[Entry]) -> None:
    """The pull path merges like the push path: both sides end with the union."""
    left, right = merged(a, me="x"), merged(b, me="y")
    queue = [("x", left.offer_digest("y"))]
    for _ in range(10):  # offer, answer + reply digest, answer: three hops at most
        if not queue:
            break
        sender, send = queue.pop(0)
        core = right if send.to == "y" else left
        if isinstance(send.message, SyncGrid):
            queue += [(core.origin, s) for s in core.receive_digest(sender, send.message, 0.0)]
        else:
            core.receive_update(sender, send.message, 0.0)
    assert not queue
    expected = {o: e for o, e in model(a, b)[0].items() if o != ME}
    for core in (left, right):
        assert {o: e for o, e in core.view.items() if o not in ("x", "y")} == expected
    assert left.view["y"] == right.me and right.view["x"] == left.me


# ---------------------------------------------------------------------- helpers for unit tests
def grid(*links: str, config: GossipConfig = CONFIG) -> SimNet:
    """A settled SimNet with the nodes and links named like "A-B"."""
    net = SimNet(config=config)
    for link in links:
        for origin in link.split("-"):
            if origin not in net.cores:
                net.add_node(origin)
    for link in links:
        net.link(*link.split("-"))
    net.settle()
    return net


def sends_to(sends: list[Send], to: str) -> list[Send]:
    return [s for s in sends if s.to == to]


def origins_in(send: Send) -> list[str]:
    return [e.origin for e in send.message.entries]


# ---------------------------------------------------------------------- liveness
def test_entry_goes_stale_after_ttl_and_comes_back_with_a_newer_version() -> None:
    net = grid("A-B")
    net.set_energy("A", 2, 0)
    net.settle()
    b = net.cores["B"]
    assert b.net_w == 2000 and b.is_live("A")

    net.advance(CONFIG.ttl_s)
    assert b.expire(net.now) == []  # exactly the TTL is still live
    net.advance(0.001)
    assert b.expire(net.now) == ["A"]
    assert not b.is_live("A") and "A" in b.view and b.net_w == 0
    assert [e.origin for e in b.live_entries()] == ["B"]
    assert b.expire(net.now) == []  # reported once
    assert net.cores["A"].expire(net.now) == ["B"]  # a node is never stale to itself
    assert net.cores["A"].is_live("A")

    net.cores["A"].heartbeat(net.now)
    net.settle()
    assert b.is_live("A") and b.net_w == 2000
    assert b.view["A"] == net.cores["A"].me


def test_a_duplicate_does_not_refresh_a_stale_entry() -> None:
    net = grid("A-B")
    old = net.cores["A"].me
    net.advance(CONFIG.ttl_s + 1)
    b = net.cores["B"]
    assert b.expire(net.now) == ["A"]
    assert b.receive_update("A", UpdateNet(entries=(old,), ages_ms=(0,)), net.now) == []
    b.expire(net.now)
    assert not b.is_live("A")


def test_ages_on_the_wire_make_an_old_entry_go_stale_sooner() -> None:
    core = GossipCore(make_entry("B"), 0.0, CONFIG)
    near_ttl, fresh = entry_for("a", 1, 1), entry_for("c", 1, 1)
    held_ms = int((CONFIG.ttl_s - 1.0) * 1000)
    core.receive_update("x", UpdateNet(entries=(near_ttl, fresh), ages_ms=(held_ms, 0)), 0.0)
    assert core.is_live("a") and core.is_live("c")
    assert core.expire(1.5) == ["a"]  # 4 s old on arrival + 1.5 s > TTL
    assert core.is_live("c")


def test_an_entry_already_older_than_the_ttl_never_counts() -> None:
    core = GossipCore(make_entry("B"), 0.0, CONFIG)
    old = Entry(origin="a", incarnation=1, version=1, name="a", address="a:1", production_w=7000)
    held_ms = int((CONFIG.ttl_s + 1.0) * 1000)
    core.receive_update("x", UpdateNet(entries=(old,), ages_ms=(held_ms,)), 0.0)
    assert not core.is_live("a")
    assert core.net_w == 0  # not even until the next expire()
    assert core.expire(0.1) == []  # already stale: nothing new to report


def test_ages_grow_while_an_entry_is_held_and_forwarded() -> None:
    core = GossipCore(make_entry("B"), 0.0, CONFIG)
    core.add_sibling(Sibling("C", "C", "C:1"), 0.0)
    core.receive_update("x", UpdateNet(entries=(entry_for("a", 1, 1),), ages_ms=(1200,)), 10.0)
    (send,) = core.flush(10.5)
    ages = dict(zip(origins_in(send), send.message.ages_ms))
    assert abs(ages["a"] - 1700) <= 1  # 1.2 s before us, 0.5 s with us
    assert abs(ages["B"] - 10_500) <= 1  # our own entry, unchanged since t=0


# ---------------------------------------------------------------------- tombstones
def test_a_left_tombstone_is_excluded_from_net_and_forgotten_later() -> None:
    net = grid("A-B", "B-C")
    net.set_energy("A", 3, 1)
    net.set_energy("C", 0, 1)
    net.settle()
    assert net.nets() == {"A": 1000, "B": 1000, "C": 1000}

    net.leave("A")
    net.settle()
    for origin in ("B", "C"):
        core = net.cores[origin]
        assert core.view["A"].status == "left"
        assert not core.is_live("A") and "A" not in [e.origin for e in core.live_entries()]
        assert core.net_w == -1000
        assert "A" in core.digest()  # kept, so it spreads and is not resurrected

    for _ in range(int(CONFIG.forget_after_s / CONFIG.heartbeat_s) + 1):  # bounded
        net.advance(CONFIG.heartbeat_s)
        net.heartbeat_all()
        net.settle()
        net.expire_all()
    for origin in ("B", "C"):
        core = net.cores[origin]
        assert "A" not in core.view and "A" not in core.digest() and "A" not in core.learned_at
        assert core.net_w == -1000


def test_a_stale_entry_is_forgotten_after_forget_after_s() -> None:
    core = GossipCore(make_entry("B"), 0.0, CONFIG)
    core.receive_update("x", UpdateNet(entries=(entry_for("a", 1, 1),)), 0.0)
    assert core.expire(CONFIG.ttl_s + 1) == ["a"]
    core.expire(CONFIG.forget_after_s - 1)
    assert "a" in core.view
    core.expire(CONFIG.forget_after_s + 1)
    assert "a" not in core.view and core.net_w == 0 and core.stale == set()


def test_an_entry_forgotten_before_the_push_is_not_sent() -> None:
    """The next push carries what changed, minus what was forgotten since (never a KeyError)."""
    core = GossipCore(make_entry("B"), 0.0, CONFIG)
    core.add_sibling(Sibling("y", "y", "y:1"), 0.0)
    core.flush(0.0)
    core.receive_update("x", UpdateNet(entries=(entry_for("a", 1, 1), entry_for("b", 1, 1))), 0.0)
    core.update_self(CONFIG.forget_after_s, production_w=5)  # fresh, unlike a and b
    core.expire(CONFIG.forget_after_s + 1)
    assert "a" not in core.view and "b" not in core.view
    sent = [e.origin for send in core.flush(CONFIG.forget_after_s + 1) for e in send.message.entries]
    assert sent == ["B"]


# ---------------------------------------------------------------------- refutation
@pytest.mark.parametrize(
    "incarnation, version",
    [(1, 9), (1, 3), (3, 0), (1, MAX_VERSION), (2, MAX_VERSION)],
)
def test_a_core_outranks_a_newer_entry_about_itself(incarnation: int, version: int) -> None:
    """A previous life (or an impostor) is outranked; our content stays, and still fits the wire."""
    z = GossipCore(make_entry("z", incarnation=1), 0.0, CONFIG)
    z.add_sibling(Sibling("y", "y", "y:1"), 0.0)
    z.update_self(0.0, production_w=1234)
    z.flush(0.0)
    ghost = Entry(
        origin="z", incarnation=incarnation, version=version, name="z", address="z:1", consumption_w=999_999
    )
    z.receive_update("y", UpdateNet(entries=(ghost,)), 1.0)

    assert (z.me.incarnation, z.me.version) > (ghost.incarnation, ghost.version)
    assert z.me.stamp > ghost.stamp
    assert z.view["z"] is z.me and z.me.production_w == 1234 and z.me.consumption_w == 0
    assert z.net_w == 1234
    (send,) = z.flush(1.0)  # the outranking entry goes back to whoever holds the ghost
    assert send.to == "y" and send.message.entries == (z.me,)
    wire = codec.encode(tell(send.message, return_id="z"))
    assert codec.decode(wire, codec.MSGPACK).message.entries[0] == z.me
    other = merged([ghost], [z.me], me="w")  # and the rest of the grid prefers it
    assert other.view["z"] == z.me


def test_an_older_entry_about_itself_is_ignored() -> None:
    z = GossipCore(make_entry("z", incarnation=2), 0.0, CONFIG)
    z.heartbeat(0.0)
    before = z.me
    assert z.receive_update("y", UpdateNet(entries=(make_entry("z", incarnation=1),)), 0.0) == []
    assert z.me is before


def test_a_restart_without_its_incarnation_refutes_its_previous_life() -> None:
    net = grid("A-B", "B-C")
    for _ in range(5):
        net.cores["A"].heartbeat(net.now)
    net.settle()
    net.restart("A", amnesia=True)  # same incarnation, version starts again at 0
    net.set_energy("A", 7, 0)
    net.settle()
    a = net.cores["A"]
    assert a.me.version > 5
    assert all(core.view["A"] == a.me for core in net.cores.values())
    assert net.nets() == {"A": 7000, "B": 7000, "C": 7000}


# ---------------------------------------------------------------------- flush
def test_flush_sends_one_update_per_sibling_with_every_change() -> None:
    net = grid("A-B", "A-C")
    a = net.cores["A"]
    for kw in (1, 2, 3):
        net.set_energy("A", kw, 0)
    a.receive_update("x", UpdateNet(entries=tuple(entry_for(o, 1, 1) for o in "abcd")), net.now)
    sends = a.flush(net.now)
    assert sorted(s.to for s in sends) == ["B", "C"]
    for send in sends:
        assert isinstance(send.message, UpdateNet)
        assert sorted(origins_in(send)) == ["A", "a", "b", "c", "d"]  # own entry once, the latest
        assert send.message.entries[origins_in(send).index("A")] == a.me
        assert len(send.message.ages_ms) in (0, len(send.message.entries))  # none: all fresh
    assert a.flush(net.now) == []


def test_flush_splits_only_beyond_max_batch() -> None:
    net = grid("A-B", config=GossipConfig(max_batch=2))
    a = net.cores["A"]
    a.receive_update("x", UpdateNet(entries=tuple(entry_for(o, 1, 1) for o in "abcd")), net.now)
    sends = a.flush(net.now)
    assert [len(s.message.entries) for s in sends] == [2, 2]
    assert sorted(o for s in sends for o in origins_in(s)) == ["a", "b", "c", "d"]


def test_flush_never_echoes_an_entry_to_the_sibling_it_came_from() -> None:
    net = grid("A-B", "A-C")
    a = net.cores["A"]
    net.set_energy("B", 5, 0)
    (push,) = net.cores["B"].flush(net.now)
    a.receive_update("B", push.message, net.now)
    sends = a.flush(net.now)
    assert sends_to(sends, "B") == []
    (to_c,) = sends_to(sends, "C")
    assert origins_in(to_c) == ["B"]


def test_flush_skips_what_a_sibling_listed_in_its_digest() -> None:
    net = grid("A-B", "A-C")
    a, b = net.cores["A"], net.cores["B"]
    fresh = entry_for("a", 1, 1)
    b.receive_update("x", UpdateNet(entries=(fresh,)), net.now)
    b.flush(net.now)  # B's pushes are lost; only its digest reaches A
    a.receive_update("x", UpdateNet(entries=(fresh,)), net.now)
    a.receive_digest("B", SyncGrid(digest=b.digest(), reply=True), net.now)
    sends = a.flush(net.now)
    assert sends_to(sends, "B") == []
    assert [origins_in(s) for s in sends_to(sends, "C")] == [["a"]]


def test_flush_sends_only_what_a_sibling_lacks_and_nothing_twice() -> None:
    net = grid("A-B")
    a = net.cores["A"]
    a.receive_update("x", UpdateNet(entries=(entry_for("a", 1, 1), entry_for("b", 1, 1))), net.now)
    (first,) = a.flush(net.now)
    assert sorted(origins_in(first)) == ["a", "b"]
    a.receive_update("x", UpdateNet(entries=(entry_for("a", 1, 2), entry_for("b", 1, 1))), net.now)
    (second,) = a.flush(net.now)
    assert origins_in(second) == ["a"]


def test_what_a_sibling_showed_is_forgotten_at_the_push_and_newer_news_goes_to_it() -> None:
    net = grid("A-B", "A-C")
    a = net.cores["A"]
    a.receive_update("B", UpdateNet(entries=(entry_for("a", 1, 1),)), net.now)
    assert sends_to(a.flush(net.now), "B") == []  # B showed it: not sent back
    assert a.known["B"] == {}  # nothing kept beyond the push
    a.receive_update("C", UpdateNet(entries=(entry_for("a", 1, 2),)), net.now)
    (to_b,) = sends_to(a.flush(net.now), "B")
    assert to_b.message.entries == (entry_for("a", 1, 2),)


def test_a_sibling_that_showed_an_older_version_still_gets_ours() -> None:
    net = grid("A-B")
    a = net.cores["A"]
    a.receive_update("x", UpdateNet(entries=(entry_for("a", 1, 2),)), net.now)
    a.receive_update("B", UpdateNet(entries=(entry_for("a", 1, 1),)), net.now)  # B is behind
    (to_b,) = a.flush(net.now)
    assert to_b.message.entries == (entry_for("a", 1, 2),)


@pytest.mark.parametrize("ttl_s", [5.0, 60.0])
def test_ages_travel_only_beyond_one_percent_of_the_ttl(ttl_s: float) -> None:
    config = GossipConfig(ttl_s=ttl_s)
    assert config.fresh_ms == ttl_s * 10
    for held_s, with_ages in ((ttl_s / 200, False), (ttl_s / 50, True)):
        core = GossipCore(make_entry("B"), 0.0, config)
        core.add_sibling(Sibling("C", "C", "C:1"), 0.0)
        core.flush(0.0)
        core.receive_update("x", UpdateNet(entries=(entry_for("a", 1, 1),)), 0.0)
        (send,) = core.flush(held_s)
        assert bool(send.message.ages_ms) is with_ages
        if with_ages:
            assert send.message.ages_ms == (round(held_s * 1000),)


def test_pushed_messages_carry_their_stamps_ready_made_and_equal_to_computed_ones() -> None:
    net = grid("A-B")
    a = net.cores["A"]
    a.receive_update("x", UpdateNet(entries=tuple(entry_for(o, 1, 2) for o in "abc")), net.now)
    (send,) = a.flush(net.now)
    decoded = codec.decode(codec.encode(tell(send.message, return_id="A")), codec.MSGPACK).message
    assert send.message.stamps == decoded.stamps == {e.origin: e.stamp for e in send.message.entries}


# ---------------------------------------------------------------------- repair
def test_delivery_failed_leads_to_a_digest_offer_on_the_next_sync() -> None:
    net = grid("A-B", "A-C", "A-D")
    a = net.cores["A"]
    a.delivery_failed("C")
    sends = a.sync_targets(Random(1))
    assert "C" in {s.to for s in sends}  # whichever sibling rng picks
    offer = sends_to(sends, "C")[0].message
    assert isinstance(offer, SyncGrid) and offer.digest == a.digest() and not offer.reply
    assert len(a.sync_targets(Random(0))) == 1  # then back to one random sibling


def test_a_forced_offer_is_added_to_the_random_one() -> None:
    net = grid("A-B", "A-C", "A-D")
    a = net.cores["A"]
    picked = {s.to for s in a.sync_targets(Random(7))}
    a.delivery_failed("C")
    a.delivery_failed("D")
    assert {s.to for s in a.sync_targets(Random(7))} == picked | {"C", "D"}


def test_a_push_lost_to_a_partition_is_repaired_after_heal() -> None:
    net = grid("A-B")
    net.partition({"A"})
    net.set_energy("A", 4, 0)
    net.settle()  # the push fails: A is told, B has nothing
    assert net.cores["B"].net_w == 0
    net.heal()
    net.emit("A", net.cores["A"].sync_targets(Random(0)))
    net.settle()
    assert net.nets() == {"A": 4000, "B": 4000}


def test_a_digest_is_answered_with_what_we_lack_once() -> None:
    a, b = GossipCore(make_entry("A"), 0.0, CONFIG), GossipCore(make_entry("B"), 0.0, CONFIG)
    a.receive_update("x", UpdateNet(entries=(entry_for("a", 1, 1),)), 0.0)
    b.receive_update("x", UpdateNet(entries=(entry_for("b", 1, 1),)), 0.0)
    answer = b.receive_digest("A", SyncGrid(digest=a.digest()), 0.0)
    (update,) = [s.message for s in answer if isinstance(s.message, UpdateNet)]
    (reply,) = [s.message for s in answer if isinstance(s.message, SyncGrid)]
    assert sorted(e.origin for e in update.entries) == ["B", "b"] and reply.reply
    back = a.receive_digest("B", reply, 0.0)
    assert [type(s.message) for s in back] == [UpdateNet]  # a reply is never answered with a digest
    assert sorted(e.origin for e in back[0].message.entries) == ["A", "a"]
    assert b.receive_digest("A", SyncGrid(digest=b.digest()), 0.0) == []  # in sync: silence


# ---------------------------------------------------------------------- whole grids
def test_the_original_four_node_ring_converges_to_5000_w() -> None:
    """A: 0 kW produced / 10 consumed, B: 20 / 5, C and D idle; ring A-B-D-C-A."""
    net = grid("A-B", "B-D", "D-C", "C-A")
    net.set_energy("A", 0, 10)
    net.set_energy("B", 20, 5)
    net.settle()
    assert net.nets() == {"A": 5000, "B": 5000, "C": 5000, "D": 5000}
    assert len({c.view_digest() for c in net.cores.values()}) == 1


def test_a_sync_grid_round_reaches_every_node_once() -> None:
    #   A - B - C
    #   |       |
    #   E ----- D
    net = grid("A-B", "B-C", "C-D", "D-E", "E-A")
    for origin, core in net.cores.items():  # local changes whose pushes are all lost
        core.update_self(net.now, production_w=ord(origin))
    net.flush_all()
    net.queue.clear()

    net.emit("A", net.cores["A"].join_round("r1"))
    joined: dict[str, int] = {}
    for _ in range(1000):  # bounded settle that counts the round's digests per sender
        net.flush_all()
        if not net.queue:
            break
        sender, send = net.queue[0]
        if isinstance(send.message, SyncGrid) and send.message.round == "r1":
            joined[sender] = joined.get(sender, 0) + 1
        net.deliver_one()
    assert not net.queue
    assert set(joined) == set(net.cores)
    assert joined["A"] == 2 and all(n == 1 for o, n in joined.items() if o != "A")  # all but the link it came by
    assert all(core.join_round("r1") == [] for core in net.cores.values())
    expected = sum(ord(o) for o in net.cores)
    assert net.nets() == {o: expected for o in net.cores}
    assert len({repr(sorted(c.digest().items())) for c in net.cores.values()}) == 1
