"""Chat routing (nodes/chatroute.py): next hops against a BFS reference, and the relay state machine."""

from __future__ import annotations

from collections import deque
from random import Random

from hypothesis import given, settings
from hypothesis import strategies as st

from nodes.chatroute import AckTo, Deliver, Dropped, Router, RouterConfig, Topology, Transmit, next_hop
from protocol.chat import Chat, ChatReceipt, ChatTyping, forwarded, relay


def line(*nodes: str, me: str, dead: set[str] = frozenset()) -> Topology:  # type: ignore[assignment]
    """The topology ``me`` sees of a line of ``nodes`` (``dead`` ones are not live)."""
    listed = {n: [m for m in nodes[max(0, i - 1) : i + 2] if m != n] for i, n in enumerate(nodes) if n not in dead}
    return Topology.from_view(me, listed, listed.get(me, []))


def reference_next_hop(topo: Topology, target: str, avoid: set[str]) -> str | None:
    """Distances from the target (BFS over allowed nodes); the nearest sibling, smallest id first."""
    if target == topo.me or target not in topo.live or target in avoid:
        return None
    allowed = topo.live - {topo.me} - avoid
    dist, queue = {target: 0}, deque([target])
    while queue:
        node = queue.popleft()
        for near in topo.links.get(node, ()):
            if near in allowed and near not in dist:
                dist[near] = dist[node] + 1
                queue.append(near)
    candidates = [(dist[s], s) for s in topo.siblings if s in allowed and s in dist]
    return min(candidates)[1] if candidates else None


@st.composite
def views(draw: st.DrawFn) -> tuple[Topology, str, set[str]]:
    """A random graph as node "0" sees it: listings (some one-sided), liveness, a target, nodes to avoid."""
    n = draw(st.integers(2, 14))
    nodes = [str(i) for i in range(n)]
    pairs = [(a, b) for i, a in enumerate(nodes) for b in nodes[i + 1 :]]
    edges = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=len(pairs))) if pairs else []
    listed: dict[str, set[str]] = {node: set() for node in nodes}
    for a, b in edges:
        side = draw(st.sampled_from(["both", "a", "b"]))  # news of a link reaches the view one side first
        if side in ("both", "a"):
            listed[a].add(b)
        if side in ("both", "b"):
            listed[b].add(a)
    live = {"0"} | set(draw(st.lists(st.sampled_from(nodes), unique=True)))
    own = {b if a == "0" else a for a, b in edges if "0" in (a, b)}
    topo = Topology.from_view("0", {node: listed[node] for node in live}, own)
    target = draw(st.sampled_from(nodes))
    avoid = set(draw(st.lists(st.sampled_from(nodes[1:]), unique=True, max_size=3)))
    return topo, target, avoid


@settings(max_examples=400, deadline=None)
@given(views())
def test_next_hop_on_random_graphs_equals_the_bfs_reference(case: tuple[Topology, str, set[str]]) -> None:
    topo, target, avoid = case
    assert next_hop(topo, target, avoid) == reference_next_hop(topo, target, avoid)


def test_a_line_routes_through_its_neighbour() -> None:
    assert next_hop(line("1", "2", "3", "4", me="4"), "1") == "3"
    assert next_hop(line("1", "2", "3", "4", me="2"), "4") == "3"
    assert next_hop(line("1", "2", "3", "4", me="3"), "4") == "4"


def test_unreachable_targets_are_detected() -> None:
    assert next_hop(line("1", "2", "3", "4", me="4", dead={"2"}), "1") is None  # cut in the middle
    assert next_hop(line("1", "2", "3", "4", me="4", dead={"1"}), "1") is None  # the target is down
    assert next_hop(line("1", "2", "3", "4", me="4"), "9") is None  # not in the view
    assert next_hop(line("1", "2", "3", "4", me="4"), "1", avoid={"3"}) is None  # the only way is avoided
    assert next_hop(line("1", "2", "3", "4", me="4"), "4") is None


def test_a_link_listed_by_one_side_only_counts() -> None:
    topo = Topology.from_view("1", {"1": ["2"], "2": [], "3": ["2"]}, ["2"])
    assert next_hop(topo, "3") == "2"


def test_ties_go_to_the_smallest_first_hop() -> None:
    #   1 - 2 - 4
    #   1 - 3 - 4
    topo = Topology.from_view("1", {"1": ["2", "3"], "2": ["4"], "3": ["4"], "4": []}, ["3", "2"])
    assert next_hop(topo, "4") == "2"


# ---------------------------------------------------------------- the relay state machine

FAST = RouterConfig(direct=False, ack_timeout_s=1.0, retry_base_s=0.5, retry_cap_s=4.0, max_attempts=5, hold_s=60)


def a_chat(seq: int = 1, sender: str = "4", to: str = "1") -> Chat:
    return Chat(chat_id=f"e-{seq}", sender=sender, to=to, text="hi", sent=1, epoch=1, seq=seq)


def test_a_relay_goes_to_the_next_hop_and_leaves_the_outbox_when_acknowledged() -> None:
    router, topo = Router("4", FAST, Random(1)), line("1", "2", "3", "4", me="4")
    effects = router.originate(relay("r1", a_chat()), 0.0, topo)
    assert effects == [Transmit("3", router.outbox["r1"].relay, 1, False)]
    assert router.next_due() == 1.0
    router.acked(["r1"])
    assert not router.outbox and router.next_due() is None


