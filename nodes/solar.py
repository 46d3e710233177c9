"""Solar panels: output from the sun's elevation and the cloud cover.

Sun position: the NOAA general solar position equations (Spencer's Fourier
series for the declination and the equation of time), accurate to a fraction of
a degree, which is far below what matters for power.

Irradiance: Haurwitz's clear-sky model ``GHI = 1098 * sin(e) * exp(-0.057 /
sin(e))`` W/m2, reduced by cloud cover ``C`` with Kasten and Czeplak's factor
``1 - 0.75 * C**3.4``. Panels are treated as horizontal-equivalent: their peak
power is delivered at 1000 W/m2 times a performance ratio for inverter, wiring
and heat losses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .units import WATTS_PER_KW, Instant, to_utc

STC_IRRADIANCE = 1000.0  # W/m2 at which peak (nameplate) power is rated


def solar_elevation_deg(now: Instant, latitude: float, longitude: float) -> float:
    """Elevation of the sun above the horizon in degrees (negative at night)."""
    utc = to_utc(now)
    minutes = utc.hour * 60 + utc.minute + utc.second / 60 + utc.microsecond / 6e7
    days_in_year = 366 if _is_leap(utc.year) else 365
    gamma = 2 * math.pi / days_in_year * (utc.timetuple().tm_yday - 1 + (minutes / 60 - 12) / 24)
    true_solar_minutes = minutes + _equation_of_time_min(gamma) + 4.0 * longitude
    hour_angle = math.radians(true_solar_minutes / 4.0 - 180.0)
    lat, decl = math.radians(latitude), _declination_rad(gamma)
    cos_zenith = math.sin(lat) * math.sin(decl) + math.cos(lat) * math.cos(decl) * math.cos(hour_angle)
    return 90.0 - math.degrees(math.acos(max(-1.0, min(1.0, cos_zenith))))


def _equation_of_time_min(gamma: float) -> float:
    return 229.18 * (
        0.000075
        + 0.001868 * math.cos(gamma)
        - 0.032077 * math.sin(gamma)
        - 0.014615 * math.cos(2 * gamma)
        - 0.040849 * math.sin(2 * gamma)
    )


def _declination_rad(gamma: float) -> float:
    return (
        0.006918
        - 0.399912 * math.cos(gamma)
        + 0.070257 * math.sin(gamma)
        - 0.006758 * math.cos(2 * gamma)
        + 0.000907 * math.sin(2 * gamma)
        - 0.002697 * math.cos(3 * gamma)
        + 0.00148 * math.sin(3 * gamma)
    )


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def clear_sky_irradiance(elevation_deg: float) -> float:
    """Global horizontal irradiance under a clear sky, W/m2 (Haurwitz)."""
    if elevation_deg <= 0:
        return 0.0
    sin_e = math.sin(math.radians(elevation_deg))
    return 1098.0 * sin_e * math.exp(-0.057 / sin_e)


def cloud_factor(cloud: float) -> float:
    """Share of clear-sky irradiance left under cloud cover in [0, 1]."""
    cover = min(1.0, max(0.0, cloud))
    return 1.0 - 0.75 * cover**3.4


@dataclass(frozen=True, slots=True)
class SolarArray:
    """Panels of ``peak_kw`` nameplate power at one position."""

    peak_kw: float
    latitude: float
    longitude: float
    performance_ratio: float = 0.85

    def __post_init__(self) -> None:
        if self.peak_kw < 0 or not 0 < self.performance_ratio <= 1:
            raise ValueError("peak_kw must be >= 0 and performance_ratio in (0, 1]")
        if not (-90 <= self.latitude <= 90 and -180 <= self.longitude <= 180):
            raise ValueError(f"no such position: {self.latitude}, {self.longitude}")

    def power_w(self, now: Instant, cloud: float) -> float:
        """AC output in W at ``now`` under cloud cover ``cloud``."""
        if self.peak_kw == 0:
            return 0.0
        elevation = solar_elevation_deg(now, self.latitude, self.longitude)
        irradiance = clear_sky_irradiance(elevation) * cloud_factor(cloud)
        share = min(1.0, irradiance / STC_IRRADIANCE) * self.performance_ratio
        return self.peak_kw * WATTS_PER_KW * share
