"""Meter files: both CSV layouts, and the seeded sample week shipped with Grid."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

import nodes.metering as metering
from nodes.metering import (
    HOUR_MS,
    SAMPLE_DEVICE_ID,
    SAMPLE_MAX_HOURLY_KWH,
    SAMPLE_START_MS,
    MeterError,
    Reading,
    format_reading_rows,
    generate_sample_csv,
    generate_sample_readings,
    parse_meter_csv,
    parse_reading_rows,
    parse_value_rows,
)

SAMPLE_PATH = Path(metering.__file__).parent / "data" / "meter_sample.csv"
T0 = 1_570_654_800_000
TEN_MIN = 600_000


def test_one_value_per_row_like_the_original_sensor_csv() -> None:
    text = "0.1\n0.25\n\n0.0005\n"
    readings = parse_value_rows(text, device_id="d1", start_ms=T0)
    assert readings == [
        Reading(T0, "d1", 100),
        Reading(T0 + TEN_MIN, "d1", 250),
        Reading(T0 + 2 * TEN_MIN, "d1", 1),
    ]
    assert parse_meter_csv(text, device_id="d1", start_ms=T0) == readings
    lines = ["measurement_value\n", "1\n", "2\n"]
    every_15 = parse_value_rows(lines, device_id="d1", start_ms=T0, interval_ms=900_000)
    assert [r.timestamp_ms for r in every_15] == [T0, T0 + 900_000]


def test_cumulative_register_becomes_interval_readings() -> None:
    readings = parse_value_rows("10.0\n10.1\n10.35\n10.35\n", device_id="d1", start_ms=T0, cumulative=True)
    assert [(r.timestamp_ms - T0, r.wh) for r in readings] == [(0, 100), (TEN_MIN, 250), (2 * TEN_MIN, 0)]
    with pytest.raises(MeterError) as info:
        parse_value_rows("5\n4\n", device_id="d1", start_ms=T0, cumulative=True)
    assert (info.value.code, info.value.detail.split(":")[0]) == ("bad_value", "line 2")


def test_timestamped_rows_with_header_and_comments() -> None:
    text = f"# a comment\ntimestamp,device_id,measurement_value\n{T0},d1,0.1\n\n{T0 + TEN_MIN}, 7 ,\"0.2\"\n"
    expected = [Reading(T0, "d1", 100), Reading(T0 + TEN_MIN, "7", 200)]
    assert parse_reading_rows(text) == expected
    assert parse_meter_csv(text) == expected
    assert parse_reading_rows(text.splitlines(keepends=True)) == expected  # an open file's lines
    assert parse_reading_rows(format_reading_rows(expected, comments=["hi"])) == expected


@pytest.mark.parametrize(
    ("text", "code", "line"),
    [
        (f"{T0},d1,0.1\n{T0},d1\n", "bad_csv", 2),
        (f"{T0},d1,0.1\n{T0},d1,-0.1\n", "bad_value", 2),
        (f"{T0},d1,0.1\n{T0},d1,nan\n", "bad_value", 2),
        (f"{T0},d1,0.1\n\n1570654800,d1,0.1\n", "bad_timestamp", 3),
        (f"{T0},d1,0.1\nsoon,d1,0.1\n", "bad_timestamp", 2),
    ],
)
def test_bad_rows_name_their_line(text: str, code: str, line: int) -> None:
    with pytest.raises(MeterError) as info:
        parse_meter_csv(text)
    assert info.value.code == code
    assert info.value.detail.startswith(f"line {line}: ")


def test_one_column_file_needs_device_and_start() -> None:
    with pytest.raises(MeterError) as info:
        parse_meter_csv("0.1\n0.2\n")
    assert info.value.code == "bad_csv"
    with pytest.raises(MeterError) as info:
        parse_value_rows("0.1\n0.2,0.3\n", device_id="d1", start_ms=T0)
    assert info.value.code == "bad_csv"
    with pytest.raises(MeterError) as info:
        parse_value_rows("0.1\n", device_id="d1", start_ms=12)
    assert info.value.code == "bad_timestamp"
    assert parse_meter_csv("") == []


def test_shipped_sample_is_the_generator_default() -> None:
    assert SAMPLE_PATH.read_text(encoding="utf-8") == generate_sample_csv()


def test_generator_is_deterministic_per_seed() -> None:
    assert generate_sample_csv(7, T0, 2) == generate_sample_csv(7, T0, 2)
    assert generate_sample_csv(7, T0, 2) != generate_sample_csv(8, T0, 2)
    assert {r.device_id for r in parse_meter_csv(generate_sample_csv(7, T0, 1, device_id="x"))} == {"x"}
    quarter = generate_sample_readings(1, SAMPLE_START_MS, 1, 15)
    assert len(quarter) == 96 and all(15 <= r.wh <= 900 for r in quarter)


@pytest.mark.parametrize(
    "kwargs", [{"days": 0}, {"days": 1000}, {"interval_min": 7}, {"interval_min": 0}, {"start_ms": 5}]
)
def test_generator_rejects_bad_arguments(kwargs: dict[str, int]) -> None:
    with pytest.raises(MeterError):
        generate_sample_csv(**kwargs)


def test_sample_week_has_a_household_shape() -> None:
    text = SAMPLE_PATH.read_text(encoding="utf-8")
    assert f"max_hourly_kwh = {SAMPLE_MAX_HOURLY_KWH}" in text
    readings = parse_meter_csv(text)
    assert len(readings) == 7 * 24 * 6
    assert [r.timestamp_ms for r in readings] == [SAMPLE_START_MS + i * TEN_MIN for i in range(1008)]
    assert {r.device_id for r in readings} == {SAMPLE_DEVICE_ID}
    assert all(10 <= r.wh <= 600 for r in readings)
    by_hour: dict[int, int] = defaultdict(int)
    for r in readings:
        by_hour[r.timestamp_ms // HOUR_MS] += r.wh
    mean = {h: sum(wh for k, wh in by_hour.items() if k % 24 == h) / 7 for h in range(24)}
    night, morning, evening = mean[3], mean[7] + mean[8], mean[18] + mean[19]
    assert night < 300 and morning > 4 * night and evening > morning
    over = [k for k, wh in by_hour.items() if wh > SAMPLE_MAX_HOURLY_KWH * 1000]
    assert 3 <= len(over) <= 15  # some hours, not most, exceed the intended maximum
