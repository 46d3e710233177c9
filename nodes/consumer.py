"""Household consumption: a seeded standard profile, or a replayed CSV.

The standard profile has a night trough, a morning peak and a higher evening
peak on weekdays, a later, flatter day at weekends, and more use in winter than
in summer. It is scaled so that a year adds up to the household's annual
consumption, and multiplied by seeded noise correlated over a quarter hour.
Local time is mean solar time at the household's longitude, which needs no
time-zone database and is within an hour or so of civil time.

A consumer can also let a share of its load be *flexible* (dishwasher,
heat pump, car): that part waits while the price is above a threshold and is
caught up later, so the energy used is the same, only shifted.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from .market import PRICE_CAP, consumer_offer
from .model import Reading, Signals
from .noise import Ar1
from .series import Interpolation, TimeSeries, parse_series
from .units import SECONDS_PER_HOUR, WATTS_PER_KW, Instant, check_dt, energy_wh, round_w, to_epoch_s, to_utc

# Relative load per local hour (0-23), before normalisation.
WEEKDAY = (0.55, 0.45, 0.40, 0.38, 0.38, 0.45, 0.80, 1.25, 1.10, 0.85, 0.80, 0.85,
           0.95, 0.90, 0.80, 0.80, 0.95, 1.35, 1.75, 1.85, 1.70, 1.45, 1.10, 0.80)  # fmt: skip
WEEKEND = (0.65, 0.50, 0.42, 0.40, 0.38, 0.40, 0.50, 0.70, 1.05, 1.30, 1.35, 1.30,
           1.40, 1.30, 1.15, 1.05, 1.10, 1.35, 1.65, 1.75, 1.65, 1.45, 1.15, 0.85)  # fmt: skip
# Divides the profile so that its weekly mean is exactly 1.
_WEEK_MEAN = (5 * sum(WEEKDAY) + 2 * sum(WEEKEND)) / (7 * 24)
#: Winter use above the yearly mean (and summer below), as a fraction.
SEASONAL_AMPLITUDE = 0.15
HOURS_PER_YEAR = 8760.0
LOAD_NOISE = Ar1(step_s=300.0, tau_s=900.0)


class LoadSource(Protocol):
    """Anything that gives a household's demand at an instant."""

    @property
    def mean_w(self) -> float:
        """Average demand in W, used to size catch-up of flexible load."""
        ...

    def load_w(self, now: Instant) -> float:
        """Demand in W at ``now`` (>= 0)."""
        ...


def profile_factor(now: Instant, longitude: float = 0.0) -> float:
    """Standard profile at ``now`` relative to its weekly mean (mean 1)."""
    local = to_utc(now) + timedelta(hours=longitude / 15.0)
    hour = local.hour + local.minute / 60 + local.second / 3600
    whole = int(hour)
    this_day = WEEKEND if local.weekday() >= 5 else WEEKDAY
    following = (local + timedelta(hours=1)).weekday() >= 5 if whole == 23 else local.weekday() >= 5
    next_value = (WEEKEND if following else WEEKDAY)[(whole + 1) % 24]
    w = hour - whole
    return ((1 - w) * this_day[whole] + w * next_value) / _WEEK_MEAN


def seasonal_factor(now: Instant) -> float:
    """Seasonal multiplier, highest in mid-January, mean 1 over a year."""
    day = to_utc(now).timetuple().tm_yday
    return 1.0 + SEASONAL_AMPLITUDE * math.cos(2 * math.pi * (day - 15) / 365.25)


@dataclass(frozen=True, slots=True)
class ProfileLoad:
    """Standard household profile scaled to ``annual_kwh``, with seeded noise.

    ``noise`` is the standard deviation of the multiplicative noise.
    """

    annual_kwh: float = 3500.0
    seed: int = 0
    noise: float = 0.1
    longitude: float = 0.0

    def __post_init__(self) -> None:
        if self.annual_kwh < 0 or not 0 <= self.noise <= 1:
            raise ValueError("annual_kwh must be >= 0 and noise within [0, 1]")

    @property
    def mean_w(self) -> float:
        """Average demand in W."""
        return self.annual_kwh * WATTS_PER_KW / HOURS_PER_YEAR

    def load_w(self, now: Instant) -> float:
        """Demand in W at ``now``."""
        jitter = 1.0 + self.noise * LOAD_NOISE.at(self.seed, "load", to_epoch_s(now))
        shape = profile_factor(now, self.longitude) * seasonal_factor(now)
        return self.mean_w * shape * max(0.0, jitter)


