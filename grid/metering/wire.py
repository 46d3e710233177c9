"""Readings from the network: decoding batches, checking them, errors as 4xx.

``POST /meter/readings`` takes the original simulator's JSON as-is: one
reading object, or a list of them (JSON or msgpack). Each is validated with the
protocol's ``MeterReading`` model (shape and types) and then with
``nodes.metering.make_reading`` (a plausible instant, a bounded energy), the
same two steps a ``MeterReading`` envelope on ``/messaging`` goes through.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone, tzinfo
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgpack
from pydantic import Field, TypeAdapter, ValidationError

from nodes.metering import Alert, MeterError, Reading, make_reading
from protocol import codec
from protocol.codec import _describe as describe  # the codec's summary of what was wrong, reused
from protocol.errors import BadMessage
from protocol.limits import MAX_ENTRIES
from protocol.metering import MeterReading

_one = TypeAdapter(MeterReading)
_many = TypeAdapter(Annotated[list[MeterReading], Field(max_length=MAX_ENTRIES)])
_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def bad(exc: MeterError) -> BadMessage:
    """The 400 answer to a reading, device or file ``nodes.metering`` refused."""
    return BadMessage(exc.detail, code=exc.code)


def to_reading(message: MeterReading) -> Reading:
    """A checked reading from a validated message; 400 when its meaning is wrong."""
    try:
        return make_reading(message.timestamp, message.device_id, message.measurement_value)
    except MeterError as exc:
        raise bad(exc) from None


def decode_readings(body: bytes, content_type: str | None) -> list[Reading]:
    """The readings of a ``POST /meter/readings`` body: one object or a list."""
    kind = codec.media_type(content_type)
    if not body.strip():
        raise BadMessage("empty body; send a reading or a list of readings", code="empty_body")
    try:
        messages = _json(body) if kind == codec.JSON else _msgpack(body)
    except ValidationError as exc:
        code = "invalid_json" if any(e["type"] == "json_invalid" for e in exc.errors()) else "invalid_reading"
        raise BadMessage(describe(exc), code=code) from None
    readings = []
    for index, message in enumerate(messages):
        try:
            readings.append(to_reading(message))
        except BadMessage as exc:
            raise BadMessage(f"reading {index}: {exc.detail}", code=exc.code) from None
    return readings


def _json(body: bytes) -> list[MeterReading]:
    if body.lstrip()[:1] == b"[":
        return _many.validate_json(body)
    return [_one.validate_json(body)]


def _msgpack(body: bytes) -> list[MeterReading]:
    try:
        raw = msgpack.unpackb(body, raw=False, strict_map_key=True)
    except (ValueError, msgpack.ExtraData, msgpack.StackError, msgpack.FormatError, TypeError) as exc:
        raise BadMessage(f"invalid msgpack: {type(exc).__name__}", code="invalid_msgpack") from None
    return _many.validate_python(raw) if isinstance(raw, list) else [_one.validate_python(raw)]


# ---------------------------------------------------------------- request parameters
def zone(params: dict[str, Any], default: str) -> tuple[str, tzinfo]:
    """The ``tz`` parameter (an IANA zone name) or the node's default zone."""
    name = params.get("tz") or default
    if not isinstance(name, str) or len(name) > 64:
        raise BadMessage("tz must be an IANA zone name such as UTC or Europe/Bucharest", code="bad_timezone")
    try:
        return name, ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadMessage(f"unknown timezone {name!r}", code="bad_timezone") from None


def day(params: dict[str, Any], tz: tzinfo, now_ms: int) -> date:
    """The ``day`` parameter (YYYY-MM-DD), or today in ``tz``."""
    text = params.get("day")
    if not text:
        return datetime.fromtimestamp(now_ms / 1000, tz).date()
    if not isinstance(text, str) or not _DAY.match(text):
        raise BadMessage(f"day must be YYYY-MM-DD, got {text!r}", code="bad_day")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadMessage(f"{text!r} is not a calendar day", code="bad_day") from None


def alert_event(alert: Alert, node_id: str) -> dict[str, Any]:
    """An alert as published on the event stream and posted to webhooks."""
    start = datetime.fromtimestamp(alert.hour_start_ms / 1000, timezone.utc)
    return {
        "kind": "meter_alert",
        "alert": alert.kind,
        "node_id": node_id,
        "device_id": alert.device_id,
        "hour_start_ms": alert.hour_start_ms,
        "hour_start": start.isoformat().replace("+00:00", "Z"),
        "total_kwh": alert.total_wh / 1000,
        "projected_kwh": alert.projected_wh / 1000,
        "max_kwh": alert.max_wh / 1000,
        "at_ms": alert.at_ms,
        "message": alert.message,
    }


def alert_key(alert: Alert, node_id: str) -> str:
    """The idempotency key of an alert's deliveries: the same after any restart."""
    return f"meter:{node_id}:{alert.kind}:{alert.device_id}:{alert.hour_start_ms}"
