"""Seeded, reproducible weather per location, or weather replayed from CSV.

Synthetic weather is a pure function of ``(seed, location, time)``: nodes at the
same location with the same weather seed see the same wind and clouds whenever
they start, and the same seed always gives the same series.

- Wind speed has a Weibull marginal (shape ``k`` about 2, scale ``c`` in m/s):
  a unit Gaussian correlated in time (``noise.Ar1``) is mapped through the
  normal CDF and the Weibull quantile ``c * (-ln(1 - u)) ** (1 / k)``. A slow
  component (weather systems, hours) is mixed with a fast one (gusts, minutes).
- Cloud cover in [0, 1] is built the same way and mapped through ``u ** g``,
  whose mean is ``1 / (1 + g)``, so ``g`` follows from the requested mean.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from .noise import Ar1, normal_cdf
from .series import Interpolation, TimeSeries, parse_series
from .units import Instant, to_epoch_s

#: Grid-wide default weather seed: nodes share weather unless told otherwise.
DEFAULT_WEATHER_SEED = 0
#: Degrees per cell of the location grid: nodes closer than this share weather.
LOCATION_CELL_DEG = 0.1


@dataclass(frozen=True, slots=True)
class Weather:
    """Weather at one instant: wind speed at hub height, cloud cover fraction."""

    wind_ms: float
    cloud: float


class WeatherSource(Protocol):
    """Anything that tells the weather at an instant."""

    def at(self, now: Instant) -> Weather:
        """The weather at ``now``."""
        ...


def location_key(latitude: float, longitude: float) -> str:
    """The weather cell of a position, so that neighbours share weather."""
    if not (-90.0 <= latitude <= 90.0 and -180.0 <= longitude <= 180.0):
        raise ValueError(f"no such position: {latitude}, {longitude}")
    cells = (round(latitude / LOCATION_CELL_DEG), round(longitude / LOCATION_CELL_DEG))
    return f"{cells[0]}:{cells[1]}"


@dataclass(frozen=True, slots=True)
class Mix:
    """A slow and a fast correlated Gaussian mixed into one unit Gaussian."""

    slow: Ar1
    fast: Ar1
    fast_weight: float

    def at(self, seed: int, stream: str, t_s: float) -> float:
        """The mixed unit Gaussian at ``t_s``."""
        w = self.fast_weight
        slow = self.slow.at(seed, stream + "/slow", t_s)
        fast = self.fast.at(seed, stream + "/fast", t_s)
        return math.sqrt(1.0 - w * w) * slow + w * fast


# Why these time scales: wind decorrelates over ~6 h (synoptic weather) with
# gusts over minutes; cloud fields over a few hours, with passing clouds.
WIND_MIX = Mix(Ar1(3600.0, 6 * 3600.0), Ar1(60.0, 300.0), 0.3)
CLOUD_MIX = Mix(Ar1(3600.0, 3 * 3600.0), Ar1(120.0, 900.0), 0.4)


def weibull_quantile(u: float, shape: float, scale: float) -> float:
    """The Weibull value with cumulative probability ``u`` in (0, 1)."""
    return scale * (-math.log1p(-u)) ** (1.0 / shape)


def weibull_mean(shape: float, scale: float) -> float:
    """Mean of a Weibull distribution: ``scale * Gamma(1 + 1 / shape)``."""
    return scale * math.gamma(1.0 + 1.0 / shape)


@dataclass(frozen=True, slots=True)
class SyntheticWeather:
    """Weather for one location from a seed (see the module docstring)."""

    seed: int
    location: str
    wind_scale_ms: float = 7.0
    wind_shape: float = 2.0
    cloudiness: float = 0.6

    def __post_init__(self) -> None:
        if not (self.wind_scale_ms > 0 and self.wind_shape > 0):
            raise ValueError("wind scale and shape must be > 0")
        if not 0.0 < self.cloudiness < 1.0:
            raise ValueError("cloudiness (mean cloud cover) must be in (0, 1)")

    def at(self, now: Instant) -> Weather:
        """The weather at ``now``."""
        t_s = to_epoch_s(now)
        return Weather(self.wind_at(t_s), self.cloud_at(t_s))

    def wind_at(self, t_s: float) -> float:
        """Wind speed in m/s at ``t_s`` epoch seconds."""
        u = normal_cdf(WIND_MIX.at(self.seed, self.location + "/wind", t_s))
        return weibull_quantile(min(u, 1.0 - 1e-12), self.wind_shape, self.wind_scale_ms)

    def cloud_at(self, t_s: float) -> float:
        """Cloud cover in [0, 1] at ``t_s`` epoch seconds."""
        u = normal_cdf(CLOUD_MIX.at(self.seed, self.location + "/cloud", t_s))
        exponent = (1.0 - self.cloudiness) / self.cloudiness
        return min(1.0, max(0.0, u**exponent))


@dataclass(frozen=True, slots=True)
class ReplayedWeather:
    """Weather read from a recorded series of ``(wind_ms, cloud)`` rows."""

    series: TimeSeries

    def at(self, now: Instant) -> Weather:
        """The recorded (interpolated or stepped) weather at ``now``."""
        wind_ms, cloud = self.series.at(now)
        return Weather(max(0.0, wind_ms), min(1.0, max(0.0, cloud)))


def parse_weather_csv(
    text: str | Iterable[str],
    *,
    interpolation: Interpolation = "linear",
    loop: bool = False,
) -> ReplayedWeather:
    """Weather from CSV text of ``timestamp,wind_ms,cloud`` rows (header optional).

    Wind must be >= 0 and cloud within [0, 1]; ``ValueError`` otherwise.
    """
    series = parse_series(text, 2, interpolation=interpolation, loop=loop)
    for wind_ms, cloud in series.rows:
        if wind_ms < 0 or not 0.0 <= cloud <= 1.0:
            raise ValueError(f"weather row out of range: wind {wind_ms} m/s, cloud {cloud}")
    return ReplayedWeather(series)
