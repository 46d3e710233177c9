"""Plant: ramp limits, controls, offer."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodes.balancing import Damping
from nodes.model import Signals
from nodes.plant import PlantControls, PlantModel, PlantSpec, next_output_w, ramp_toward

SPEC = PlantSpec(max_kw=100.0, ramp_kw_per_min=6.0, marginal_cost=60, emissions=820)  # 100 W/s

controls = st.builds(PlantControls, on=st.booleans(), ratio=st.floats(0, 1), auto=st.booleans())
steps = st.lists(st.tuples(controls, st.floats(0, 600), st.integers(-(10**6), 10**6)), min_size=1, max_size=30)


@given(steps)
def test_output_respects_the_ramp_and_the_capacity(sequence):
    plant = PlantModel(SPEC)
    for new_controls, dt_s, net_w in sequence:
        plant.controls = new_controls
        before = plant.output_w
        reading = plant.step(0.0, dt_s, Signals(grid_net_w=net_w))
        assert abs(plant.output_w - before) <= SPEC.ramp_w_per_s * dt_s + 1e-6
        assert 0.0 <= plant.output_w <= SPEC.max_w
        assert reading.production_w >= 0 and reading.consumption_w == 0


def test_manual_plant_ramps_to_capacity_times_ratio():
    plant = PlantModel(SPEC, PlantControls(on=True, ratio=0.5, auto=False))
    outputs = [plant.step(60.0 * i, 60.0, Signals()).production_w for i in range(12)]
    assert outputs[:5] == [6_000, 12_000, 18_000, 24_000, 30_000]
    assert outputs[-1] == 50_000


def test_switching_off_ramps_down_to_zero():
    plant = PlantModel(SPEC, PlantControls(auto=False), output_w=30_000)
    plant.control(on=False)
    assert plant.step(0.0, 60.0, Signals()).production_w == 24_000
    for _ in range(10):
        reading = plant.step(0.0, 60.0, Signals())
    assert reading.production_w == 0 and reading.offer == ()


def test_auto_plant_covers_a_deficit_within_its_ratio():
    plant = PlantModel(SPEC, PlantControls(ratio=0.4))
    for _ in range(200):
        net = 20_000 + round(plant.output_w) - 30_000  # load 30 kW, other supply 20 kW
        plant.step(0.0, 10.0, Signals(grid_net_w=net))
    assert plant.output_w == pytest.approx(10_000, abs=60)
    for _ in range(200):
        net = 20_000 + round(plant.output_w) - 90_000  # more than it may give
        plant.step(0.0, 10.0, Signals(grid_net_w=net))
    assert plant.output_w == pytest.approx(40_000)


def test_reading_carries_offer_emissions_and_flexibility():
    reading = PlantModel(SPEC, PlantControls(ratio=0.5)).step(0.0, 1.0, Signals())
    assert reading.offer == ((-50_000, 60),)
    assert reading.emissions == 820 and reading.source == "own"
    assert reading.flexible_w == 50_000
    assert PlantModel(SPEC, PlantControls(auto=False)).step(0.0, 1.0, Signals()).flexible_w == 0


def test_ramp_toward_and_validation():
    assert ramp_toward(0.0, 500.0, 10.0, 20.0) == 200.0
    assert ramp_toward(500.0, 0.0, 10.0, 100.0) == 0.0
    with pytest.raises(ValueError):
        PlantSpec(ramp_kw_per_min=0.0)
    with pytest.raises(ValueError):
        PlantControls(ratio=1.5)
    with pytest.raises(ValueError):
        ramp_toward(0.0, 1.0, 1.0, -1.0)


def test_next_output_is_a_pure_function():
    controls, damping = PlantControls(ratio=0.5), Damping(gain=0.5, dead_band_w=0)
    deficit = Signals(grid_net_w=-20_000)
    assert next_output_w(SPEC, controls, 0.0, deficit, damping, 60.0) == 6_000  # ramp-limited
    assert next_output_w(SPEC, controls, 0.0, deficit, damping, 3600.0) == 10_000  # half the deficit
    assert next_output_w(SPEC, controls, 45_000.0, deficit, damping, 3600.0) == 50_000  # ceiling
    manual = PlantControls(ratio=0.5, auto=False)
    assert next_output_w(SPEC, manual, 0.0, deficit, damping, 3600.0) == 50_000
