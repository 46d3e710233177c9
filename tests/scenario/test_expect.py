"""Expectations judged over hand-made recordings (pure: no nodes, no clock)."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from grid.scenario.expect import Context, evaluate
from grid.scenario.format import Expectation
from grid.scenario.plan import select
from grid.scenario.record import Applied, NodeSample, Recording, Sample

NAMES = ["a", "b", "c", "d"]
CONTEXT = Context(lambda selector: select(NAMES, selector), dispatch_ids=("d1",), settle_s=3.0)
PARSE = TypeAdapter(Expectation)


def node(gridnet_kw: float, live: int = 4, price: int = 60) -> NodeSample:
    return NodeSample(gridnet_w=round(gridnet_kw * 1000), price=price, carbon=0, live=live, stale=0, net_w=0)


def same(t: float, gridnet_kw: float, names: list[str] = NAMES, live: int | None = None) -> Sample:
    return Sample(t, {n: node(gridnet_kw, live if live is not None else len(names)) for n in names})


def judge(rec: Recording, **expectation: Any) -> tuple[bool, str]:
    outcomes = evaluate([PARSE.validate_python(expectation)], rec, CONTEXT)
    assert outcomes[0].name == "timeline ran"
    return outcomes[1].passed, outcomes[1].detail


def test_agreement_episodes_shorter_than_within_pass_longer_ones_fail() -> None:
    samples = [same(0.0, 1), same(0.5, 1)]
    samples.append(Sample(1.0, {**same(1.0, 2).nodes, "d": node(1)}))  # d lags for one sample
    samples += [same(1.5, 2), same(2.0, 2)]
    rec = Recording(samples=samples, end=2.0)
    assert judge(rec, check="agree", within=1) == (True, "longest disagreement 0.50 s over 5 samples")
    ok, detail = judge(rec, check="agree", within=0.4)
    assert not ok and detail.startswith("disagreed for 0.50 s from 1.00 s: gridnet: d 1 kW vs a 2 kW")


def test_disagreement_until_the_end_counts_to_the_end() -> None:
    rec = Recording(samples=[same(0, 1), Sample(1, {**same(1, 1).nodes, "b": node(3)})], end=4.0)
    ok, detail = judge(rec, check="agree", within=2)
    assert not ok and "for 3.00 s" in detail and "until the end" in detail


def test_tolerance_and_a_missing_node() -> None:
    rec = Recording(samples=[Sample(0, {**same(0, 1).nodes, "b": node(1.3)})], end=1)
    assert judge(rec, check="agree", within=0.5, tolerance_kw=0.5)[0]
    rec = Recording(samples=[same(0, 1), Sample(1, same(1, 1, ["a", "b", "c"]).nodes, missing=("d",))], end=3)
    ok, detail = judge(rec, check="agree", within=1)
    assert not ok and "d did not answer" in detail


def partitioned(formed_at: float, merged_at: float) -> Recording:
    """a+b and c+d split at 1 s and heal at 4 s; islands form and merge when told."""
    samples = []
    for k in range(13):
        t = k * 0.5
        if formed_at <= t < 4.0:
            nodes = {**same(t, 2, ["a", "b"]).nodes, **same(t, -2, ["c", "d"]).nodes}
        elif t < merged_at:
            nodes = same(t, 0, live=4 if t < 1 or t < formed_at else 2).nodes
        else:
            nodes = same(t, 0).nodes
        samples.append(Sample(t, nodes))
    rec = Recording(samples=samples, end=6.0)
    rec.splits = [(1.0, (("a", "b"), ("c", "d"))), (4.0, None)]
    return rec


def test_islands_form_agree_and_merge() -> None:
    ok, detail = judge(partitioned(formed_at=2.0, merged_at=4.5), check="islands")
    assert ok, detail
    assert "islands formed 1.00 s after the split (2 nodes at 2 kW, price 60, 2 nodes at -2 kW" in detail
    assert "all 4 agreed again 0.50 s after the heal" in detail


def test_islands_that_form_too_late_or_never_merge_fail() -> None:
    ok, detail = judge(partitioned(formed_at=3.5, merged_at=4.5), check="islands", within=2)
    assert not ok and "formed only 2.50 s after the split" in detail
    ok, detail = judge(partitioned(formed_at=2.0, merged_at=99), check="islands")
    assert not ok and "did not agree as a whole" in detail
    no_split = Recording(samples=[same(0, 1)], end=1)
    assert judge(no_split, check="islands") == (False, "no partition happened during the run")


def test_gridnet_and_live_at_a_time_or_the_end() -> None:
    rec = Recording(samples=[same(0, 1), same(1, 5), same(2, 5, live=3)], end=2)
    assert judge(rec, check="gridnet", equals_kw=5)[0]
    assert judge(rec, check="gridnet", equals_kw=1, at=0)[0]
    ok, detail = judge(rec, check="gridnet", equals_kw=4)
    assert not ok and detail == "a reports 5 kW at 2.0 s"
    assert judge(rec, check="live", count=4, at=1)[0]
    ok, detail = judge(rec, check="live")  # default: the nodes running then (4)
    assert not ok and "counts 3 live nodes, not 4" in detail


def test_imbalance_rms_and_ranges() -> None:
    rec = Recording(samples=[same(0, 3), same(1, -4)], end=1)
    assert judge(rec, check="imbalance_rms", below_kw=3.6)[0]  # sqrt((9 + 16) / 2) = 3.54
    assert not judge(rec, check="imbalance_rms", below_kw=3.5)[0]
    assert judge(rec, check="price", between=[0, 60])[0]
    ok, detail = judge(rec, check="price", between=[0, 59])
    assert not ok and detail == "a reports 60 at 0.0 s"


def test_acknowledged_needs_every_view_to_show_every_answer() -> None:
    rec = Recording(samples=[same(0, 1)], end=1)
    rec.dispatches = {"d1": {n: {"acknowledged": ["c", "d"], "opted_out": [], "pending": []} for n in NAMES}}
    assert judge(rec, check="acknowledged") == (True, "d1: 2 acknowledged, as 4 nodes see it")
    rec.dispatches["d1"]["b"] = {"acknowledged": ["c"], "opted_out": [], "pending": ["d"]}
    ok, detail = judge(rec, check="acknowledged")
    assert not ok and detail == "d1: as b sees it, not acknowledged by ['d']"
    assert judge(Recording(samples=[same(0, 1)]), check="acknowledged")[1] == "no node knows dispatch d1"


def test_a_failed_event_fails_the_timeline() -> None:
    rec = Recording(samples=[same(0, 1)], end=1)
    rec.events = [Applied(0.5, 0.52, "send", "a", False, "UpdateEnergy -> 400")]
    (timeline,) = evaluate([], rec, CONTEXT)
    assert not timeline.passed and "send a: UpdateEnergy -> 400" in timeline.detail


def test_default_names_are_unique() -> None:
    rec = Recording(samples=[same(0, 1)], end=1)
    twice = [PARSE.validate_python({"check": "gridnet", "equals_kw": 1})] * 2
    names = [o.name for o in evaluate(twice, rec, CONTEXT)]
    assert names == ["timeline ran", "gridnet = 1 kW at the end", "gridnet = 1 kW at the end #2"]
