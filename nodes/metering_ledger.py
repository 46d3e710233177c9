"""The meter ledger: a pure, in-memory state machine of readings, hourly totals
and raised alerts. The I/O layer feeds it readings and mirrors into SQLite what
``ingest`` returns; after a restart it rebuilds the ledger from the stored
readings (and alerts), so nothing is lost and nothing is counted twice.

Rules:
- A reading is credited to the epoch-aligned (UTC clock) hour containing its
  timestamp, in integer Wh. Totals are sums, so arrival order does not matter.
- The first reading for a (device, timestamp) wins; a repeat is a
  ``duplicate`` (same energy) or a ``conflict`` (different energy), and both
  are ignored, so redelivery never double counts. (SQLite mirror: a primary
  key on (device_id, timestamp_ms) with INSERT OR IGNORE.)
- Alerts follow ``nodes.metering_alerts``: each kind at most once per
  device-hour, decided at the reading that crosses the line.
- Daily views (``hourly``) regroup readings by local clock hour in any time
  zone; on daylight-saving days the skipped hour reads 0 and the repeated hour
  holds both occurrences, so the 24 values always sum to the day's energy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from types import MappingProxyType
from typing import Literal

from nodes.metering_alerts import Alert, AlertKey, AlertKind, hour_alerts
from nodes.metering_readings import (
    DEFAULT_INTERVAL_MS,
    HOUR_MS,
    Device,
    MeterError,
    Reading,
    hour_start,
    reading_from_wire,
)

IngestStatus = Literal["accepted", "duplicate", "conflict"]


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What one ``ingest`` did: its status, the hour it touched, alerts to emit."""

    status: IngestStatus
    reading: Reading
    hour_start_ms: int
    hour_total_wh: int
    alerts: tuple[Alert, ...] = ()

    @property
    def accepted(self) -> bool:
        """True when the reading was new and is now counted (and must be stored)."""
        return self.status == "accepted"


class _Hour:
    """One device-hour: its readings (timestamp -> Wh), total, alerts raised."""

    __slots__ = ("readings", "total_wh", "raised")

    def __init__(self) -> None:
        self.readings: dict[int, int] = {}
        self.total_wh = 0
        self.raised: set[AlertKind] = set()


