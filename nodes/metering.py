"""Smart metering, the pure half: readings, hourly totals, alerts, meter files.

A meter (the simulator) sends ``{"timestamp": ms, "device_id": ..., "measurement_value": kWh}``
every interval. ``MeterLedger`` turns readings into exact hourly totals in Wh per
device and per node, ignores redelivered readings, and returns the alerts to
emit (an hour exceeded its device maximum, or is projected to). Meter files are
parsed from text and generated from a seed; the replay planner tells a
simulator where to resume after a restart. Nothing here reads a clock, a file
or a socket: the I/O layer (``grid/``) passes time and text in and persists
what comes out.

Modules: ``metering_readings`` (devices, validation), ``metering_alerts``
(projection formula and alert rules), ``metering_ledger`` (the state machine),
``metering_csv`` (file layouts), ``metering_sample`` (the seeded sample week),
``metering_replay`` (resume planning), ``metering_chart`` (bar-chart data).
"""

from __future__ import annotations

from nodes.metering_alerts import Alert, AlertKey, AlertKind, Projection, hour_alerts, project_hour
from nodes.metering_chart import HourBar, hourly_chart
from nodes.metering_csv import (
    CSV_HEADER,
    format_reading_rows,
    parse_meter_csv,
    parse_reading_rows,
    parse_value_rows,
)
from nodes.metering_ledger import IngestResult, IngestStatus, MeterLedger
from nodes.metering_readings import (
    DEFAULT_INTERVAL_MS,
    HOUR_MS,
    MAX_TIMESTAMP_MS,
    MIN_TIMESTAMP_MS,
    MINUTE_MS,
    Device,
    MeterError,
    Reading,
    hour_start,
    kwh_to_wh,
    make_reading,
    normalize_device_id,
    parse_timestamp_ms,
    reading_from_wire,
    wh_to_kwh_text,
)
from nodes.metering_replay import ReplayPlan, plan_replay
from nodes.metering_sample import (
    SAMPLE_DAYS,
    SAMPLE_DEVICE_ID,
    SAMPLE_MAX_HOURLY_KWH,
    SAMPLE_SEED,
    SAMPLE_START_MS,
    generate_sample_csv,
    generate_sample_readings,
)

__all__ = [
    "CSV_HEADER",
    "DEFAULT_INTERVAL_MS",
    "HOUR_MS",
    "MAX_TIMESTAMP_MS",
    "MINUTE_MS",
    "MIN_TIMESTAMP_MS",
    "SAMPLE_DAYS",
    "SAMPLE_DEVICE_ID",
    "SAMPLE_MAX_HOURLY_KWH",
    "SAMPLE_SEED",
    "SAMPLE_START_MS",
    "Alert",
    "AlertKey",
    "AlertKind",
    "Device",
    "HourBar",
    "IngestResult",
    "IngestStatus",
    "MeterError",
    "MeterLedger",
    "Projection",
    "Reading",
    "ReplayPlan",
    "format_reading_rows",
    "generate_sample_csv",
    "generate_sample_readings",
    "hour_alerts",
    "hour_start",
    "hourly_chart",
    "kwh_to_wh",
    "make_reading",
    "normalize_device_id",
    "parse_meter_csv",
    "parse_reading_rows",
    "parse_timestamp_ms",
    "parse_value_rows",
    "plan_replay",
    "reading_from_wire",
    "project_hour",
    "wh_to_kwh_text",
]
