"""Household load: standard profile, replay, flexible load."""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodes.consumer import (
    ConsumerModel,
    Flexibility,
    ProfileLoad,
    parse_load_csv,
    profile_factor,
    seasonal_factor,
)
from nodes.market import PRICE_CAP
from nodes.model import Signals

MONDAY = datetime(2024, 3, 4, tzinfo=timezone.utc)
SAMPLE = Path(__file__).resolve().parents[2] / "nodes" / "data" / "household_load_sample.csv"


def test_profile_has_a_weekly_mean_of_one():
    quarters = [profile_factor(MONDAY + timedelta(minutes=15 * q)) for q in range(7 * 96)]
    assert statistics.mean(quarters) == pytest.approx(1.0, abs=0.01)


def test_profile_has_morning_and_evening_peaks_and_a_night_trough():
    def at(hour, day=MONDAY):
        return profile_factor(day + timedelta(hours=hour))

    assert at(7) > 1.5 * at(3) and at(19) > at(7) > at(10)
    assert at(19) > 2 * at(3)
    saturday = MONDAY + timedelta(days=5)
    assert at(7, saturday) < at(7) and at(11, saturday) > at(11)


def test_local_time_follows_longitude():
    assert profile_factor(MONDAY + timedelta(hours=17), longitude=30.0) == pytest.approx(
        profile_factor(MONDAY + timedelta(hours=19))
    )


def test_winter_uses_more_than_summer():
    assert seasonal_factor(datetime(2024, 1, 15)) > 1.1 > 0.9 > seasonal_factor(datetime(2024, 7, 15))


def test_a_year_adds_up_to_the_annual_consumption():
    load = ProfileLoad(annual_kwh=4000.0, seed=1, noise=0.0)
    start = datetime(2023, 1, 1, tzinfo=timezone.utc)
    kwh = sum(load.load_w(start + timedelta(hours=h, minutes=30)) for h in range(8760)) / 1000
    assert kwh == pytest.approx(4000.0, rel=0.01)


def test_noise_is_seeded_and_centred():
    hours = [MONDAY + timedelta(minutes=20 * i) for i in range(1500)]
    a, b = ProfileLoad(seed=1), ProfileLoad(seed=2)
    assert [a.load_w(t) for t in hours] == [ProfileLoad(seed=1).load_w(t) for t in hours]
    assert [a.load_w(t) for t in hours] != [b.load_w(t) for t in hours]
    plain = ProfileLoad(seed=1, noise=0.0)
    ratios = [a.load_w(t) / plain.load_w(t) for t in hours]
    assert statistics.mean(ratios) == pytest.approx(1.0, abs=0.03)
    assert 0.05 < statistics.pstdev(ratios) < 0.15


def test_replayed_load_from_csv():
    load = parse_load_csv("timestamp,kw\n2024-03-04T00:00:00,0.5\n2024-03-04T01:00:00,1.5\n")
    assert load.load_w(MONDAY + timedelta(minutes=30)) == pytest.approx(1000.0)
    assert load.mean_w == pytest.approx(1000.0)
    with pytest.raises(ValueError):
        parse_load_csv("2024-03-04T00:00:00,-0.5\n")


def test_the_shipped_sample_parses():
    load = parse_load_csv(SAMPLE.read_text(), loop=True)
    assert len(load.series.rows) == 96
    assert 100 < load.mean_w < 1000


def test_a_consumer_buys_everything_at_any_price():
    consumer = ConsumerModel(ProfileLoad(seed=4))
    reading = consumer.step(MONDAY + timedelta(hours=19), 60, Signals(price=500))
    assert reading.production_w == 0 and reading.consumption_w > 0
    assert reading.bought_w == reading.consumption_w and reading.source == "market"
    assert reading.offer == ((reading.consumption_w, PRICE_CAP),)


def test_flexible_load_waits_for_a_low_price_then_catches_up():
    consumer = ConsumerModel(ProfileLoad(seed=4, noise=0.0), Flexibility(share=0.3, price_below=80))
    dear = [consumer.step(MONDAY + timedelta(minutes=m), 60, Signals(price=200)) for m in range(30)]
    assert consumer.backlog_wh > 0
    assert dear[-1].offer[-1][1] == 80  # waiting load bids only up to its threshold
    cheap = consumer.step(MONDAY + timedelta(minutes=30), 60, Signals(price=50))
    assert cheap.consumption_w > dear[-1].consumption_w


def test_flexible_load_runs_anyway_after_waiting_too_long():
    flexibility = Flexibility(share=0.5, price_below=80, max_wait_h=0.5)
    consumer = ConsumerModel(ProfileLoad(seed=4, noise=0.0), flexibility)
    readings = [consumer.step(MONDAY + timedelta(minutes=m), 60, Signals(price=999)) for m in range(120)]
    assert consumer.backlog_wh <= 0.5 * 0.5 * consumer.load.mean_w + 1e-6 + 60 * consumer.load.mean_w / 3600
    assert max(r.consumption_w for r in readings[60:]) > readings[0].consumption_w


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(-100, 300), min_size=1, max_size=100), st.floats(0, 1))
def test_flexible_load_shifts_energy_without_losing_it(prices, share):
    load = ProfileLoad(seed=9, noise=0.0)
    consumer = ConsumerModel(load, Flexibility(share=share, price_below=80))
    demanded_wh = used_wh = 0.0
    for i, price in enumerate(prices):
        moment = MONDAY + timedelta(minutes=i)
        demanded_wh += load.load_w(moment) / 60
        used_wh += consumer.step(moment, 60, Signals(price=price)).consumption_w / 60
    # Readings are whole watts: allow half a watt per step.
    assert used_wh + consumer.backlog_wh == pytest.approx(demanded_wh, abs=0.5 * len(prices) / 60 + 1e-6)