class MeterLedger:
    """Hourly energy per device and per node, with alerts; no I/O, no clock.

    ``interval_ms`` is the meters' sampling interval (the original simulator
    sends one value every 10 minutes); the warning projection depends on it,
    and warns only from the ``warn_min_readings``-th reading of an hour.
    """

    def __init__(
        self,
        devices: Iterable[Device] = (),
        *,
        interval_ms: int = DEFAULT_INTERVAL_MS,
        warn_min_readings: int = 2,
    ) -> None:
        if type(interval_ms) is not int or not 0 < interval_ms <= HOUR_MS:
            raise MeterError("bad_value", f"interval_ms must be an int in 1..{HOUR_MS}, got {interval_ms!r}")
        if type(warn_min_readings) is not int or warn_min_readings < 1:
            raise MeterError("bad_value", f"warn_min_readings must be an int >= 1, got {warn_min_readings!r}")
        self._interval_ms = interval_ms
        self._warn_min_readings = warn_min_readings
        self._devices: dict[str, Device] = {}
        self._hours: dict[str, dict[int, _Hour]] = {}
        self._node: dict[int, int] = {}
        self._latest: dict[str, int] = {}
        self._log: list[Reading] = []
        for device in devices:
            self.set_device(device)

    @classmethod
    def rebuild(
        cls,
        devices: Iterable[Device],
        readings: Iterable[Reading],
        *,
        raised: Iterable[AlertKey] = (),
        interval_ms: int = DEFAULT_INTERVAL_MS,
        warn_min_readings: int = 2,
    ) -> MeterLedger:
        """A ledger restored from stored readings (in the order they were stored).

        Replaying in arrival order reproduces the same totals and the same
        alert decisions; ``raised`` (the stored alerts' keys) is merged in so
        an alert already delivered before a restart is never sent again.
        """
        ledger = cls(devices, interval_ms=interval_ms, warn_min_readings=warn_min_readings)
        for reading in readings:
            ledger.ingest(reading)
        for kind, device_id, start in raised:
            if kind not in ("warning", "exceeded"):
                raise MeterError("bad_value", f"unknown alert kind {kind!r}")
            ledger.device(device_id)
            ledger._bucket(device_id, hour_start(start)).raised.add(kind)
        return ledger

    @property
    def interval_ms(self) -> int:
        """The sampling interval the warning projection assumes."""
        return self._interval_ms

    @property
    def devices(self) -> Mapping[str, Device]:
        """Registered devices by id (read-only view)."""
        return MappingProxyType(self._devices)

    def set_device(self, device: Device) -> None:
        """Register or update a device; a new maximum applies from the next reading."""
        self._devices[device.device_id] = device
        self._hours.setdefault(device.device_id, {})

    def device(self, device_id: str) -> Device:
        """The registered device, or ``MeterError("unknown_device")``."""
        try:
            return self._devices[device_id]
        except KeyError:
            raise MeterError("unknown_device", f"no device {device_id!r} is registered") from None

    def ingest(self, reading: Reading) -> IngestResult:
        """Count one reading (unless already counted) and return the alerts it raises."""
        device = self.device(reading.device_id)
        start = hour_start(reading.timestamp_ms)
        bucket = self._bucket(device.device_id, start)
        known = bucket.readings.get(reading.timestamp_ms)
        if known is not None:
            status: IngestStatus = "duplicate" if known == reading.wh else "conflict"
            return IngestResult(status, reading, start, bucket.total_wh)
        self._count(reading, start, bucket)
        alerts = hour_alerts(
            device,
            start,
            bucket.total_wh,
            len(bucket.readings),
            reading.timestamp_ms,
            interval_ms=self._interval_ms,
            raised=bucket.raised,
            current=start == hour_start(self._latest[device.device_id]),
            warn_min_readings=self._warn_min_readings,
        )
        bucket.raised.update(alert.kind for alert in alerts)
        return IngestResult("accepted", reading, start, bucket.total_wh, alerts)

    def ingest_wire(self, obj: Mapping[str, object]) -> IngestResult:
        """Validate the simulator's JSON reading against the registry, then ingest it."""
        return self.ingest(reading_from_wire(obj, self._devices))

    def _count(self, reading: Reading, start: int, bucket: _Hour) -> None:
        bucket.readings[reading.timestamp_ms] = reading.wh
        bucket.total_wh += reading.wh
        self._node[start] = self._node.get(start, 0) + reading.wh
        latest = self._latest.get(reading.device_id, reading.timestamp_ms)
        self._latest[reading.device_id] = max(latest, reading.timestamp_ms)
        self._log.append(reading)

    def _bucket(self, device_id: str, start: int) -> _Hour:
        hours = self._hours.setdefault(device_id, {})
        bucket = hours.get(start)
        if bucket is None:
            bucket = hours[start] = _Hour()
        return bucket

    def hour_total(self, device_id: str, hour_start_ms: int) -> int:
        """Wh a device used in the UTC hour starting at ``hour_start_ms``."""
        self.device(device_id)
        bucket = self._hours[device_id].get(hour_start(hour_start_ms))
        return bucket.total_wh if bucket else 0

    def node_hour_total(self, hour_start_ms: int) -> int:
        """Wh all of this node's devices used in that UTC hour."""
        return self._node.get(hour_start(hour_start_ms), 0)

    def totals(self) -> dict[tuple[str, int], int]:
        """Every non-empty (device_id, hour_start_ms) -> Wh: the hourly table to persist."""
        return {
            (dev, start): bucket.total_wh
            for dev, hours in self._hours.items()
            for start, bucket in hours.items()
            if bucket.readings
        }

    def raised_alerts(self) -> frozenset[AlertKey]:
        """Keys of every alert raised so far (or restored by ``rebuild``)."""
        return frozenset(
            (kind, dev, start)
            for dev, hours in self._hours.items()
            for start, bucket in hours.items()
            for kind in bucket.raised
        )

    def readings(self) -> tuple[Reading, ...]:
        """Every counted reading, in arrival order (what ``rebuild`` takes back)."""
        return tuple(self._log)

    def last_timestamp(self, device_id: str) -> int | None:
        """The newest reading counted for a device: the ack a simulator resumes after."""
        self.device(device_id)
        return self._latest.get(device_id)

    def hourly(self, device_id: str, day: date, tz: tzinfo = timezone.utc) -> list[int]:
        """Wh per local clock hour 0..23 of ``day`` in ``tz`` for one device."""
        self.device(device_id)
        start, end = _day_bounds_ms(day, tz)
        out = [0] * 24
        hours = self._hours[device_id]
        for h in range(hour_start(start), end, HOUR_MS):
            bucket = hours.get(h)
            if bucket is not None:
                _spread(bucket, h, day, tz, out)
        return out

    def node_hourly(self, day: date, tz: tzinfo = timezone.utc) -> list[int]:
        """Wh per local clock hour of ``day`` summed over all devices (the node's total)."""
        out = [0] * 24
        for device_id in self._hours:
            for i, wh in enumerate(self.hourly(device_id, day, tz)):
                out[i] += wh
        return out


def _day_bounds_ms(day: date, tz: tzinfo) -> tuple[int, int]:
    """[start, end) of a local calendar day in epoch ms."""
    start = datetime.combine(day, time(), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=tz)
    return int(start.timestamp()) * 1000, int(end.timestamp()) * 1000


def _local(timestamp_ms: int, tz: tzinfo) -> datetime:
    # Whole seconds suffice: zone offsets are whole seconds, so flooring the
    # milliseconds never moves an instant across an hour boundary.
    return datetime.fromtimestamp(timestamp_ms // 1000, tz)


def _spread(bucket: _Hour, h: int, day: date, tz: tzinfo, out: list[int]) -> None:
    """Add a UTC hour's energy to the local hours of ``day`` it falls in."""
    first, last = _local(h, tz), _local(h + HOUR_MS - 1, tz)
    if first.date() == last.date() == day and first.hour == last.hour:
        out[first.hour] += bucket.total_wh  # whole-hour zone offset: one step
        return
    # Half-hour zones and day edges: place each reading on its own.
    for ts, wh in bucket.readings.items():
        local = _local(ts, tz)
        if local.date() == day:
            out[local.hour] += wh
