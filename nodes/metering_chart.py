"""The data behind the per-hour bar chart of a device's day (OX hours, OY kWh)."""

from __future__ import annotations

from datetime import date, timezone, tzinfo
from typing import TypedDict

from nodes.metering_ledger import MeterLedger


class HourBar(TypedDict):
    """One bar: local clock hour, its energy, the device maximum, and whether it was passed."""

    hour: int
    kwh: float
    max_kwh: float
    exceeded: bool


def hourly_chart(ledger: MeterLedger, device_id: str, day: date, tz: tzinfo = timezone.utc) -> list[HourBar]:
    """24 bars for ``day`` in ``tz``; ``exceeded`` compares exact Wh, not rounded kWh."""
    max_wh = ledger.device(device_id).max_hourly_wh
    return [
        {"hour": hour, "kwh": wh / 1000, "max_kwh": max_wh / 1000, "exceeded": wh > max_wh}
        for hour, wh in enumerate(ledger.hourly(device_id, day, tz))
    ]
