"""The seeded fault plan: rates, delays, partitions, one-way cuts, determinism."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.faults import FaultPlan

N = 10_000


def outcomes(plan: FaultPlan, seed: int = 7, n: int = N, src: str = "A", dst: str = "B") -> list[list[float]]:
    rng = random.Random(seed)
    return [plan.decide(src, dst, rng) for _ in range(n)]


def test_clean_plan_delivers_everything_once_at_once() -> None:
    assert all(delays == [0.0] for delays in outcomes(FaultPlan(), n=100))


def test_drop_rate_roughly_matches() -> None:
    dropped = sum(not delays for delays in outcomes(FaultPlan(drop=0.2)))
    assert abs(dropped - 0.2 * N) < 200  # 5 standard deviations (sqrt(N*0.2*0.8) = 40)


def test_duplicate_rate_roughly_matches() -> None:
    results = outcomes(FaultPlan(drop=0.1, duplicate=0.3))
    twice = sum(len(delays) == 2 for delays in results)
    assert abs(twice - 0.9 * 0.3 * N) < 225
    assert all(len(delays) in (0, 1, 2) for delays in results)


def test_delays_within_bounds_and_sorted() -> None:
    plan = FaultPlan(duplicate=0.5, delay_ms=(10, 20))
    for delays in outcomes(plan, n=2_000):
        assert delays == sorted(delays)
        assert all(0.010 <= d <= 0.020 for d in delays)


def test_reorder_holds_back_some_messages_so_later_ones_overtake() -> None:
    plan = FaultPlan(reorder=0.25, delay_ms=(5, 5), reorder_ms=(100, 200))
    delays = [d for ds in outcomes(plan) for d in ds]
    held = [d for d in delays if d > 0.005]
    assert abs(len(held) - 0.25 * N) < 220
    assert all(0.105 <= d <= 0.205 for d in held)
    # Sent 1 ms apart, a held-back message arrives after the one sent next.
    arrivals = [i * 0.001 + d for i, d in enumerate(delays)]
    assert arrivals != sorted(arrivals)


def test_same_seed_same_decisions_other_seed_others() -> None:
    plan = FaultPlan(drop=0.1, duplicate=0.1, reorder=0.1, delay_ms=(1, 50))
    assert outcomes(plan, seed=42, n=1_000) == outcomes(plan, seed=42, n=1_000)
    assert outcomes(plan, seed=42, n=1_000) != outcomes(plan, seed=43, n=1_000)


def test_partition_cuts_both_ways_and_heal_restores() -> None:
    plan = FaultPlan().partition({"A", "B"}, {"C"})
    rng = random.Random(1)
    assert plan.decide("A", "B", rng) and plan.decide("B", "A", rng)
    for src, dst in [("A", "C"), ("C", "A"), ("B", "C"), ("C", "B")]:
        assert plan.decide(src, dst, rng) == []
    # Nodes named in no group are together, apart from every named group.
    assert plan.decide("D", "E", rng) and plan.decide("A", "D", rng) == [] and plan.decide("D", "C", rng) == []
    healed = plan.heal()
    assert all(healed.decide(s, d, rng) for s in "ABCD" for d in "ABCD")


def test_partition_replaces_the_previous_split() -> None:
    plan = FaultPlan().partition({"A"}).partition({"B"})
    assert plan.reachable("A", "C") and not plan.reachable("B", "C")


def test_one_way_cut_only_cuts_one_way() -> None:
    plan = FaultPlan().cut_one_way("A", "B")
    rng = random.Random(1)
    assert plan.decide("A", "B", rng) == []
    assert plan.decide("B", "A", rng) == [0.0]
    assert plan.decide("A", "C", rng) == [0.0]
    assert plan.heal().decide("A", "B", rng) == [0.0]


def test_cut_links_consume_no_randomness() -> None:
    plan = FaultPlan(drop=0.5).partition({"A"})
    rng, fresh = random.Random(3), random.Random(3)
    plan.decide("A", "B", rng)
    assert rng.random() == fresh.random()


def test_plans_are_frozen_values() -> None:
    plan = FaultPlan(partitions=[["A", "B"], ["C"]], one_way={("A", "C")})
    assert plan == FaultPlan(partitions=({"B", "A"}, {"C"}), one_way=[("A", "C")])
    assert hash(plan) == hash(FaultPlan(partitions=({"B", "A"}, {"C"}), one_way=[("A", "C")]))
    plan.partition({"A"})
    assert plan.partitions == (frozenset("AB"), frozenset("C"))  # the original is unchanged
    with pytest.raises(AttributeError):
        plan.drop = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"drop": -0.1},
        {"duplicate": 1.5},
        {"reorder": float("nan")},
        {"drop": True},
        {"delay_ms": (20, 10)},
        {"delay_ms": (-1, 10)},
        {"reorder_ms": (0, float("inf"))},
        {"partitions": [{"A", "B"}, {"B"}]},
        {"partitions": [set()]},
    ],
)
def test_bad_knobs_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        FaultPlan(**kwargs)  # type: ignore[arg-type]


probability = st.floats(0.0, 1.0)


@given(
    drop=probability,
    duplicate=probability,
    reorder=probability,
    lo=st.integers(0, 100),
    span=st.integers(0, 100),
    seed=st.integers(0, 2**32),
)
def test_decisions_are_always_well_formed(
    drop: float, duplicate: float, reorder: float, lo: int, span: int, seed: int
) -> None:
    plan = FaultPlan(drop=drop, duplicate=duplicate, reorder=reorder, delay_ms=(lo, lo + span), reorder_ms=(0, 50))
    for delays in outcomes(plan, seed=seed, n=20):
        assert len(delays) <= 2 and delays == sorted(delays)
        assert all(lo / 1000 <= d <= (lo + span + 50) / 1000 for d in delays)
    if drop == 1.0:
        assert all(not d for d in outcomes(plan, seed=seed, n=20))
