"""The meter ledger: exact hourly totals, duplicates, order independence, rebuild."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nodes.metering as metering
from nodes.metering import (
    HOUR_MS,
    SAMPLE_DEVICE_ID,
    SAMPLE_MAX_HOURLY_KWH,
    Device,
    MeterError,
    MeterLedger,
    Reading,
    hourly_chart,
    parse_meter_csv,
)

SAMPLE_PATH = Path(metering.__file__).parent / "data" / "meter_sample.csv"
DAY0 = 1_570_406_400_000  # 2019-10-07T00:00Z
TEN_MIN = 600_000
DEVICES = (Device("a", "flat 1", "Str. Baritiu 26", 2.0), Device("b", "flat 2", "Str. Baritiu 26", 1.0))


def _sample_ledger() -> MeterLedger:
    ledger = MeterLedger([Device(SAMPLE_DEVICE_ID, "house", "Cluj", SAMPLE_MAX_HOURLY_KWH)])
    for reading in parse_meter_csv(SAMPLE_PATH.read_text(encoding="utf-8")):
        assert ledger.ingest(reading).accepted
    return ledger


def _direct_hourly_sum(day: date) -> list[int]:
    """Wh per UTC hour of ``day`` straight from the CSV text, with Decimal."""
    out = [Decimal(0)] * 24
    lines = [line for line in SAMPLE_PATH.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    for row in csv.DictReader(lines):
        moment = datetime.fromtimestamp(int(row["timestamp"]) / 1000, timezone.utc)
        if moment.date() == day:
            out[moment.hour] += Decimal(row["measurement_value"])
    return [int(kwh * 1000) for kwh in out]


def test_hourly_totals_equal_a_direct_sum_of_the_csv() -> None:
    ledger = _sample_ledger()
    for offset in range(7):
        day = date(2019, 10, 7) + timedelta(days=offset)
        expected = _direct_hourly_sum(day)
        assert ledger.hourly(SAMPLE_DEVICE_ID, day) == expected
        assert ledger.node_hourly(day) == expected
        assert sum(expected) > 10_000
    assert ledger.hourly(SAMPLE_DEVICE_ID, date(2019, 10, 14)) == [0] * 24


def test_node_totals_sum_the_devices() -> None:
    ledger = MeterLedger(DEVICES)
    ledger.ingest(Reading(DAY0, "a", 100))
    ledger.ingest(Reading(DAY0 + TEN_MIN, "a", 50))
    ledger.ingest(Reading(DAY0 + 5 * TEN_MIN, "b", 7))
    ledger.ingest(Reading(DAY0 + HOUR_MS, "b", 9))
    assert ledger.hour_total("a", DAY0) == 150
    assert ledger.hour_total("a", DAY0 + 123) == 150  # any instant names its hour
    assert ledger.node_hour_total(DAY0) == 157
    assert ledger.node_hour_total(DAY0 + HOUR_MS) == 9
    assert ledger.node_hourly(date(2019, 10, 7))[:3] == [157, 9, 0]
    assert ledger.totals() == {("a", DAY0): 150, ("b", DAY0): 7, ("b", DAY0 + HOUR_MS): 9}
    assert ledger.last_timestamp("b") == DAY0 + HOUR_MS
    assert ledger.last_timestamp("a") == DAY0 + TEN_MIN


def test_duplicates_and_conflicts_are_ignored() -> None:
    ledger = MeterLedger(DEVICES)
    first = ledger.ingest(Reading(DAY0, "a", 100))
    again = ledger.ingest(Reading(DAY0, "a", 100))
    other = ledger.ingest(Reading(DAY0, "a", 999))
    assert (first.status, again.status, other.status) == ("accepted", "duplicate", "conflict")
    assert not again.accepted and not other.accepted
    assert again.hour_total_wh == other.hour_total_wh == 100
    assert ledger.readings() == (Reading(DAY0, "a", 100),)


def test_out_of_order_reading_lands_in_its_own_hour() -> None:
    ledger = MeterLedger(DEVICES)
    ledger.ingest(Reading(DAY0 + 3 * HOUR_MS, "a", 10))
    late = ledger.ingest(Reading(DAY0 + HOUR_MS + 59 * 60_000, "a", 20))
    assert late.hour_start_ms == DAY0 + HOUR_MS
    assert ledger.hourly("a", date(2019, 10, 7))[:4] == [0, 20, 0, 10]


def test_unknown_device_in_queries() -> None:
    ledger = MeterLedger(DEVICES)
    for query in (
        lambda: ledger.hourly("zz", date(2019, 10, 7)),
        lambda: ledger.hour_total("zz", DAY0),
        lambda: ledger.last_timestamp("zz"),
        lambda: hourly_chart(ledger, "zz", date(2019, 10, 7)),
    ):
        with pytest.raises(MeterError) as info:
            query()
        assert info.value.code == "unknown_device"


readings_st = st.lists(
    st.builds(
        Reading,
        st.integers(0, 2 * 24 * 6 - 1).map(lambda i: DAY0 + i * TEN_MIN),
        st.sampled_from(["a", "b"]),
        st.integers(0, 600),
    ),
    max_size=60,
    unique_by=lambda r: (r.timestamp_ms, r.device_id),
)


def _model_totals(readings: list[Reading]) -> dict[tuple[str, int], int]:
    totals: Counter[tuple[str, int]] = Counter()
    for r in readings:
        totals[(r.device_id, r.timestamp_ms - r.timestamp_ms % HOUR_MS)] += r.wh
    return {key: wh for key, wh in totals.items()}


@settings(max_examples=100, deadline=None)
@given(readings=readings_st, data=st.data())
def test_shuffled_and_duplicated_readings_give_identical_totals(
    readings: list[Reading], data: st.DataObject
) -> None:
    extra = data.draw(st.lists(st.sampled_from(readings), max_size=20)) if readings else []
    delivered = data.draw(st.permutations(readings + extra))
    in_order, shuffled = MeterLedger(DEVICES), MeterLedger(DEVICES)
    for r in readings:
        in_order.ingest(r)
    statuses = Counter(shuffled.ingest(r).status for r in delivered)
    assert statuses["accepted"] == len(readings)
    assert statuses["duplicate"] == len(extra)
    assert shuffled.totals() == in_order.totals() == _model_totals(readings)
    for day in (date(2019, 10, 7), date(2019, 10, 8)):
        assert shuffled.node_hourly(day) == in_order.node_hourly(day)


@settings(max_examples=100, deadline=None)
@given(readings=readings_st, data=st.data())
def test_rebuild_from_stored_readings_equals_incremental(readings: list[Reading], data: st.DataObject) -> None:
    crash = data.draw(st.integers(0, len(readings)))
    whole = MeterLedger(DEVICES)
    whole_alerts = [a for r in readings for a in whole.ingest(r).alerts]
    before = MeterLedger(DEVICES)
    alerts = [a for r in readings[:crash] for a in before.ingest(r).alerts]
    # Restart: the I/O layer hands back what it stored, in the order it stored it.
    after = MeterLedger.rebuild(DEVICES, before.readings(), raised=before.raised_alerts())
    assert after.totals() == before.totals()
    assert after.raised_alerts() == before.raised_alerts()
    alerts += [a for r in readings[crash:] for a in after.ingest(r).alerts]
    assert alerts == whole_alerts
    assert after.totals() == whole.totals()
    assert after.readings() == whole.readings()


def test_rebuild_in_timestamp_order_never_resends_a_stored_alert() -> None:
    ledger = MeterLedger(DEVICES)
    sent = [a for i in range(4) for a in ledger.ingest(Reading(DAY0 + i * TEN_MIN, "b", 400)).alerts]
    assert [a.kind for a in sent] == ["warning", "exceeded"]
    stored = sorted(ledger.readings(), reverse=True)  # any stored order
    restored = MeterLedger.rebuild(DEVICES, stored, raised=[a.key for a in sent])
    assert restored.totals() == ledger.totals()
    assert restored.ingest(Reading(DAY0 + 4 * TEN_MIN, "b", 400)).alerts == ()


def test_rebuild_rejects_junk_alert_keys() -> None:
    with pytest.raises(MeterError):
        MeterLedger.rebuild(DEVICES, [], raised=[("boom", "a", DAY0)])
    with pytest.raises(MeterError):
        MeterLedger.rebuild(DEVICES, [], raised=[("warning", "zz", DAY0)])


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:
        pytest.skip(f"no tz database entry for {name}")


def test_hourly_in_a_half_hour_zone_places_each_reading() -> None:
    ledger = MeterLedger(DEVICES)
    for i in range(48 * 6):
        ledger.ingest(Reading(DAY0 + i * TEN_MIN, "a", i))
    kolkata = _zone("Asia/Kolkata")  # UTC+05:30
    day = date(2019, 10, 7)
    hours = ledger.hourly("a", day, kolkata)
    local_start = datetime(2019, 10, 7, tzinfo=kolkata)
    for h in (0, 5, 6, 23):
        lo = int((local_start + timedelta(hours=h)).timestamp() * 1000)
        idx = [(lo - DAY0) // TEN_MIN + k for k in range(6)]
        assert hours[h] == sum(i for i in idx if 0 <= i < 48 * 6)


def test_hourly_on_a_daylight_saving_day_keeps_24_values() -> None:
    berlin = _zone("Europe/Berlin")
    ledger = MeterLedger(DEVICES)
    # 2019-10-27 in Berlin lasts 25 hours (02:00-03:00 happens twice).
    start = int(datetime(2019, 10, 27, tzinfo=berlin).timestamp() * 1000)
    for i in range(25 * 6):
        ledger.ingest(Reading(start + i * TEN_MIN, "a", 10))
    hours = ledger.hourly("a", date(2019, 10, 27), berlin)
    assert len(hours) == 24
    assert sum(hours) == 25 * 60
    assert hours[2] == 120 and hours[1] == hours[3] == 60


def test_hourly_chart_is_the_bar_chart_data() -> None:
    ledger = _sample_ledger()
    day = date(2019, 10, 7)
    bars = hourly_chart(ledger, SAMPLE_DEVICE_ID, day)
    assert [bar["hour"] for bar in bars] == list(range(24))
    hours = ledger.hourly(SAMPLE_DEVICE_ID, day)
    assert [bar["kwh"] for bar in bars] == [wh / 1000 for wh in hours]
    assert all(bar["max_kwh"] == 2.0 for bar in bars)
    assert [bar["exceeded"] for bar in bars] == [wh > 2000 for wh in hours]
    assert any(bar["exceeded"] for bar in bars)


def test_ledger_rejects_bad_settings() -> None:
    bad = ({"interval_ms": 0}, {"interval_ms": HOUR_MS + 1}, {"interval_ms": 1.5}, {"warn_min_readings": 0})
    for kwargs in bad:
        with pytest.raises(MeterError):
            MeterLedger(DEVICES, **kwargs)  # type: ignore[arg-type]
    assert dict(MeterLedger(DEVICES).devices) == {d.device_id: d for d in DEVICES}