@dataclass(frozen=True, slots=True)
class ReplayedLoad:
    """Demand replayed from a recorded series of kW values."""

    series: TimeSeries

    @property
    def mean_w(self) -> float:
        """Average of the recorded rows in W."""
        return sum(row[0] for row in self.series.rows) * WATTS_PER_KW / len(self.series.rows)

    def load_w(self, now: Instant) -> float:
        """Recorded demand at ``now`` in W."""
        return max(0.0, self.series.at(now)[0] * WATTS_PER_KW)


def parse_load_csv(
    text: str | Iterable[str], *, interpolation: Interpolation = "linear", loop: bool = False
) -> ReplayedLoad:
    """Demand from CSV text of ``timestamp,kw`` rows (header optional, kW >= 0)."""
    series = parse_series(text, 1, interpolation=interpolation, loop=loop)
    if any(row[0] < 0 for row in series.rows):
        raise ValueError("consumption must be >= 0 kW")
    return ReplayedLoad(series)


@dataclass(frozen=True, slots=True)
class Flexibility:
    """Which share of the load may wait, for how cheap a price, and how long.

    Waiting load is caught up at up to ``catch_up`` times the average flexible
    demand; beyond ``max_wait_h`` hours of backlog it runs whatever the price.
    """

    share: float = 0.0
    price_below: int = 80
    catch_up: float = 3.0
    max_wait_h: float = 6.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.share <= 1.0 or self.catch_up < 1.0 or self.max_wait_h < 0:
            raise ValueError("flexible share within [0, 1], catch_up >= 1, max_wait_h >= 0")


NO_FLEXIBILITY = Flexibility()


class ConsumerModel:
    """A household that buys everything it uses from the market."""

    kind = "consumer"

    def __init__(self, load: LoadSource, flexibility: Flexibility = NO_FLEXIBILITY) -> None:
        self.load = load
        self.flexibility = flexibility
        self.backlog_wh = 0.0  # flexible energy demanded but not yet used

    def step(self, now: Instant, dt_s: float, signals: Signals) -> Reading:
        """Use this step's demand, deferring the flexible part if the price is high."""
        dt_s = check_dt(dt_s)
        demand_w = self.load.load_w(now)
        firm_w = demand_w * (1.0 - self.flexibility.share)
        self.backlog_wh += energy_wh(demand_w - firm_w, dt_s)
        run_w = self._flexible_run_w(dt_s, signals.price) if dt_s > 0 else 0.0
        self.backlog_wh = max(0.0, self.backlog_wh - energy_wh(run_w, dt_s))
        used_w = round_w(firm_w + run_w)
        return Reading(
            production_w=0,
            consumption_w=used_w,
            offer=self._offer(firm_w, demand_w - firm_w, dt_s),
            source="market",
            bought_w=used_w,
        )

    def _offer(self, firm_w: float, flexible_w: float, dt_s: float) -> tuple[tuple[int, int], ...]:
        # Firm load is bought at any price; waiting load (what is owed plus
        # what keeps coming) only below the threshold, unless it must run.
        owed_w = self.backlog_wh * SECONDS_PER_HOUR / dt_s if dt_s > 0 else 0.0
        pending_w = min(self._catch_up_w(), owed_w + flexible_w)
        limit = PRICE_CAP if self._must_run() else self.flexibility.price_below
        return consumer_offer(round_w(firm_w), round_w(pending_w), limit)

    def _flexible_run_w(self, dt_s: float, price: int | None) -> float:
        cheap = price is None or price <= self.flexibility.price_below
        if not (cheap or self._must_run()):
            return 0.0
        return min(self.backlog_wh * SECONDS_PER_HOUR / dt_s, self._catch_up_w())

    def _catch_up_w(self) -> float:
        return self.flexibility.catch_up * self.flexibility.share * self.load.mean_w

    def _must_run(self) -> bool:
        limit_wh = self.flexibility.max_wait_h * self.flexibility.share * self.load.mean_w
        return self.backlog_wh > limit_wh
