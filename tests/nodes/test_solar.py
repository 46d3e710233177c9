"""Sun position and solar panel output."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodes.solar import SolarArray, clear_sky_irradiance, cloud_factor, solar_elevation_deg

MIDSUMMER_NOON = datetime(2024, 6, 21, 12, 0, tzinfo=timezone.utc)


def test_elevation_matches_the_textbook_values():
    # At solar noon the elevation is 90 - latitude + declination (+-23.44).
    assert solar_elevation_deg(MIDSUMMER_NOON, 52.0, 0.0) == pytest.approx(61.44, abs=0.3)
    assert solar_elevation_deg(datetime(2024, 12, 21, 12), 52.0, 0.0) == pytest.approx(14.56, abs=0.3)
    assert solar_elevation_deg(datetime(2024, 3, 20, 12), 0.0, 0.0) == pytest.approx(90.0, abs=2.5)


def test_solar_noon_moves_with_longitude():
    east = [solar_elevation_deg(MIDSUMMER_NOON + timedelta(minutes=m), 52.0, 15.0) for m in range(-120, 121, 5)]
    best = max(range(len(east)), key=east.__getitem__)
    assert -70 <= best * 5 - 120 <= -50  # 15 degrees east: an hour earlier


def test_panels_are_dark_at_night_and_bright_at_noon_in_summer():
    panels = SolarArray(peak_kw=4.0, latitude=52.0, longitude=0.0)
    assert panels.power_w(MIDSUMMER_NOON.replace(hour=0), cloud=0.0) == 0.0
    noon = panels.power_w(MIDSUMMER_NOON, cloud=0.0)
    assert 0.7 * 4000 < noon <= 4000


@given(st.integers(0, 365 * 24 - 1), st.floats(0, 1))
def test_output_is_bounded_and_clouds_only_reduce_it(hour, cloud):
    panels = SolarArray(peak_kw=4.0, latitude=52.0, longitude=5.0)
    moment = datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(hours=hour)
    clear = panels.power_w(moment, 0.0)
    assert 0.0 <= panels.power_w(moment, cloud) <= clear <= 4000


def test_irradiance_and_cloud_models():
    assert clear_sky_irradiance(-5.0) == 0.0
    assert clear_sky_irradiance(90.0) == pytest.approx(1037, abs=2)
    assert cloud_factor(0.0) == 1.0
    assert cloud_factor(1.0) == pytest.approx(0.25)
    assert SolarArray(0.0, 52.0, 0.0).power_w(MIDSUMMER_NOON, 0.0) == 0.0
    with pytest.raises(ValueError):
        SolarArray(1.0, 100.0, 0.0)
