"""Time and power units, and the CSV series they are parsed into."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from nodes.series import TimeSeries, parse_series, parse_timestamp
from nodes.units import kw_to_w, round_w, to_epoch_s, to_utc


def test_instants():
    aware = datetime(2024, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    assert to_epoch_s(aware) == to_epoch_s(datetime(2024, 1, 1)) == 1704067200.0
    assert to_utc(1704067200) == datetime(2024, 1, 1, tzinfo=timezone.utc)
    with pytest.raises(ValueError):
        to_epoch_s(float("inf"))


def test_power_rounds_half_away_from_zero():
    assert kw_to_w(1.2345) == 1235 and kw_to_w(0.0005) == 1 and kw_to_w(-0.0005) == -1
    assert round_w(2.5) == 3 and round_w(-2.5) == -3 and round_w(2.4999) == 2
    with pytest.raises(ValueError):
        kw_to_w(float("nan"))


def test_timestamps():
    assert parse_timestamp("2024-01-01T00:00:00Z") == 1704067200.0
    assert parse_timestamp("2024-01-01T01:00:00+01:00") == 1704067200.0
    assert parse_timestamp("1704067200.5") == 1704067200.5


def test_series_of_several_columns_with_quotes_and_comments():
    series = parse_series('# note\n\n"0",1,10\n10,"3",30\n', 2)
    assert series.at(5) == (2.0, 20.0)


def test_a_single_row_holds_forever_even_looped():
    series = parse_series("100,7\n", 1, loop=True)
    assert series.period_s == 0.0 and series.at(0) == series.at(10**6) == (7.0,)


def test_series_invariants():
    with pytest.raises(ValueError):
        TimeSeries((), ())
    with pytest.raises(ValueError):
        TimeSeries((0.0, 1.0), ((1.0,), (1.0, 2.0)))
