"""Battery: state of charge bounds, power limits, energy balance."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodes.battery import Battery, BatterySpec, step_battery

specs = st.builds(
    BatterySpec,
    capacity_wh=st.floats(0, 100_000),
    max_charge_w=st.integers(0, 20_000),
    max_discharge_w=st.integers(0, 20_000),
    round_trip_efficiency=st.floats(0.5, 1.0),
)
steps = st.lists(st.tuples(st.integers(-50_000, 50_000), st.floats(0, 7200)), max_size=40)


@given(specs, st.floats(0, 1), steps)
def test_soc_stays_in_bounds_and_energy_is_conserved(spec, soc, sequence):
    battery = Battery(spec, soc)
    start_wh = battery.soc_wh
    charged_wh = discharged_wh = 0.0
    for requested, dt_s in sequence:
        actual = battery.step(requested, dt_s)
        assert 0.0 <= battery.soc_wh <= spec.capacity_wh
        assert -spec.max_discharge_w <= actual <= spec.max_charge_w
        assert abs(actual) <= abs(requested) and actual * requested >= 0
        if actual > 0:
            charged_wh += actual * dt_s / 3600
        else:
            discharged_wh -= actual * dt_s / 3600
    balance = charged_wh - discharged_wh - (battery.soc_wh - start_wh) - battery.losses_wh
    assert math.isclose(balance, 0.0, abs_tol=1e-6 * (1 + charged_wh + discharged_wh + spec.capacity_wh))


def test_a_full_cycle_returns_the_round_trip_efficiency():
    spec = BatterySpec(capacity_wh=10_000, max_charge_w=5_000, max_discharge_w=5_000, round_trip_efficiency=0.81)
    battery = Battery(spec, 0.0)
    assert battery.step(5_000, 3600) == 5_000  # 5 kWh in, 4.5 kWh stored
    assert math.isclose(battery.soc_wh, 4_500)
    delivered_wh = 0.0
    while (power := battery.step(-5_000, 60)) != 0:
        delivered_wh -= power * 60 / 3600
    assert math.isclose(delivered_wh, 0.81 * 5_000, rel_tol=1e-3)


def test_limits_cut_requests():
    battery = Battery(BatterySpec(capacity_wh=1_000, max_charge_w=2_000, max_discharge_w=1_000), 1.0)
    assert battery.step(500, 60) == 0  # full
    assert battery.step(-9_000, 60) == -1_000  # discharge limit
    empty = Battery(BatterySpec(capacity_wh=1_000), 0.0)
    assert empty.step(-100, 60) == 0
    assert empty.step(9_000, 60) == 5_000  # charge limit


def test_last_step_is_cut_to_the_room_left():
    spec = BatterySpec(capacity_wh=100, max_charge_w=10_000, round_trip_efficiency=1.0)
    result = step_battery(spec, 90.0, 10_000, 3600)
    assert result.power_w == 10
    assert result.soc_wh == pytest.approx(100.0)


def test_zero_step_changes_nothing_and_bad_input_fails():
    battery = Battery(BatterySpec(), 0.5)
    before = battery.soc_wh
    battery.step(3_000, 0.0)
    assert battery.soc_wh == before
    with pytest.raises(ValueError):
        battery.step(1, -1.0)
    with pytest.raises(ValueError):
        Battery(BatterySpec(), 1.5)
    with pytest.raises(ValueError):
        BatterySpec(round_trip_efficiency=0)
