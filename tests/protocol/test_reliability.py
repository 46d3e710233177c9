"""Convergence under faults, on the pure gossip core with a simulated clock (tests/protocol/faultnet.py).

A 20-node grid (a ring plus 10 random chords) with the design's timing
(heartbeat 1 s, TTL 5 s, sync 2 s), every link dropping, duplicating and
reordering the same share of messages:

- after readings stop changing, every node holds exactly the last accepted
  reading of every node and reports the model's net: nothing accepted is lost;
- split into two halves for 30 s, each half agrees on its own island; after
  the heal every node agrees on everything issued on either side.

The figures for docs/reliability.md come from ``python -m bench.reliability``,
which runs the same scenarios over several seeds.
"""

from __future__ import annotations

import pytest

from .faultnet import change_readings, grid20, nothing_lost

N = 20
LOSSES = [0.0, 0.1, 0.3]


@pytest.mark.parametrize("loss", LOSSES)
def test_grid_converges_to_the_exact_net_after_changes_stop(loss: float) -> None:
    net, ids, rng = grid20(loss, seed=11)
    change_readings(net, ids, rng, seconds=5.0)
    settle_s = net.run_until_agreed(limit_s=30.0)
    assert settle_s is not None, "no agreement within 30 simulated seconds"
    assert nothing_lost(net, ids, ids)
    expected = sum(p - c for p, c in net.model.values())
    assert {core.net_w for core in net.cores.values()} == {expected}


@pytest.mark.parametrize("loss", LOSSES)
def test_partition_for_30_s_gives_two_islands_then_heals_into_one_grid(loss: float) -> None:
    net, ids, rng = grid20(loss, seed=23)
    left, right = set(ids[: N // 2]), set(ids[N // 2 :])
    start = net.now
    net.plan = net.plan.partition(left, right)
    change_readings(net, ids, rng, seconds=10.0)  # both sides keep accepting readings
    assert net.run_until_agreed(limit_s=start + 30.0 - net.now, islands=[left, right]) is not None
    assert nothing_lost(net, sorted(left), sorted(left)) and nothing_lost(net, sorted(right), sorted(right))
    net.run_until(start + 30.0)
    net.plan = net.plan.heal()
    heal_s = net.run_until_agreed(limit_s=30.0)
    assert heal_s is not None, "the halves did not merge back within 30 simulated seconds"
    assert nothing_lost(net, ids, ids)


def test_a_one_way_cut_is_repaired_around_it() -> None:
    """n00 never hears n01 directly; it learns n01's readings through the rest of the ring."""
    net, ids, rng = grid20(0.0, seed=5)
    net.plan = net.plan.cut_one_way("n01", "n00")
    net.set_energy("n01", 7000, 1000)
    assert net.run_until_agreed(limit_s=10.0) is not None
    assert net.cores["n00"].view["n01"].production_w == 7000


def test_same_seed_same_run() -> None:
    """Fault runs are reproducible: a failure can be replayed exactly."""
    runs = []
    for _ in range(2):
        net, ids, rng = grid20(0.3, seed=99)
        change_readings(net, ids, rng, seconds=2.0)
        runs.append((net.delivered, {o: c.me.version for o, c in net.cores.items()}))
    assert runs[0] == runs[1]
