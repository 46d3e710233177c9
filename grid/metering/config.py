"""The ``[metering]`` table of a node's TOML file (and ``--device``), checked once at start.

```toml
[metering]
interval = "10m"           # the meters' sampling interval: "600s", "10m", "1h" or seconds
timezone = "UTC"           # zone of the daily views when a request names none
warn_min_readings = 2      # readings in an hour before a projection may warn
devices = [
  { id = "5c2494a3-1140-4c7a-991a-a1a2561c6bc2", description = "flat 1",
    address = "Str. Baritiu 26", max_hourly_kwh = 2.0 },
]
webhook_url = "http://127.0.0.1:9000/alerts"   # shorthand for [metering.webhook] url

[metering.webhook]         # grid.notify.webhook.WebhookSettings
url = "http://127.0.0.1:9000/alerts"
retries = 5
backoff_s = 1.0
```

Without a webhook of its own, metering uses the node's ``[notify]`` table
(``webhook_url = ...`` or ``[notify.webhook]``), the channel other features share.
``grid node --device ID:MAX_KWH`` adds a device (repeatable) to the table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import TypeAdapter, ValidationError

from nodes.metering import DEFAULT_INTERVAL_MS, HOUR_MS, Device, MeterError
from protocol.metering import DeviceId

from ..node.config import NodeConfig
from ..notify.webhook import WebhookSettings

#: Words of the ``/meter/...`` routes that cannot also be device ids.
RESERVED_IDS = frozenset({"alerts", "readings"})
_KNOWN = {"interval", "timezone", "warn_min_readings", "devices", "webhook", "webhook_url"}
_DEVICE_KEYS = {"id", "description", "address", "max_hourly_kwh"}
_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|min|h)?\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, None: 1000, "m": 60_000, "min": 60_000, "h": HOUR_MS}
_device_id = TypeAdapter(DeviceId)


@dataclass(frozen=True)
class MeteringSettings:
    """What one node's metering feature runs with."""

    devices: tuple[Device, ...]
    interval_ms: int = DEFAULT_INTERVAL_MS
    timezone: str = "UTC"
    warn_min_readings: int = 2
    webhook: WebhookSettings | None = None

    @classmethod
    def from_config(cls, config: NodeConfig) -> "MeteringSettings | None":
        """The node's settings, None when it has no ``[metering]`` table; ValueError if wrong."""
        raw = config.feature("metering")
        if raw is None:
            return None
        try:
            return cls.from_mapping(raw, config.feature("notify") or {})
        except (ValueError, MeterError) as exc:
            raise ValueError(f"[metering]: {exc}") from None

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], notify: Mapping[str, Any] | None = None) -> "MeteringSettings":
        """Settings from the ``[metering]`` table (and the shared ``[notify]`` one)."""
        unknown = sorted(set(raw) - _KNOWN)
        if unknown:
            raise ValueError(f"unknown settings {unknown}; known: {sorted(_KNOWN)}")
        warn = raw.get("warn_min_readings", 2)
        if isinstance(warn, bool) or not isinstance(warn, int) or warn < 1:
            raise ValueError(f"warn_min_readings must be an integer >= 1, got {warn!r}")
        interval_ms = parse_interval_ms(raw.get("interval", DEFAULT_INTERVAL_MS // 1000))
        if interval_ms > HOUR_MS:
            raise ValueError("interval must be at most one hour")
        return cls(
            devices=parse_devices(raw.get("devices", [])),
            interval_ms=interval_ms,
            timezone=check_timezone(raw.get("timezone", "UTC")),
            warn_min_readings=warn,
            webhook=_webhook(raw) or _webhook(notify or {}),
        )


def parse_devices(raw: object) -> tuple[Device, ...]:
    """Devices from a list of ``{id, description, address, max_hourly_kwh}`` tables."""
    if not isinstance(raw, list):
        raise ValueError("devices must be a list of tables")
    devices: dict[str, Device] = {}
    for item in raw:
        device = parse_device(item)
        if device.device_id in devices:
            raise ValueError(f"device {device.device_id!r} is listed twice")
        devices[device.device_id] = device
    return tuple(devices.values())


def parse_device(raw: object) -> Device:
    """One device table; ``max_hourly_kwh`` is required, the texts are optional."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"a device is a table, got {raw!r}")
    unknown = sorted(set(raw) - _DEVICE_KEYS)
    if unknown or "id" not in raw or "max_hourly_kwh" not in raw:
        raise ValueError(f"a device needs id and max_hourly_kwh (optional: description, address); got {sorted(raw)}")
    try:
        device_id = _device_id.validate_python(raw["id"])
    except ValidationError:
        raise ValueError(f"device id {raw['id']!r} must be 1-128 characters of A-Z a-z 0-9 _ . : -") from None
    if device_id in RESERVED_IDS:
        raise ValueError(f"{device_id!r} names an endpoint and cannot be a device id")
    return Device(device_id, raw.get("description", ""), raw.get("address", ""), raw["max_hourly_kwh"])


def parse_interval_ms(value: object) -> int:
    """A duration as ms: seconds as a number, or text like ``"10m"``, ``"600s"``, ``"1h"``."""
    if isinstance(value, bool):
        raise ValueError(f"interval must be a duration, got {value!r}")
    if isinstance(value, int | float):
        value = str(value)
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"interval must look like 10m, 600s, 1h or 600, got {value!r}")
    ms = round(float(match.group(1)) * _UNIT_MS[match.group(2)])
    if ms <= 0:
        raise ValueError(f"interval must be positive, got {value!r}")
    return ms


def check_timezone(name: object) -> str:
    """``name`` if it is a known IANA zone (``UTC``, ``Europe/Bucharest``); ValueError otherwise."""
    if not isinstance(name, str) or not 0 < len(name) <= 64:
        raise ValueError(f"timezone must be an IANA zone name, got {name!r}")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {name!r}") from None
    return name


def parse_device_flag(text: str) -> dict[str, Any]:
    """``ID:MAX_KWH`` (from ``grid node --device``) as a device table."""
    device_id, sep, max_kwh = text.rpartition(":")
    try:
        value = float(max_kwh)
    except ValueError:
        value = None
    if not sep or not device_id or value is None:
        raise ValueError(f"--device wants ID:MAX_KWH, e.g. meter-1:2.0; got {text!r}")
    return {"id": device_id, "max_hourly_kwh": value}


def with_cli_devices(features: Mapping[str, Mapping[str, Any]], flags: Iterable[str]) -> dict[str, Any]:
    """``features`` with the ``--device`` flags added to the ``[metering]`` devices."""
    added = [parse_device_flag(flag) for flag in flags]
    if not added:
        return dict(features)
    metering = dict(features.get("metering", {}))
    metering["devices"] = [*metering.get("devices", []), *added]
    return {**features, "metering": metering}


def _webhook(table: Mapping[str, Any]) -> WebhookSettings | None:
    """The webhook of a table: its ``webhook`` sub-table or its ``webhook_url``."""
    if "webhook" in table and "webhook_url" in table:
        raise ValueError("give either webhook_url or a webhook table, not both")
    if "webhook" in table:
        if not isinstance(table["webhook"], Mapping):
            raise ValueError("webhook must be a table")
        return WebhookSettings.from_mapping(table["webhook"])
    if "webhook_url" in table:
        return WebhookSettings.from_mapping({"url": table["webhook_url"]})
    return None