def test_every_copy_is_acknowledged_but_only_the_first_is_passed_on() -> None:
    router, topo = Router("3", FAST, Random(1)), line("1", "2", "3", "4", me="3")
    copy = relay("r1", a_chat())
    first = router.receive("4", copy, 0.0, topo)
    assert first[0] == AckTo("4", ("r1",)) and isinstance(first[1], Transmit) and first[1].to == "2"
    assert first[1].relay.route == ("4", "3") and first[1].relay.ttl == copy.ttl - 1
    assert router.receive("4", copy, 0.1, topo) == [AckTo("4", ("r1",))]


def test_the_target_delivers_and_loops_and_spent_ttl_are_dropped() -> None:
    topo = line("1", "2", "3", "4", me="1")
    effects = Router("1", FAST).receive("2", forwarded(forwarded(relay("r1", a_chat()), "3"), "2"), 0.0, topo)
    assert effects[0] == AckTo("2", ("r1",)) and isinstance(effects[1], Deliver)
    looped = forwarded(forwarded(relay("r2", a_chat(sender="4", to="9")), "2"), "3")
    assert Router("2", FAST).receive("3", looped, 0.0, line("1", "2", "3", "4", "9", me="2"))[1] == Dropped(looped, "loop")
    spent = relay("r3", a_chat(to="9")).model_copy(update={"ttl": 0})
    assert Router("3", FAST).receive("4", spent, 0.0, line("9", "2", "3", "4", me="3"))[1] == Dropped(spent, "ttl")


def test_a_failed_hop_is_avoided_and_retried_with_back_off() -> None:
    #   4 - 3 - 1        the chat goes to 3 first (smaller id), then to 5 when 3 fails
    #   4 - 5 - 1
    topo = Topology.from_view("4", {"4": ["3", "5"], "3": ["1"], "5": ["1"], "1": []}, ["3", "5"])
    router = Router("4", FAST, Random(2))
    assert router.originate(relay("r1", a_chat()), 0.0, topo)[0].to == "3"
    assert router.failed("r1", 1, 0.2, topo) == []  # waiting out the back-off
    due = router.next_due()
    assert due is not None and 0.2 + 0.375 <= due <= 0.2 + 0.625
    retry = router.tick(due, topo)
    assert [(e.to, e.attempt) for e in retry] == [("5", 2)]
    assert router.failed("r1", 1, due, topo) == []  # a stale failure report changes nothing


def test_no_acknowledgement_in_time_counts_as_a_failure() -> None:
    router, topo = Router("4", FAST, Random(3)), line("1", "2", "3", "4", me="4")
    router.originate(relay("r1", a_chat()), 0.0, topo)
    assert router.tick(0.9, topo) == []
    assert router.tick(1.0, topo) == []  # failed: back-off, then the only way again
    retry = router.tick(router.next_due(), topo)  # type: ignore[arg-type]
    assert [(e.to, e.attempt) for e in retry] == [("3", 2)]


def test_direct_first_then_hop_by_hop_after_a_direct_failure() -> None:
    router, topo = Router("4", RouterConfig(direct=True), Random(4)), line("1", "2", "3", "4", me="4")
    first = router.originate(relay("r1", a_chat()), 0.0, topo)
    assert [(e.to, e.direct) for e in first] == [("1", True)]
    router.failed("r1", 1, 0.1, topo)
    again = router.tick(router.next_due(), topo)  # type: ignore[arg-type]
    assert [(e.to, e.direct) for e in again] == [("3", False)]
    # Later chats skip the direct address for a while, and try it again afterwards.
    assert [e.to for e in router.originate(relay("r2", a_chat(2)), 5.0, topo)] == ["3"]
    assert [e.to for e in router.originate(relay("r3", a_chat(3)), 40.0, topo)] == ["1"]


def test_a_relay_for_an_offline_target_is_held_until_the_target_is_back() -> None:
    router = Router("4", FAST, Random(5))
    down = line("1", "2", "3", "4", me="4", dead={"1"})
    assert router.originate(relay("r1", a_chat()), 0.0, down) == []
    assert router.waiting_for() == {"1"} and router.tick(3.0, down) == []
    back = router.wake({"1"}, 7.0, line("1", "2", "3", "4", me="4"))
    assert [(e.to, e.attempt) for e in back] == [("3", 1)]


def test_patience_runs_out() -> None:
    router, topo = Router("4", FAST, Random(6)), line("1", "2", "3", "4", me="4")
    router.originate(relay("r1", a_chat()), 0.0, topo)
    now, dropped = 0.0, []
    for _ in range(50):
        now = router.next_due() or now
        dropped += [e for e in router.tick(now, topo) if isinstance(e, Dropped)]
        if not router.outbox:
            break
    assert [d.reason for d in dropped] == ["gave_up"] and not router.outbox


def test_typing_is_never_held_and_gets_two_tries() -> None:
    router = Router("4", FAST, Random(7))
    signal = ChatTyping(sender="4", to="1", at=1)
    assert router.originate(relay("t1", signal), 0.0, line("1", "2", "3", "4", me="4", dead={"1"}))[0].reason == "unreachable"
    topo = line("1", "2", "3", "4", me="4")
    router.originate(relay("t2", signal), 0.0, topo)
    assert [e.attempt for e in router.failed("t2", 1, 0.1, topo)] == [2]  # at once
    assert [type(e) for e in router.failed("t2", 2, 0.2, topo)] == [Dropped]


def test_a_newer_relay_with_the_same_key_replaces_the_waiting_one() -> None:
    router = Router("1", FAST, Random(8))
    down = line("1", "2", "3", "4", me="1", dead={"4"})
    for n, relay_id in enumerate(("a", "b")):
        router.originate(relay(relay_id, ChatReceipt(sender="1", to="4", epoch=1, delivered=n)), 0.0, down, key="r:4")
    assert list(router.outbox) == ["b"] and router.holds("r:4")
    router.acked(["b"])
    assert not router.holds("r:4")
