"""Small wind turbine: power from wind speed along its power curve."""

from __future__ import annotations

from dataclasses import dataclass

from .units import WATTS_PER_KW


@dataclass(frozen=True, slots=True)
class TurbineCurve:
    """The power curve of one turbine.

    Nothing below ``cut_in_ms``; cubic in wind speed (power in the wind grows
    with v**3) from cut-in up to ``rated_ms``; ``rated_kw`` from there up to
    ``cut_out_ms``; nothing above cut-out, where the turbine stops to protect
    itself. The defaults are those of a typical 3 kW household turbine.
    """

    rated_kw: float = 3.0
    cut_in_ms: float = 3.0
    rated_ms: float = 11.0
    cut_out_ms: float = 25.0

    def __post_init__(self) -> None:
        if self.rated_kw < 0:
            raise ValueError("rated_kw must be >= 0")
        if not 0 <= self.cut_in_ms < self.rated_ms <= self.cut_out_ms:
            raise ValueError("need 0 <= cut_in_ms < rated_ms <= cut_out_ms")

    def power_w(self, wind_ms: float) -> float:
        """Electrical output in W at wind speed ``wind_ms``."""
        if wind_ms < self.cut_in_ms or wind_ms > self.cut_out_ms:
            return 0.0
        rated_w = self.rated_kw * WATTS_PER_KW
        if wind_ms >= self.rated_ms:
            return rated_w
        low, high = self.cut_in_ms**3, self.rated_ms**3
        return rated_w * (wind_ms**3 - low) / (high - low)


@dataclass(frozen=True, slots=True)
class WindFarm:
    """``count`` identical turbines at one place."""

    curve: TurbineCurve
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ValueError("turbine count must be >= 0")

    def power_w(self, wind_ms: float) -> float:
        """Output of all turbines in W."""
        return self.count * self.curve.power_w(wind_ms)
