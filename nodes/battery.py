"""A home or grid battery: state of charge, power limits, losses.

Sign convention, everywhere in Grid: power *into* the battery (charging) is
positive, power *out of* it (discharging) is negative, both measured at its
terminals. Losses are split evenly between charging and discharging: each
direction keeps ``sqrt(round_trip_efficiency)``, so one full cycle returns
``round_trip_efficiency`` of what went in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .units import SECONDS_PER_HOUR, check_dt


@dataclass(frozen=True, slots=True)
class BatterySpec:
    """What a battery can do. Defaults: a 13.5 kWh, 5 kW home battery."""

    capacity_wh: float = 13_500.0
    max_charge_w: int = 5_000
    max_discharge_w: int = 5_000
    round_trip_efficiency: float = 0.9

    def __post_init__(self) -> None:
        if self.capacity_wh < 0 or self.max_charge_w < 0 or self.max_discharge_w < 0:
            raise ValueError("battery capacity and power limits must be >= 0")
        if not 0 < self.round_trip_efficiency <= 1:
            raise ValueError("round_trip_efficiency must be in (0, 1]")

    @property
    def one_way_efficiency(self) -> float:
        """Efficiency of one direction (charge or discharge)."""
        return math.sqrt(self.round_trip_efficiency)


@dataclass(frozen=True, slots=True)
class BatteryStep:
    """Outcome of one step: new stored energy, power at the terminals, loss."""

    soc_wh: float
    power_w: int
    loss_wh: float


def charge_limit_w(spec: BatterySpec, soc_wh: float, dt_s: float) -> int:
    """Most power the battery can absorb for ``dt_s`` from ``soc_wh``."""
    if dt_s <= 0:
        return spec.max_charge_w
    room_wh = max(0.0, spec.capacity_wh - soc_wh)
    by_room = room_wh * SECONDS_PER_HOUR / (dt_s * spec.one_way_efficiency)
    return _capped(by_room, spec.max_charge_w)


def discharge_limit_w(spec: BatterySpec, soc_wh: float, dt_s: float) -> int:
    """Most power the battery can deliver for ``dt_s`` from ``soc_wh``."""
    if dt_s <= 0:
        return spec.max_discharge_w
    by_store = max(0.0, soc_wh) * spec.one_way_efficiency * SECONDS_PER_HOUR / dt_s
    return _capped(by_store, spec.max_discharge_w)


def _capped(power_w: float, limit_w: int) -> int:
    # Compare before flooring: a tiny dt_s can make the energy bound infinite.
    return limit_w if power_w >= limit_w else math.floor(power_w)


def step_battery(spec: BatterySpec, soc_wh: float, power_w: int, dt_s: float) -> BatteryStep:
    """Try to charge (``power_w`` > 0) or discharge (< 0) for ``dt_s`` seconds.

    The power actually exchanged is limited by the power limits and by the
    energy room or content, rounded towards zero to whole watts so the
    battery never leaves ``[0, capacity]``.
    """
    dt_s = check_dt(dt_s)
    eta = spec.one_way_efficiency
    if power_w >= 0:
        actual = min(power_w, charge_limit_w(spec, soc_wh, dt_s))
        terminal_wh = actual * dt_s / SECONDS_PER_HOUR
        stored_wh = terminal_wh * eta
        new_soc = soc_wh + stored_wh
        loss_wh = terminal_wh - stored_wh
    else:
        actual = -min(-power_w, discharge_limit_w(spec, soc_wh, dt_s))
        terminal_wh = -actual * dt_s / SECONDS_PER_HOUR
        drawn_wh = terminal_wh / eta
        new_soc = soc_wh - drawn_wh
        loss_wh = drawn_wh - terminal_wh
    # Rounding of the last float digit only; the limits above keep us inside.
    return BatteryStep(min(spec.capacity_wh, max(0.0, new_soc)), actual, loss_wh)


class Battery:
    """A battery with its state of charge; ``step`` changes it.

    ``losses_wh`` adds up every conversion loss, so the energy balance
    ``charged - discharged == stored change + losses`` can be checked.
    """

    __slots__ = ("spec", "soc_wh", "losses_wh")

    def __init__(self, spec: BatterySpec, soc_fraction: float = 0.5) -> None:
        if not 0.0 <= soc_fraction <= 1.0:
            raise ValueError("initial state of charge must be within [0, 1]")
        self.spec = spec
        self.soc_wh = spec.capacity_wh * soc_fraction
        self.losses_wh = 0.0

    @property
    def soc(self) -> float:
        """State of charge as a fraction of capacity (0 for an empty spec)."""
        return self.soc_wh / self.spec.capacity_wh if self.spec.capacity_wh > 0 else 0.0

    def charge_limit_w(self, dt_s: float) -> int:
        """Most power it can absorb over the next ``dt_s``."""
        return charge_limit_w(self.spec, self.soc_wh, dt_s)

    def discharge_limit_w(self, dt_s: float) -> int:
        """Most power it can deliver over the next ``dt_s``."""
        return discharge_limit_w(self.spec, self.soc_wh, dt_s)

    def step(self, power_w: int, dt_s: float) -> int:
        """Charge (> 0) or discharge (< 0); return the power actually exchanged."""
        result = step_battery(self.spec, self.soc_wh, power_w, dt_s)
        self.soc_wh = result.soc_wh
        self.losses_wh += result.loss_wh
        return result.power_w
