"""Balancing: controllers on their own view bring the grid net towards zero."""

from __future__ import annotations

import pytest

from nodes import Signals, clear_price, make_model
from nodes.balancing import (
    BatteryPolicy,
    Damping,
    battery_service_w,
    correction_w,
    plant_target_w,
    resting_w,
    share_of,
)
from nodes.manual import ManualModel

STEP_S = 10.0


def simulate(steps, prosumers=6, with_shares=True, load_step_at=None):
    """A small grid stepped in lock step; each node sees last step's view."""
    plants = [
        make_model("plant", {"max-kw": kw, "ramp-kw-per-min": ramp}) for kw, ramp in ((20, 6), (30, 12), (50, 30))
    ]
    households = [
        make_model("prosumer", {"turbines": 0, "battery-kwh": 13.5, "load-csv": "0,0.5\n"}, seed=i)
        for i in range(prosumers)
    ]
    town = ManualModel(consumption_w=60_000)
    nodes = [*plants, *households, town]
    readings = [node.step(0.0, STEP_S, Signals()) for node in nodes]
    nets = []
    for k in range(steps):
        nets.append(sum(r.net_w for r in readings))
        signals = Signals(
            grid_net_w=nets[-1],
            price=clear_price(r.offer for r in readings),
            flexible_w=sum(r.flexible_w for r in readings) if with_shares else None,
        )
        if k == load_step_at:
            town.consumption_w += 20_000
        readings = [node.step(STEP_S * (k + 1), STEP_S, signals) for node in nodes]
    return nets, households


def test_closed_loop_settles_without_oscillation():
    nets, _ = simulate(300, load_step_at=150)
    start = abs(nets[0])
    assert start > 50_000
    assert abs(nets[40]) < 0.05 * start
    assert abs(nets[149]) < 0.02 * start
    assert abs(nets[-1]) < 0.01 * start
    # No overshoot: the net approaches zero from the side it started on.
    assert max(nets) <= 0.01 * start
    # And after the load step the same.
    assert abs(nets[150 + 40]) < 0.05 * 20_000


def test_batteries_answer_first_then_hand_over_to_plants():
    nets, households = simulate(360)
    # Six 5 kW batteries took a large part of the first minutes' deficit ...
    early, _ = simulate(6)
    assert abs(early[-1]) < 0.5 * abs(early[0])
    # ... and an hour later the plants carry it: batteries are near idle.
    assert all(abs(h.service_w) < 1_000 for h in households)
    assert abs(nets[-1]) < 600


def test_without_shares_many_batteries_overshoot_together():
    """Why Signals.flexible_w matters: 20 batteries each correcting the whole net."""
    ringing, _ = simulate(40, prosumers=20, with_shares=False)
    settled, _ = simulate(40, prosumers=20, with_shares=True)
    assert max(ringing[10:]) > 10_000 and min(ringing[10:]) < -10_000
    assert max(settled) <= 600


def test_share_and_dead_band():
    assert share_of(5_000, 20_000) == 0.25
    assert share_of(5_000, None) == 1.0 and share_of(5_000, 0) == 1.0
    assert share_of(50_000, 20_000) == 1.0
    damping = Damping(gain=0.5, dead_band_w=100)
    assert correction_w(Signals(grid_net_w=-100), 1_000, damping) == 0.0
    assert correction_w(Signals(grid_net_w=-1_000, flexible_w=4_000), 1_000, damping) == 125.0
    assert correction_w(Signals(grid_net_w=1_000), 1_000, damping) == -500.0


def test_plant_target_stays_within_its_ceiling():
    damping = Damping(gain=0.5, dead_band_w=0)
    assert plant_target_w(1_000, 10_000, Signals(grid_net_w=-4_000), damping) == 3_000
    assert plant_target_w(1_000, 2_000, Signals(grid_net_w=-4_000), damping) == 2_000
    assert plant_target_w(1_000, 2_000, Signals(grid_net_w=9_000), damping) == 0


def test_battery_follows_price_rules_gradually():
    policy, damping = BatteryPolicy(buy_below=40, sell_above=120), Damping()
    limits = (4_000, 4_000)
    setpoint, path = 0.0, []
    for _ in range(8):
        setpoint = battery_service_w(setpoint, limits, 0.5, Signals(price=500), policy, damping, 1.0)
        path.append(setpoint)
    assert all(b < a for a, b in zip(path, path[1:], strict=False))  # moves steadily, no jump
    assert path[0] > -2_000 and path[-1] == pytest.approx(-2_000, abs=20)
    cheap = battery_service_w(0.0, limits, 0.5, Signals(price=10), policy, damping, 1.0)
    assert cheap > 0
    assert battery_service_w(0.0, limits, 0.5, Signals(price=80), policy, damping, 1.0) == 0.0


def test_battery_grid_support_fades_over_the_handover_time():
    policy, damping = BatteryPolicy(handover_s=600.0), Damping(dead_band_w=50)
    setpoint = -3_000.0  # still discharging for an old deficit
    path = []
    for _ in range(180):  # three handover times
        setpoint = battery_service_w(setpoint, (5_000, 5_000), 0.5, Signals(price=80), policy, damping, 10.0)
        path.append(setpoint)
    assert -3_000 < path[0] < path[60] < path[120] < path[-1] <= 0
    assert abs(path[59]) == pytest.approx(3_000 / 2.718, rel=0.05)  # e-folds per handover_s
    assert abs(path[-1]) < 0.06 * 3_000


def test_battery_keeps_its_reserve_and_stays_in_limits():
    policy, damping = BatteryPolicy(reserve=0.3), Damping()
    deficit = Signals(grid_net_w=-50_000, price=900)
    assert battery_service_w(0.0, (3_000, 3_000), 0.3, deficit, policy, damping, 1.0) == 0.0
    assert battery_service_w(0.0, (3_000, 3_000), 0.9, deficit, policy, damping, 1.0) >= -3_000
    assert resting_w((3_000, 3_000), 1.0, 10, policy) == 0.0  # full: nothing to buy


def test_bad_tuning_is_rejected():
    for bad in (dict(gain=0.0), dict(gain=1.5), dict(dead_band_w=-1), dict(smoothing=0.0)):
        with pytest.raises(ValueError):
            Damping(**bad)
    with pytest.raises(ValueError):
        BatteryPolicy(buy_below=200, sell_above=100)
    with pytest.raises(ValueError):
        BatteryPolicy(handover_s=-1)
