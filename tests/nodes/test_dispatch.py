"""How a node responds to dispatches: curtailment, auto-acks, event rules."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodes.dispatch import (
    DispatchRequest,
    NetBelow,
    PriceAbove,
    RuleEngine,
    RuleState,
    binding,
    curtailment_w,
    pending_acks,
    unanswered,
)
from protocol.dispatch import (
    Acknowledge,
    cancelled,
    Dispatch,
    Enrolment,
    modified,
    public_key_from_seed,
    sign_dispatch,
    verify_dispatch,
)
from protocol.dispatch_book import DispatchBook, merge_ack, merge_dispatch

MIN = 60_000
START, END = 100 * MIN, 160 * MIN
ENROLLED = (Enrolment(program_id="p1", channels=("events", "webhook"), offered_kw=3.0),)


def dispatch(**changes: object) -> Dispatch:
    fields: dict[str, Any] = {
        "dispatch_id": "d1",
        "program_id": "p1",
        "event_type": "curtail",
        "start_time": START,
        "end_time": END,
        "curtailment_kw": 2.0,
        "issuer": "op",
    }
    fields.update(changes)
    return Dispatch.model_validate(fields)


def book_with(*things: Dispatch | Acknowledge) -> DispatchBook:
    book = DispatchBook()
    for thing in things:
        book = merge_dispatch(book, thing) if isinstance(thing, Dispatch) else merge_ack(book, thing)
    return book


def shed(book: DispatchBook, now_ms: int, *, node: str = "n1", enrolments=ENROLLED, consumption_w: int = 10_000) -> int:
    return curtailment_w(book, node, enrolments, now_ms, consumption_w)


# --- curtailment -----------------------------------------------------------------


def test_sheds_only_inside_the_window() -> None:
    book = book_with(dispatch())
    assert [shed(book, t) for t in (START - 1, START, END - 1, END)] == [0, 2000, 2000, 0]


def test_open_ended_runs_until_cancelled() -> None:
    open_ended = dispatch(end_time=None)
    book = book_with(open_ended)
    assert shed(book, START + 10_000 * MIN) == 2000
    book = merge_dispatch(book, cancelled(open_ended))
    assert shed(book, START + 10_000 * MIN) == 0


def test_cancel_stops_curtailment_and_a_stale_copy_does_not_restart_it() -> None:
    first = dispatch()
    book = book_with(first, cancelled(first), first)
    assert shed(book, START + MIN) == 0


def test_modification_changes_what_is_shed() -> None:
    first = dispatch()
    book = book_with(first, modified(first, curtailment_kw=1.0, end_time=END + 60 * MIN))
    assert shed(book, START) == 1000
    assert shed(book, END + 30 * MIN) == 1000


def test_capped_by_consumption_and_offer() -> None:
    book = book_with(dispatch(curtailment_kw=50.0))
    assert shed(book, START) == 3000  # the enrolled offer
    assert shed(book, START, consumption_w=1200) == 1200
    assert shed(book, START, consumption_w=0) == 0
    assert shed(book, START, consumption_w=-500) == 0


def test_targeting() -> None:
    book = book_with(dispatch(targets=("n2",)))
    assert shed(book, START, node="n1") == 0  # enrolled but not targeted
    assert shed(book, START, node="n2", enrolments=()) == 2000  # targeted, not enrolled: no offer cap
    program_wide = book_with(dispatch())
    assert shed(program_wide, START, enrolments=()) == 0
    assert shed(program_wide, START, enrolments=(Enrolment(program_id="p2", offered_kw=9),)) == 0


def test_overlapping_dispatches_take_the_largest_request() -> None:
    book = book_with(dispatch(curtailment_kw=1.0), dispatch(dispatch_id="d2", curtailment_kw=2.5))
    assert shed(book, START) == 2500
    assert [d.dispatch_id for d in binding(book, "n1", ENROLLED, START)] == ["d1", "d2"]


def test_opt_out_and_test_events_shed_nothing() -> None:
    opt_out = Acknowledge(dispatch_id="d1", modification_number=0, node_id="n1", response="opt_out", at=1)
    assert shed(book_with(dispatch(), opt_out), START) == 0
    assert shed(book_with(dispatch(event_type="test")), START) == 0


# --- acknowledgements -----------------------------------------------------------------


def test_auto_ack_policies() -> None:
    book = book_with(dispatch())
    [answer] = pending_acks(book, "n1", "opt_in", START - MIN, ENROLLED)
    assert (answer.dispatch_id, answer.modification_number, answer.node_id) == ("d1", 0, "n1")
    assert (answer.response, answer.at) == ("ack", START - MIN)
    assert [a.response for a in pending_acks(book, "n1", "opt_out", START, ENROLLED)] == ["opt_out"]
    assert pending_acks(book, "n1", "manual", START, ENROLLED) == []
    assert [d.dispatch_id for d in unanswered(book, "n1", START, ENROLLED)] == ["d1"]


def test_answered_dispatches_are_not_pending_until_modified() -> None:
    first = dispatch()
    book = book_with(first)
    book = merge_ack(book, pending_acks(book, "n1", "opt_in", START, ENROLLED)[0])
    assert pending_acks(book, "n1", "opt_in", START, ENROLLED) == []
    book = merge_dispatch(book, modified(first, curtailment_kw=1.0))
    [again] = pending_acks(book, "n1", "opt_in", START + MIN, ENROLLED)
    assert again.modification_number == 1


def test_nothing_owed_for_cancelled_ended_or_foreign_dispatches() -> None:
    book = book_with(cancelled(dispatch()), dispatch(dispatch_id="d2", targets=("n9",)))
    assert pending_acks(book, "n1", "opt_in", START, ENROLLED) == []
    assert pending_acks(book_with(dispatch()), "n1", "opt_in", END, ENROLLED) == []
    assert pending_acks(book_with(dispatch()), "n1", "opt_in", START, ()) == []


# --- event rules: hand-written timelines ------------------------------------------------


def price_rule(**changes: object) -> PriceAbove:
    fields: dict[str, Any] = {
        "rule_id": "hot",
        "program_id": "p1",
        "threshold": 300,
        "for_minutes": 15,
        "dispatch_minutes": 60,
        "curtailment_kw": 2.0,
    }
    fields.update(changes)
    return PriceAbove(**fields)


Timeline = Sequence[tuple[int, int | None]]


def fired_at(engine: RuleEngine, timeline: Timeline, net: bool = False) -> list[int]:
    """Feed (minute, value) pairs; return the indices of observations that requested a dispatch.

    The value is the price, or with ``net`` the grid net in watts.
    """
    fired = []
    for index, (minute, value) in enumerate(timeline):
        price, grid_net_w = (None, value) if net else (value, None)
        engine, requests = engine.observe(minute * MIN, price, grid_net_w)
        fired += [index for _ in requests]
    return fired


def run(engine: RuleEngine, timeline: Timeline, net: bool = False) -> list[int]:
    """The minutes at which a dispatch was requested."""
    return [timeline[i][0] for i in fired_at(engine, timeline, net)]


def test_fires_once_when_the_condition_holds_for_its_duration() -> None:
    engine = RuleEngine((price_rule(),))
    timeline = [(m, 350) for m in range(0, 60, 5)]
    assert run(engine, timeline) == [15]


def test_the_request_describes_the_dispatch() -> None:
    engine, requests = RuleEngine((price_rule(),)).observe(0, 400, None)
    assert requests == []
    engine, [request] = engine.observe(15 * MIN, 400, None)
    assert request == DispatchRequest(
        rule_id="hot",
        dispatch_id=f"rule.hot.{15 * MIN}",
        program_id="p1",
        event_type="price",
        start_time=15 * MIN,
        end_time=75 * MIN,
        curtailment_kw=2.0,
        targets=(),
        message="",
    )
    seed = bytes(32)
    d = sign_dispatch(request.to_dispatch("op"), seed)
    verify_dispatch(d, {"op": public_key_from_seed(seed)})


def test_a_break_in_the_condition_restarts_the_wait() -> None:
    timeline = [(0, 350), (10, 350), (12, 290), (14, 350), (25, 350), (29, 350), (30, 350)]
    assert run(RuleEngine((price_rule(),)), timeline) == [29]


def test_hysteresis_dead_band_does_not_rearm() -> None:
    rule = price_rule(clear_below=250, for_minutes=0)
    timeline = [(0, 350), (1, 280), (2, 350), (3, 260), (4, 350), (5, 250), (6, 350)]
    assert run(RuleEngine((rule,)), timeline) == [0, 6]


def test_cooldown_delays_the_next_episode() -> None:
    rule = price_rule(for_minutes=5, cooldown_minutes=60)
    timeline = [(0, 400), (5, 400), (10, 100), (20, 400), (30, 400), (64, 400), (65, 400)]
    timeline += [(70, 100), (80, 400), (85, 400)]  # the third episode is still cooling down at 85
    assert run(RuleEngine((rule,)), timeline) == [5, 65]


def test_net_below_with_hysteresis() -> None:
    rule = NetBelow(
        rule_id="short",
        program_id="p1",
        threshold_kw=-50,
        clear_above_kw=-10,
        for_minutes=10,
        dispatch_minutes=30,
        curtailment_kw=5,
    )
    timeline = [(0, -60_000), (10, -55_000), (20, -40_000), (30, -60_000), (40, -5_000), (50, -70_000), (60, -70_000)]
    assert run(RuleEngine((rule,)), timeline, net=True) == [10, 60]


def test_unknown_values_break_the_wait_but_do_not_clear() -> None:
    rule = price_rule(for_minutes=10)
    assert run(RuleEngine((rule,)), [(0, 400), (5, None), (10, 400), (20, 400)]) == [20]
    assert run(RuleEngine((rule,)), [(0, 400), (10, 400), (11, None), (12, 400), (30, 400)]) == [10]


def test_old_observations_are_ignored_and_engines_are_values() -> None:
    start = RuleEngine((price_rule(for_minutes=0),))
    later, fired = start.observe(10 * MIN, 400, None)
    assert len(fired) == 1 and start.states == {} and start.last_ms is None
    same, none = later.observe(5 * MIN, 100, None)
    assert same is later and none == []
    assert later.states["hot"] == RuleState(latched=True, last_fired=10 * MIN)


def test_several_rules_fire_independently_in_rule_order() -> None:
    engine = RuleEngine((price_rule(rule_id="b", for_minutes=0), price_rule(rule_id="a", threshold=100, for_minutes=0)))
    _, requests = engine.observe(0, 400, None)
    assert [r.rule_id for r in requests] == ["b", "a"]


@pytest.mark.parametrize(
    "changes",
    [
        {"clear_below": 301},
        {"for_minutes": -1},
        {"dispatch_minutes": 0},
        {"cooldown_minutes": float("nan")},
        {"curtailment_kw": -2},
        {"threshold": float("inf")},
        {"rule_id": "has space"},
        {"rule_id": "r" * 101},
        {"event_type": "party"},
        {"targets": ("bad id",)},
    ],
)
def test_invalid_rules_are_refused(changes: dict) -> None:
    with pytest.raises(ValueError):
        price_rule(**changes)


def test_duplicate_rule_ids_are_refused() -> None:
    with pytest.raises(ValueError):
        RuleEngine((price_rule(), price_rule()))


# --- event rules: property -----------------------------------------------------------------

THRESHOLD = 5


@settings(max_examples=200, deadline=None)
@given(
    # Values around the threshold and the clear level, so episodes start and end often.
    steps=st.lists(st.tuples(st.integers(0, 6), st.sampled_from([None, 0, 2, 4, 5, 6, 8])), min_size=3, max_size=50),
    clear_below=st.integers(0, THRESHOLD),
    for_minutes=st.integers(0, 12),
    cooldown=st.integers(0, 30),
)
def test_rules_fire_once_per_episode_after_duration_and_cooldown(steps, clear_below, for_minutes, cooldown) -> None:
    rule = price_rule(threshold=THRESHOLD, clear_below=clear_below, for_minutes=for_minutes, cooldown_minutes=cooldown)
    times, values, minute = [], [], 0
    for dt, value in steps:
        minute += dt
        times.append(minute)
        values.append(value)
    fired = fired_at(RuleEngine((rule,)), list(zip(times, values, strict=True)))
    assert len(set(fired)) == len(fired)  # one rule, at most one request per observation
    holds = [rule.holds(v, None) for v in values]
    clears = [rule.clears(v, None) for v in values]

    def run_start(k: int) -> int:
        j = k
        while j > 0 and holds[j - 1]:
            j -= 1
        return j

    for k in fired:  # safety: only after holding for the whole duration
        assert holds[k] and times[k] - times[run_start(k)] >= for_minutes
    for f1, f2 in pairwise(fired):  # once per episode, and not during cool-down
        assert any(clears[f1 + 1 : f2])
        assert times[f2] - times[f1] >= cooldown
    for k in range(len(values)):  # liveness: a due episode does fire
        if not holds[k] or times[k] - times[run_start(k)] < for_minutes:
            continue
        j = run_start(k)
        before = [f for f in fired if f < j]
        rearmed = not before or any(clears[before[-1] + 1 : j])
        cooled = not before or times[k] - times[before[-1]] >= cooldown
        if rearmed and cooled:
            assert any(j <= f <= k for f in fired)
