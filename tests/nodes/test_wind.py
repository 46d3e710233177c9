"""Wind turbine power curve."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodes.wind import TurbineCurve, WindFarm

CURVE = TurbineCurve(rated_kw=3.0, cut_in_ms=3.0, rated_ms=11.0, cut_out_ms=25.0)


@given(st.floats(0, 3.0, exclude_max=True) | st.floats(25.0, 80, exclude_min=True))
def test_nothing_below_cut_in_or_above_cut_out(wind_ms):
    assert CURVE.power_w(wind_ms) == 0.0


@given(st.floats(11.0, 25.0))
def test_rated_between_rated_speed_and_cut_out(wind_ms):
    assert CURVE.power_w(wind_ms) == 3_000.0


@given(st.floats(3.0, 25.0), st.floats(3.0, 25.0))
def test_monotone_within_the_operating_range(a, b):
    low, high = sorted((a, b))
    assert CURVE.power_w(low) <= CURVE.power_w(high)


def test_cubic_between_cut_in_and_rated():
    middle = 7.0
    expected = 3_000 * (middle**3 - 27) / (11**3 - 27)
    assert CURVE.power_w(middle) == pytest.approx(expected)
    assert CURVE.power_w(3.0) == 0.0


def test_a_farm_adds_its_turbines():
    assert WindFarm(CURVE, 4).power_w(12.0) == 12_000.0
    assert WindFarm(CURVE, 0).power_w(12.0) == 0.0


def test_inconsistent_curves_are_rejected():
    with pytest.raises(ValueError):
        TurbineCurve(cut_in_ms=12.0, rated_ms=11.0)
    with pytest.raises(ValueError):
        TurbineCurve(rated_kw=-1.0)
    with pytest.raises(ValueError):
        WindFarm(CURVE, -1)
