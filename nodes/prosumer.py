"""A prosumer: a household with wind turbines, solar panels and a battery.

Power flows in a fixed order of preference, as in the original simulator:
the household uses its own production first, then its battery, then the
market; a surplus charges the battery and the rest is sold. On top of that the
battery may serve the grid (``balancing.battery_service_w``): charge on a grid
surplus or a low price, discharge on a deficit or a high price, using only the
room that self-consumption leaves.

The published reading says where the household's power comes from (``own``,
``battery`` or ``market``), what is sold and bought, and the battery's state.
"""

from __future__ import annotations

from dataclasses import dataclass

from .balancing import DEFAULT_DAMPING, DEFAULT_POLICY, BatteryPolicy, Damping, battery_service_w
from .battery import Battery, discharge_limit_w
from .consumer import LoadSource
from .market import Offer, battery_offer, combine_offers, prosumer_offer
from .model import Reading, Signals, source_of
from .solar import SolarArray
from .units import Instant, check_dt, round_w
from .weather import WeatherSource
from .wind import WindFarm


@dataclass(frozen=True, slots=True)
class Flows:
    """One step's power flows in W (battery: > 0 charging, < 0 discharging)."""

    generation_w: int
    load_w: int
    battery_w: int

    @property
    def export_w(self) -> int:
        """Power sent to the grid (negative: drawn from it)."""
        return self.generation_w - self.load_w - self.battery_w


class ProsumerModel:
    """Wind, sun, household load and an optional battery behind one meter."""

    kind = "prosumer"

    def __init__(
        self,
        weather: WeatherSource,
        load: LoadSource,
        wind: WindFarm,
        solar: SolarArray,
        battery: Battery | None = None,
        policy: BatteryPolicy = DEFAULT_POLICY,
        damping: Damping = DEFAULT_DAMPING,
    ) -> None:
        self.weather = weather
        self.load = load
        self.wind = wind
        self.solar = solar
        self.battery = battery
        self.policy = policy
        self.damping = damping
        self.service_w = 0.0  # the battery's grid-service setpoint, kept between steps

    def generation_w(self, now: Instant) -> int:
        """Own production at ``now``: turbines plus panels, in W."""
        weather = self.weather.at(now)
        return round_w(self.wind.power_w(weather.wind_ms) + self.solar.power_w(now, weather.cloud))

    def step(self, now: Instant, dt_s: float, signals: Signals) -> Reading:
        """Produce, consume, charge or discharge for ``dt_s`` and report."""
        dt_s = check_dt(dt_s)
        generation_w = self.generation_w(now)
        load_w = round_w(self.load.load_w(now))
        battery_w = self._run_battery(generation_w - load_w, dt_s, signals)
        flows = Flows(generation_w, load_w, battery_w)
        return self._reading(flows, dt_s)

    def _run_battery(self, own_w: int, dt_s: float, signals: Signals) -> int:
        if self.battery is None:
            return 0
        limits = (self.battery.charge_limit_w(dt_s), self.battery.discharge_limit_w(dt_s))
        own_part = _within(own_w, limits)
        grid_limits = (limits[0], _spare_discharge_w(self.battery, self.policy.reserve, own_part, dt_s))
        service = battery_service_w(
            self.service_w, grid_limits, self.battery.soc, signals, self.policy, self.damping, dt_s
        )
        # The grid gets only the room that self-consumption leaves.
        lowest = max(-grid_limits[1], -limits[1] - own_part)
        self.service_w = min(limits[0] - own_part, max(lowest, service))
        return self.battery.step(round_w(own_part + self.service_w), dt_s)

    def _reading(self, flows: Flows, dt_s: float) -> Reading:
        discharge_w = max(0, -flows.battery_w)
        export_w = flows.export_w
        return Reading(
            production_w=flows.generation_w + discharge_w,
            consumption_w=flows.load_w + max(0, flows.battery_w),
            offer=self._offer(flows.generation_w - flows.load_w, dt_s),
            source=source_of(flows.generation_w, flows.load_w, discharge_w),
            sold_w=max(0, export_w),
            bought_w=max(0, -export_w),
            battery_soc=None if self.battery is None else min(1.0, max(0.0, self.battery.soc)),
            flexible_w=self._flexible_w(),
        )

    def _offer(self, own_w: int, dt_s: float) -> Offer:
        """What the next step is expected to bring to the market.

        The household balance the battery cannot absorb is inelastic (sold
        from price 0, bought up to the cap); the battery's remaining room is
        offered at its policy prices.
        """
        if self.battery is None:
            return prosumer_offer(own_w)
        charge_w, discharge_w = self.battery.charge_limit_w(dt_s), self.battery.discharge_limit_w(dt_s)
        own_part = _within(own_w, (charge_w, discharge_w))
        flexible = battery_offer(
            charge_w - max(0, own_part),
            _spare_discharge_w(self.battery, self.policy.reserve, own_part, dt_s),
            self.policy.buy_below,
            self.policy.sell_above,
        )
        return combine_offers(prosumer_offer(own_w - own_part), flexible)

    def _flexible_w(self) -> int:
        if self.battery is None:
            return 0
        return max(self.battery.spec.max_charge_w, self.battery.spec.max_discharge_w)


def _within(power_w: int, limits: tuple[int, int]) -> int:
    """``power_w`` clipped to ``[-max_discharge, max_charge]``."""
    return min(limits[0], max(-limits[1], power_w))


def _spare_discharge_w(battery: Battery, reserve: float, own_part: int, dt_s: float) -> int:
    """Discharge the grid may have: from the energy above the reserve, less
    what the household itself draws this step (``own_part`` < 0)."""
    spare_wh = battery.soc_wh - reserve * battery.spec.capacity_wh
    if spare_wh <= 0:
        return 0
    return max(0, discharge_limit_w(battery.spec, spare_wh, dt_s) + min(0, own_part))
