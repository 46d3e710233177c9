"""Meter readings and devices: validation and normalisation on ingest.

A reading arrives as ``{"timestamp": ms, "device_id": ..., "measurement_value": kWh}``
(the original simulator's JSON). On ingest the energy becomes integer watt-hours,
rounded half up from the decimal the sender wrote, so hourly totals are exact
sums that do not depend on the order readings arrive in.
"""

from __future__ import annotations

import math
import re
from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from protocol.limits import MAX_NAME_LEN, MAX_TEXT_LEN

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
#: The original simulator's sampling interval: one value every 10 minutes.
DEFAULT_INTERVAL_MS = 10 * MINUTE_MS
#: Earliest plausible reading, 2000-01-01T00:00Z. Anything earlier is almost
#: always a timestamp sent in seconds instead of milliseconds.
MIN_TIMESTAMP_MS = 946_684_800_000
#: Latest plausible reading, 2100-01-01T00:00Z.
MAX_TIMESTAMP_MS = 4_102_444_800_000
#: Largest energy accepted in one reading or as a device maximum (1 GWh); keeps
#: every total a modest integer whatever a broken sender claims.
MAX_KWH = Decimal(1_000_000)
MAX_WH = 1_000_000_000

_WH_PER_KWH = Decimal(1000)
_DIGITS = re.compile(r"^\+?[0-9]{1,16}$")


class MeterError(ValueError):
    """A reading, device or meter file rejected; ``code`` names the reason.

    Codes: ``unknown_device``, ``bad_device``, ``bad_timestamp``, ``bad_value``,
    ``bad_csv``, ``bad_replay``. The I/O layer maps every one to a 400.
    """

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail

    def to_json(self) -> dict[str, str]:
        """The error body in the shape every Grid rejection uses."""
        return {"error": self.code, "detail": self.detail}


def parse_timestamp_ms(value: object) -> int:
    """Epoch milliseconds from an int, an integral float or a digit string.

    Rejects booleans, fractions, negatives and instants outside 2000..2100
    (``bad_timestamp``).
    """
    ms = _int_like(value)
    if ms is None:
        raise MeterError("bad_timestamp", f"timestamp must be integer epoch milliseconds, got {value!r}")
    if not MIN_TIMESTAMP_MS <= ms < MAX_TIMESTAMP_MS:
        raise MeterError("bad_timestamp", f"timestamp {ms} ms is outside 2000..2100 (seconds sent as ms?)")
    return ms


def _int_like(value: object) -> int | None:
    """The integer a value spells, or None; ``True`` is not 1 here."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else None
    if isinstance(value, str) and _DIGITS.match(value.strip()):
        return int(value.strip())
    return None


def kwh_to_wh(value: object, *, what: str = "measurement_value") -> int:
    """Energy in kWh (number or decimal string) to integer Wh, rounded half up.

    The decimal the sender wrote is rounded, not its binary float, so "0.0005"
    gives 1 Wh. Rejects NaN, infinities, negatives, absurd sizes (``bad_value``).
    """
    kwh = _to_decimal(value, what)
    if not kwh.is_finite() or kwh < 0 or kwh > MAX_KWH:
        raise MeterError("bad_value", f"{what} must be finite, >= 0 and <= {MAX_KWH} kWh, got {value!r}")
    return int((kwh * _WH_PER_KWH).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _to_decimal(value: object, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise MeterError("bad_value", f"{what} must be a number in kWh, got {value!r}")
    try:
        # repr() of a float is its shortest round-tripping decimal: what was sent.
        return Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        raise MeterError("bad_value", f"{what} is not a number: {value!r}") from None


def wh_to_kwh_text(wh: int) -> str:
    """Integer Wh as exact kWh text with at least one decimal: 4300 -> "4.3"."""
    whole, frac = divmod(wh, 1000)
    return f"{whole}.{f'{frac:03d}'.rstrip('0') or '0'}"


def normalize_device_id(value: object) -> str:
    """Ids arrive as strings or integers (as in the original); both mean the same id."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and 0 < len(value) <= MAX_NAME_LEN:
        return value
    raise MeterError("unknown_device", f"device_id must be a short string or integer, got {value!r}")


