"""Hourly alerts: "exceeded" when an hour's total passes the device maximum, and a
"warning" earlier in the hour when, at the current rate, it will.

Projection (all integer arithmetic, ``H`` = one hour in ms)::

    covered   = min(n * interval, H)      # n readings so far this hour, each
                                          # standing for one metering interval
    rate      = total / covered           # Wh per ms so far this hour
    projected = total + rate * (H - covered) = total * H / covered   (rounded up)
    crossing  = max * covered / total     # ms into the hour where, at that
                                          # rate, the running total reaches max
    minute    = ceil(crossing / 1 min)    # 1..60: "by :MM" in the warning
                                          # ("by the end of the hour" for 60)

Counting readings rather than measuring the span between their timestamps
keeps the projection right when a reading arrives late or out of order.
Rounding the projection up makes ``projected_wh > max_wh`` exactly when the
true projection exceeds the maximum.

Rules, once per device-hour each (the ledger remembers what it raised):
- ``exceeded`` when ``total > max``; raised even if a warning came first.
- ``warning`` when ``total <= max < projected``, the hour is still open
  (``covered < H``) and current (a late reading for an hour the device has
  already left has nothing left to warn about), and at least
  ``warn_min_readings`` readings (default 2) are in: a single reading is one
  kettle switching on, not a rate, and would warn on every spike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from nodes.metering_readings import HOUR_MS, MINUTE_MS, Device, wh_to_kwh_text

AlertKind = Literal["warning", "exceeded"]
#: What makes an alert unique: at most one of each per device-hour.
AlertKey = tuple[str, str, int]  # (kind, device_id, hour_start_ms)


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert to deliver: what happened, for which device-hour, and why.

    ``at_ms`` is the timestamp of the reading that raised it; ``projected_wh``
    is the end-of-hour projection at that reading (see the module formula).
    """

    kind: AlertKind
    device_id: str
    hour_start_ms: int
    total_wh: int
    projected_wh: int
    max_wh: int
    at_ms: int
    message: str

    @property
    def key(self) -> AlertKey:
        """The (kind, device, hour) this alert is the only one of."""
        return (self.kind, self.device_id, self.hour_start_ms)


@dataclass(frozen=True, slots=True)
class Projection:
    """Where an hour is heading at its current rate.

    ``crossing_minute`` (1..60) is the minute by which the running total will
    reach the maximum, or None when it will not or already has.
    """

    covered_ms: int
    projected_wh: int
    crossing_minute: int | None


def project_hour(total_wh: int, readings: int, max_wh: int, interval_ms: int) -> Projection:
    """Project an hour's total from ``readings`` readings summing to ``total_wh``."""
    covered = min(readings * interval_ms, HOUR_MS)
    if covered <= 0 or total_wh <= 0:
        return Projection(covered, total_wh, None)
    projected = _ceil_div(total_wh * HOUR_MS, covered)
    minute = None
    if total_wh <= max_wh < projected:
        minute = _ceil_div(max_wh * covered, total_wh * MINUTE_MS)
    return Projection(covered, projected, minute)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def hour_alerts(
    device: Device,
    hour_start_ms: int,
    total_wh: int,
    readings: int,
    at_ms: int,
    *,
    interval_ms: int,
    raised: frozenset[AlertKind] | set[AlertKind],
    current: bool,
    warn_min_readings: int = 2,
) -> tuple[Alert, ...]:
    """Alerts a reading at ``at_ms`` raises for its device-hour, given what was ``raised``.

    ``current`` says the hour is the newest the device has reported.
    """
    max_wh = device.max_hourly_wh
    proj = project_hour(total_wh, readings, max_wh, interval_ms)
    facts = (device.device_id, hour_start_ms, total_wh, proj.projected_wh, max_wh, at_ms)
    if total_wh > max_wh:
        if "exceeded" in raised:
            return ()
        return (Alert("exceeded", *facts, _exceeded_text(total_wh, max_wh, hour_start_ms)),)
    if "warning" in raised or not current or readings < warn_min_readings:
        return ()
    if proj.crossing_minute is None or proj.covered_ms >= HOUR_MS:
        return ()
    return (Alert("warning", *facts, _warning_text(proj.projected_wh, max_wh, proj.crossing_minute)),)


def _warning_text(projected_wh: int, max_wh: int, minute: int) -> str:
    by = f":{minute:02d}" if minute < 60 else "the end of the hour"
    return f"projected {wh_to_kwh_text(projected_wh)} kWh vs max {wh_to_kwh_text(max_wh)} by {by}"


def _exceeded_text(total_wh: int, max_wh: int, hour_start_ms: int) -> str:
    hour = hour_start_ms // HOUR_MS % 24
    return (
        f"total {wh_to_kwh_text(total_wh)} kWh exceeds max {wh_to_kwh_text(max_wh)} kWh"
        f" in hour {hour:02d}:00 UTC"
    )
