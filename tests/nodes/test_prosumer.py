"""Prosumer: own production first, then battery, then market."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from hypothesis import given
from hypothesis import strategies as st

from nodes.balancing import BatteryPolicy
from nodes.battery import Battery, BatterySpec
from nodes.market import PRICE_CAP
from nodes.model import Signals
from nodes.prosumer import ProsumerModel
from nodes.solar import SolarArray
from nodes.weather import Weather
from nodes.wind import TurbineCurve, WindFarm

NOON = datetime(2024, 6, 21, 12, tzinfo=timezone.utc)
RATED_WIND = 12.0  # m/s: each turbine gives its rated 3 kW


@dataclass
class FixedWeather:
    wind_ms: float = RATED_WIND
    cloud: float = 0.0

    def at(self, now):
        return Weather(self.wind_ms, self.cloud)


@dataclass
class FixedLoad:
    watts: float = 1_000.0

    @property
    def mean_w(self):
        return self.watts

    def load_w(self, now):
        return self.watts


def prosumer(wind_ms=RATED_WIND, load_w=1_000.0, battery=None, solar_kw=0.0):
    return ProsumerModel(
        weather=FixedWeather(wind_ms),
        load=FixedLoad(load_w),
        wind=WindFarm(TurbineCurve(rated_kw=3.0), 1),
        solar=SolarArray(solar_kw, 52.0, 0.0),
        battery=battery,
        policy=BatteryPolicy(buy_below=40, sell_above=120, reserve=0.2),
    )


def battery(soc, capacity_wh=10_000.0, power_w=5_000):
    return Battery(BatterySpec(capacity_wh, power_w, power_w, 0.9), soc)


def test_own_production_covers_the_load_and_the_rest_is_sold():
    reading = prosumer().step(NOON, 60, Signals())
    assert (reading.production_w, reading.consumption_w) == (3_000, 1_000)
    assert reading.source == "own" and reading.sold_w == 2_000 and reading.bought_w == 0
    assert reading.offer == ((-2_000, 0),) and reading.battery_soc is None


def test_without_wind_or_battery_the_market_supplies():
    reading = prosumer(wind_ms=0.0).step(NOON, 60, Signals())
    assert reading.source == "market" and reading.bought_w == 1_000
    assert reading.offer == ((1_000, PRICE_CAP),)


def test_the_battery_comes_before_the_market():
    model = prosumer(wind_ms=0.0, battery=battery(0.5))
    reading = model.step(NOON, 60, Signals())
    assert reading.source == "battery" and reading.bought_w == 0 and reading.sold_w == 0
    assert reading.production_w == reading.consumption_w == 1_000
    assert reading.battery_soc < 0.5


def test_an_empty_battery_leaves_the_market():
    reading = prosumer(wind_ms=0.0, battery=battery(0.0)).step(NOON, 60, Signals())
    assert reading.source == "market" and reading.bought_w == 1_000


def test_a_weak_battery_shares_the_load_with_the_market():
    reading = prosumer(wind_ms=0.0, battery=battery(0.5, power_w=300)).step(NOON, 60, Signals())
    assert reading.source == "market" and reading.bought_w == 700


def test_a_surplus_charges_the_battery_before_it_is_sold():
    model = prosumer(battery=battery(0.5))
    reading = model.step(NOON, 60, Signals())
    assert reading.source == "own" and reading.sold_w == 0
    assert reading.consumption_w == 3_000  # 1 kW load + 2 kW into the battery
    full = prosumer(battery=battery(1.0)).step(NOON, 60, Signals())
    assert full.sold_w == 2_000


def test_a_low_price_charges_from_the_market():
    model = prosumer(wind_ms=0.0, load_w=0.0, battery=battery(0.5))
    readings = [model.step(NOON, 60, Signals(price=10)) for _ in range(10)]
    assert readings[-1].bought_w > 0 and readings[-1].source == "own"
    assert readings[-1].battery_soc > 0.5


def test_a_high_price_sells_but_keeps_the_reserve():
    model = prosumer(wind_ms=0.0, load_w=0.0, battery=battery(0.5, capacity_wh=1_000.0))
    readings = [model.step(NOON, 60, Signals(price=500)) for _ in range(60)]
    assert max(r.sold_w for r in readings) > 0
    assert readings[-1].sold_w == 0
    assert 0.19 < readings[-1].battery_soc <= 0.21
    assert all(segment[0] > 0 for segment in readings[-1].offer)  # nothing left to sell


def test_offer_splits_inelastic_balance_from_battery_room():
    model = prosumer(battery=battery(0.5, power_w=500))
    reading = model.step(NOON, 60, Signals())
    # 2 kW surplus: 500 W into the battery (its whole rate, so it bids for
    # nothing more), 1.5 kW sold at 0; it could still discharge 500 W at 120.
    assert reading.offer == ((-1_500, 0), (-500, 120))


@given(
    st.lists(
        st.tuples(
            st.floats(0, 30),  # wind
            st.floats(0, 5_000),  # load
            st.none() | st.integers(-100, 3000),  # price
            st.integers(-50_000, 50_000),  # grid net
        ),
        min_size=1,
        max_size=30,
    ),
    st.floats(0, 1),
)
def test_readings_are_consistent(sequence, soc):
    model = prosumer(battery=battery(soc, capacity_wh=2_000.0))
    for wind_ms, load_w, price, net in sequence:
        model.weather, model.load = FixedWeather(wind_ms), FixedLoad(load_w)
        reading = model.step(NOON, 60, Signals(grid_net_w=net, price=price))
        assert reading.production_w - reading.consumption_w == reading.sold_w - reading.bought_w
        assert reading.sold_w == 0 or reading.bought_w == 0
        assert 0.0 <= reading.battery_soc <= 1.0
        assert (reading.source == "market") <= (reading.bought_w > 0)