@dataclass(frozen=True, slots=True)
class Device:
    """A smart metering device, as the original platform registered it.

    ``max_hourly_kwh`` is the most energy the device may use in one hour;
    ``max_hourly_wh`` is the same limit as exact integer Wh (derived).
    """

    device_id: str
    description: str
    address: str
    max_hourly_kwh: float
    max_hourly_wh: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if type(self.device_id) is not str or not 0 < len(self.device_id) <= MAX_NAME_LEN:
            raise MeterError("bad_device", f"device_id must be a short string, got {self.device_id!r}")
        for name in ("description", "address"):
            text = getattr(self, name)
            if not isinstance(text, str) or len(text) > MAX_TEXT_LEN:
                raise MeterError("bad_device", f"{name} must be text of at most {MAX_TEXT_LEN} characters")
        try:
            wh = kwh_to_wh(self.max_hourly_kwh, what="max_hourly_kwh")
        except MeterError as exc:
            raise MeterError("bad_device", exc.detail) from None
        object.__setattr__(self, "max_hourly_wh", wh)


@dataclass(frozen=True, slots=True, order=True)
class Reading:
    """One validated meter reading: energy ``wh`` measured by ``device_id``.

    Built by ``make_reading`` / ``reading_from_wire``; construction re-checks
    the invariants so every ``Reading`` in the system is valid. Ordered by
    timestamp, then device, so sorting a mixed list is deterministic.
    """

    timestamp_ms: int
    device_id: str
    wh: int

    def __post_init__(self) -> None:
        if type(self.timestamp_ms) is not int:
            raise MeterError("bad_timestamp", f"timestamp_ms must be int, got {self.timestamp_ms!r}")
        parse_timestamp_ms(self.timestamp_ms)
        if type(self.device_id) is not str or not 0 < len(self.device_id) <= MAX_NAME_LEN:
            raise MeterError("unknown_device", f"device_id must be a short str, got {self.device_id!r}")
        if type(self.wh) is not int or not 0 <= self.wh <= MAX_WH:
            raise MeterError("bad_value", f"wh must be a non-negative int, got {self.wh!r}")

    @property
    def kwh_text(self) -> str:
        """The energy as exact kWh text (for CSV and display)."""
        return wh_to_kwh_text(self.wh)

    def to_wire(self) -> dict[str, Any]:
        """The original simulator's JSON: ``timestamp``, ``device_id``, ``measurement_value``."""
        return {
            "timestamp": self.timestamp_ms,
            "device_id": self.device_id,
            "measurement_value": self.wh / 1000,
        }


def make_reading(
    timestamp: object,
    device_id: object,
    measurement_value: object,
    devices: Container[str] | None = None,
) -> Reading:
    """Validate and normalise one reading; ``devices`` (ids) rejects unknown ones.

    With ``devices=None`` the device is not checked (a simulator parsing its
    own file does not know the node's registry; the ledger checks on ingest).
    """
    ms = parse_timestamp_ms(timestamp)
    dev = normalize_device_id(device_id)
    if devices is not None and dev not in devices:
        raise MeterError("unknown_device", f"no device {dev!r} is registered")
    return Reading(ms, dev, kwh_to_wh(measurement_value))


def reading_from_wire(obj: Mapping[str, object], devices: Container[str] | None = None) -> Reading:
    """A reading from the simulator's JSON dict (snake_case or camelCase keys)."""
    if not isinstance(obj, Mapping):
        raise MeterError("bad_value", f"a reading must be an object, got {type(obj).__name__}")
    return make_reading(
        obj.get("timestamp"),
        obj.get("device_id", obj.get("deviceId")),
        obj.get("measurement_value", obj.get("measurementValue")),
        devices,
    )


def hour_start(timestamp_ms: int) -> int:
    """Start of the epoch-aligned hour holding the instant (a UTC clock hour).

    A reading is credited to the hour that contains its timestamp, as the
    original consumer did; the ledger keeps its totals per such hour.
    """
    return timestamp_ms - timestamp_ms % HOUR_MS
