"""Seeded weather and weather replayed from CSV."""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodes.weather import SyntheticWeather, Weather, location_key, parse_weather_csv, weibull_mean

START = datetime(2024, 1, 1, tzinfo=timezone.utc).timestamp()
HERE = location_key(52.0, 5.0)
SAMPLE = Path(__file__).resolve().parents[2] / "nodes" / "data" / "weather_sample.csv"


def series(weather, count, step_s):
    return [weather.at(START + i * step_s) for i in range(count)]


def test_same_seed_and_place_give_the_same_weather():
    a = SyntheticWeather(7, HERE)
    b = SyntheticWeather(7, location_key(52.01, 5.02))  # same weather cell
    assert series(a, 50, 600) == series(b, 50, 600)


def test_different_seeds_or_places_differ():
    base = series(SyntheticWeather(7, HERE), 50, 600)
    assert series(SyntheticWeather(8, HERE), 50, 600) != base
    assert series(SyntheticWeather(7, location_key(60.0, 5.0)), 50, 600) != base


def test_weather_does_not_depend_on_when_or_in_which_order_it_is_asked():
    times = [START + 37.5 * i for i in range(200)]
    forward = [SyntheticWeather(3, HERE).at(t) for t in times]
    fresh = SyntheticWeather(3, HERE)
    backward = [fresh.at(t) for t in reversed(times)]
    assert forward == backward[::-1]


def test_datetime_and_epoch_seconds_agree():
    weather = SyntheticWeather(1, HERE)
    moment = datetime(2024, 5, 1, 12, 30, tzinfo=timezone.utc)
    assert weather.at(moment) == weather.at(moment.timestamp())
    assert weather.at(moment.replace(tzinfo=None)) == weather.at(moment)


def test_wind_mean_is_weibull_like_over_a_long_series():
    weather = SyntheticWeather(11, HERE, wind_scale_ms=7.0, wind_shape=2.0)
    winds = [w.wind_ms for w in series(weather, 1500, 3600)]
    expected = weibull_mean(2.0, 7.0)  # about 6.2 m/s
    assert 0.85 * expected < statistics.mean(winds) < 1.15 * expected
    assert min(winds) >= 0.0
    # Weibull(k=2): the standard deviation is about 52 % of the mean.
    assert 0.35 < statistics.pstdev(winds) / statistics.mean(winds) < 0.7


def test_cloud_cover_stays_in_range_around_its_mean():
    weather = SyntheticWeather(5, HERE, cloudiness=0.3)
    clouds = [w.cloud for w in series(weather, 1500, 3600)]
    assert all(0.0 <= c <= 1.0 for c in clouds)
    assert 0.2 < statistics.mean(clouds) < 0.4


def test_weather_is_correlated_in_time():
    weather = SyntheticWeather(2, HERE)
    winds = [w.wind_ms for w in series(weather, 600, 60)]
    minute_steps = [abs(b - a) for a, b in zip(winds, winds[1:], strict=False)]
    spread = statistics.pstdev(w.wind_ms for w in series(weather, 600, 3 * 3600))
    assert statistics.mean(minute_steps) < 0.25 * spread
    assert statistics.correlation(winds[:-10], winds[10:]) > 0.6


@settings(max_examples=25)
@given(st.integers(-(2**40), 2**40), st.floats(0, 3e9))
def test_any_seed_and_time_give_valid_weather(seed, t):
    weather = SyntheticWeather(seed, HERE).at(t)
    assert weather.wind_ms >= 0 and 0.0 <= weather.cloud <= 1.0


CSV = """# recorded at the pier
timestamp,wind_ms,cloud
2024-01-01T00:00:00Z,4.0,0.0
2024-01-01T01:00:00Z,8.0,1.0
2024-01-01T02:00:00,6.0,0.5
"""


def test_replay_interpolates_linearly():
    replay = parse_weather_csv(CSV)
    assert replay.at(START + 1800) == Weather(6.0, 0.5)
    assert replay.at(START) == Weather(4.0, 0.0)
    assert replay.at(START - 999) == Weather(4.0, 0.0)  # before: first row
    assert replay.at(START + 99_999) == Weather(6.0, 0.5)  # after: last row


def test_replay_in_steps_and_looped():
    stepped = parse_weather_csv(CSV, interpolation="step")
    assert stepped.at(START + 3599) == Weather(4.0, 0.0)
    looped = parse_weather_csv(CSV, loop=True)  # period 3 h
    assert looped.at(START + 3 * 3600 + 1800) == looped.at(START + 1800)
    assert looped.at(START + 2 * 3600 + 1800) == Weather(5.0, 0.25)  # back towards row 1


def test_replay_accepts_epoch_seconds_and_lines():
    replay = parse_weather_csv([f"{START:.0f},3.0,0.2", f"{START + 60:.0f},5.0,0.4"])
    assert replay.at(START + 30) == Weather(4.0, pytest.approx(0.3))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "timestamp,wind_ms,cloud\n",
        "2024-01-01T00:00:00,4.0\n",
        "2024-01-01T00:00:00,-1.0,0.5\n",
        "2024-01-01T00:00:00,1.0,1.5\n",
        "yesterday,1.0,0.5\n2024-01-01T00:00:00,1.0,0.5\n2024-01-01T00:00:00,1.0,zero\n",
        "2024-01-01T01:00:00,1.0,0.5\n2024-01-01T00:00:00,1.0,0.5\n",
        "2024-01-01T00:00:00,nan,0.5\n",
        "not a time,1.0,0.5\n",
    ],
)
def test_bad_csv_is_rejected(text):
    with pytest.raises(ValueError):
        parse_weather_csv(text)


def test_the_shipped_sample_parses():
    replay = parse_weather_csv(SAMPLE.read_text(), loop=True)
    moment = datetime(2024, 3, 18, 12, tzinfo=timezone.utc)
    assert replay.at(moment) == replay.at(moment + timedelta(days=3))
    assert len(replay.series.rows) == 24


def test_bad_positions_and_parameters_fail():
    with pytest.raises(ValueError):
        location_key(91.0, 0.0)
    with pytest.raises(ValueError):
        SyntheticWeather(0, HERE, cloudiness=1.0)
    with pytest.raises(ValueError):
        SyntheticWeather(0, HERE, wind_scale_ms=0.0)
