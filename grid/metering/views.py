"""What the metering endpoints answer, built from the ledger (no I/O here).

Energies are exact: totals are integer Wh in the ledger, shown as kWh (floats
in JSON, exact decimal text in CSV).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, tzinfo
from typing import Any

from nodes.metering import Device, MeterLedger, Reading, hourly_chart, wh_to_kwh_text

#: Columns of the hourly CSV export.
HOURLY_CSV_HEADER = ("hour_start", "hour", "kwh", "max_kwh", "exceeded")


def device_info(device: Device, latest: Reading | None, readings: int) -> dict[str, Any]:
    """A device as registered, with what it last reported."""
    return {
        "id": device.device_id,
        "description": device.description,
        "address": device.address,
        "max_hourly_kwh": device.max_hourly_wh / 1000,
        "readings": readings,
        "last_timestamp": latest.timestamp_ms if latest else None,
        "last_kwh": latest.wh / 1000 if latest else None,
    }


def hourly(ledger: MeterLedger, device_id: str, day: date, tz_name: str, tz: tzinfo) -> dict[str, Any]:
    """``GET /meter/{device}/hourly``: 24 bars of one device's day."""
    bars = hourly_chart(ledger, device_id, day, tz)
    wh = ledger.hourly(device_id, day, tz)
    return {
        "device_id": device_id,
        "day": day.isoformat(),
        "timezone": tz_name,
        "max_kwh": ledger.device(device_id).max_hourly_wh / 1000,
        "total_kwh": sum(wh) / 1000,
        "exceeded_hours": [bar["hour"] for bar in bars if bar["exceeded"]],
        "hours": bars,
    }


def hourly_csv(ledger: MeterLedger, device_id: str, day: date, tz_name: str, tz: tzinfo) -> bytes:
    """``GET /meter/{device}/hourly.csv``: the same day as CSV, exact kWh text."""
    max_wh = ledger.device(device_id).max_hourly_wh
    lines = [f"# device {device_id}, day {day.isoformat()}, timezone {tz_name}", ",".join(HOURLY_CSV_HEADER)]
    for hour, wh in enumerate(ledger.hourly(device_id, day, tz)):
        start = datetime.combine(day, time(hour), tzinfo=tz).isoformat()
        flag = "true" if wh > max_wh else "false"
        lines.append(f"{start},{hour},{wh_to_kwh_text(wh)},{wh_to_kwh_text(max_wh)},{flag}")
    return ("\n".join(lines) + "\n").encode()


def overview(
    ledger: MeterLedger,
    latest: Mapping[str, Reading],
    counts: Mapping[str, int],
    day: date,
    tz_name: str,
    tz: tzinfo,
) -> dict[str, Any]:
    """``GET /meter``: every device with its day's total, and the node's hours."""
    devices = []
    for device_id, device in ledger.devices.items():
        wh = ledger.hourly(device_id, day, tz)
        info = device_info(device, latest.get(device_id), counts.get(device_id, 0))
        info["day_kwh"] = sum(wh) / 1000
        info["exceeded_hours"] = [hour for hour, value in enumerate(wh) if value > device.max_hourly_wh]
        devices.append(info)
    node_wh = ledger.node_hourly(day, tz)
    return {
        "day": day.isoformat(),
        "timezone": tz_name,
        "interval_s": ledger.interval_ms / 1000,
        "devices": devices,
        "node": {"day_kwh": sum(node_wh) / 1000, "hours_kwh": [wh / 1000 for wh in node_wh]},
    }

