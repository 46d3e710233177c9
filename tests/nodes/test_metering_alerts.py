"""Hourly alerts: the projection formula, once per device-hour, at the right reading."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from nodes.metering import HOUR_MS, Alert, Device, MeterLedger, Reading, project_hour

H0 = 1_570_618_800_000  # 2019-10-09T11:00Z, an hour boundary
TEN_MIN = 600_000
METER = Device("m1", "flat", "Str. Memorandumului 28", 1.5)


def _feed(ledger: MeterLedger, whs: list[int], start: int = H0, device: str = "m1") -> list[tuple[Alert, ...]]:
    """Ingest one 10-minute reading per value (Wh); the alerts each one raised."""
    return [ledger.ingest(Reading(start + i * TEN_MIN, device, wh)).alerts for i, wh in enumerate(whs)]


def test_projection_by_hand() -> None:
    # 200 + 300 + 400 Wh in the first three 10-minute readings: 900 Wh over 30 min.
    # rate 30 Wh/min -> projected 900 + 30 * 30 = 1800 Wh; 1500 Wh is reached at
    # 1500 / 30 = minute 50.
    proj = project_hour(900, 3, 1500, TEN_MIN)
    assert (proj.covered_ms, proj.projected_wh, proj.crossing_minute) == (30 * 60_000, 1800, 50)
    # 300 + 400 Wh over 20 min: 35 Wh/min, projected 2100, 2000 reached at 57.14 -> by :58.
    assert project_hour(700, 2, 2000, TEN_MIN).crossing_minute == 58
    assert project_hour(700, 2, 2000, TEN_MIN).projected_wh == 2100
    # Projection rounds up, so "projected > max" means the exact projection is.
    assert project_hour(1, 3, 1, TEN_MIN).projected_wh == 2
    assert project_hour(500, 2, 1500, TEN_MIN).crossing_minute is None  # lands exactly on max
    assert project_hour(1600, 3, 1500, TEN_MIN).crossing_minute is None  # already over
    assert project_hour(0, 2, 0, TEN_MIN).projected_wh == 0
    assert project_hour(600, 9, 500, TEN_MIN).projected_wh == 600  # more readings than an hour holds


def test_warning_at_the_reading_that_projects_over_and_exceeded_once() -> None:
    ledger = MeterLedger([METER])
    alerts = _feed(ledger, [200, 300, 400, 400, 300, 100])
    # After two readings: 500 Wh over 20 min projects exactly 1500, not over.
    assert alerts[0] == alerts[1] == ()
    (warning,) = alerts[2]
    assert warning == Alert(
        kind="warning",
        device_id="m1",
        hour_start_ms=H0,
        total_wh=900,
        projected_wh=1800,
        max_wh=1500,
        at_ms=H0 + 2 * TEN_MIN,
        message="projected 1.8 kWh vs max 1.5 by :50",
    )
    # 1300 Wh after four readings: still under, and the warning is not repeated.
    assert alerts[3] == ()
    (exceeded,) = alerts[4]
    assert (exceeded.kind, exceeded.total_wh, exceeded.at_ms) == ("exceeded", 1600, H0 + 4 * TEN_MIN)
    assert exceeded.message == "total 1.6 kWh exceeds max 1.5 kWh in hour 11:00 UTC"
    assert alerts[5] == ()
    assert ledger.raised_alerts() == {("warning", "m1", H0), ("exceeded", "m1", H0)}


def test_each_hour_and_device_alerts_on_its_own() -> None:
    other = Device("m2", "shop", "Piata Unirii 1", 1.5)
    ledger = MeterLedger([METER, other])
    first = _feed(ledger, [800, 800])
    second = _feed(ledger, [800, 800], start=H0 + HOUR_MS)
    third = _feed(ledger, [800, 800], device="m2")
    for alerts in (first, second, third):
        # One reading is never a rate; the second one goes straight over.
        assert [[a.kind for a in step] for step in alerts] == [[], ["exceeded"]]


def test_a_single_jump_over_the_max_raises_only_exceeded() -> None:
    ledger = MeterLedger([METER], warn_min_readings=1)
    assert [a.kind for a in ledger.ingest(Reading(H0, "m1", 1600)).alerts] == ["exceeded"]


def test_warn_min_readings_one_warns_on_the_first_reading() -> None:
    ledger = MeterLedger([METER], warn_min_readings=1)
    (warning,) = ledger.ingest(Reading(H0, "m1", 300)).alerts
    assert warning.message == "projected 1.8 kWh vs max 1.5 by :50"


def test_late_reading_for_a_past_hour_can_exceed_but_not_warn() -> None:
    ledger = MeterLedger([METER])
    _feed(ledger, [100, 100], start=H0 + HOUR_MS)  # the device has moved on to the next hour
    assert _feed(ledger, [100, 700]) == [(), ()]  # would project 2400 Wh, but the hour is over
    (late,) = ledger.ingest(Reading(H0 + 2 * TEN_MIN, "m1", 800)).alerts
    assert late.kind == "exceeded"


def test_warning_near_the_end_of_the_hour_says_so() -> None:
    ledger = MeterLedger([Device("m1", "", "", 2.0)])
    alerts = _feed(ledger, [300, 300, 300, 300, 500])
    # 1700 Wh over 50 min projects 2040 Wh; 2000 is reached at minute 58.8.
    assert alerts[:4] == [(), (), (), ()]
    assert alerts[4][0].message == "projected 2.04 kWh vs max 2.0 by :59"
    ledger = MeterLedger([Device("m1", "", "", 2.0)])
    alerts = _feed(ledger, [300, 300, 300, 300, 470])
    # 1670 Wh over 50 min projects 2004 Wh; 2000 is reached at minute 59.9.
    assert alerts[4][0].message == "projected 2.004 kWh vs max 2.0 by the end of the hour"


def test_a_raised_maximum_applies_from_the_next_reading() -> None:
    ledger = MeterLedger([METER])
    _feed(ledger, [100, 100])
    ledger.set_device(Device("m1", "flat", "Str. Memorandumului 28", 0.1))
    (alert,) = ledger.ingest(Reading(H0 + 2 * TEN_MIN, "m1", 1)).alerts
    assert (alert.kind, alert.max_wh) == ("exceeded", 100)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 11), st.sampled_from(["m1", "m2"]), st.integers(0, 900)), max_size=50),
    st.integers(1, 3),
)
def test_alert_invariants(script: list[tuple[int, str, int]], min_readings: int) -> None:
    devices = [METER, Device("m2", "shop", "here", 0.9)]
    ledger = MeterLedger(devices, warn_min_readings=min_readings)
    seen: list[Alert] = []
    for slot, device, wh in script:
        result = ledger.ingest(Reading(H0 + slot * TEN_MIN, device, wh))
        for alert in result.alerts:
            assert alert.at_ms == result.reading.timestamp_ms
            assert alert.hour_start_ms == result.hour_start_ms
            if alert.kind == "exceeded":
                assert alert.total_wh > alert.max_wh
            else:
                assert alert.total_wh <= alert.max_wh < alert.projected_wh
        seen += result.alerts
    keys = [a.key for a in seen]
    assert len(keys) == len(set(keys))  # each kind at most once per device-hour
    assert set(keys) == ledger.raised_alerts()
    for (device, start), total in ledger.totals().items():
        limit = next(d.max_hourly_wh for d in devices if d.device_id == device)
        assert (("exceeded", device, start) in keys) == (total > limit)
