"""The metering feature: a node's smart meters, their hourly totals and alerts.

Glue between ``nodes.metering`` (the ledger: totals and alert decisions) and
the node: readings arrive as ``MeterReading`` envelopes on ``/messaging`` or in
batches on ``POST /meter/readings``; each batch is stored in the node's SQLite
database (with the alerts it raised) before it is acknowledged; then the node's
consumption is updated, and alerts go to the event stream and the webhook.

Rules:
- Only the node's own devices are metered; a batch with any reading for
  another device is refused whole (400 ``unknown_device``), so bad input
  changes nothing.
- The same (device, timestamp) counts once: a repeat with the same energy is a
  ``duplicate``, with another energy a ``conflict``; both are ignored.
- The node's consumption is the power of each device's newest interval,
  ``Wh * 1 h / interval`` (0.1 kWh in 10 minutes = 600 W), summed over
  devices; its production stays as it was. On a node run by a model
  (``--kind consumer``, ...) the model owns the energy and meters only count.
- Each alert kind fires once per device-hour, including across restarts (the
  raised keys are stored); a webhook delivery cut short by a restart is made
  again at the next start, with the same idempotency key.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date, tzinfo
from typing import Any

from nodes.market import manual_offer
from nodes.metering import HOUR_MS, Alert, AlertKey, IngestResult, MeterError, MeterLedger, Reading
from protocol.envelopes import Envelope
from protocol.errors import Conflict, NotFound, Overloaded
from protocol.metering import MeterReading

from ..node.commands import Outcome
from ..node.config import NodeConfig
from ..node.feature import Feature, MessageHandler, QueryHandler, Raw
from ..notify import Delivery
from ..notify.webhook import WebhookChannel
from . import views, wire
from .config import MeteringSettings
from .store import MeterStore

log = logging.getLogger("grid.metering")


class MeteringFeature(Feature):
    """A node's meters: ingest, durable storage, hourly views, alerts."""

    name = "metering"

    def __init__(self, settings: MeteringSettings) -> None:
        self.settings = settings
        self.device_ids = frozenset(d.device_id for d in settings.devices)
        self.channel: WebhookChannel | None = None
        self._latest: dict[str, Reading] = {}
        self._counts: Counter[str] = Counter()
        self._alerts = 0

    @classmethod
    def from_config(cls, config: NodeConfig) -> "MeteringFeature | None":
        """The feature for a node with a ``[metering]`` table (or ``--device``)."""
        settings = MeteringSettings.from_config(config)
        return cls(settings) if settings is not None else None

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.store = MeterStore(self.node.store.db)
        self.ledger = self._rebuild()
        if self.settings.webhook is not None:
            self.channel = WebhookChannel.from_settings(self.settings.webhook, self.node.scheduler)
        self._publish_power()
        for alert in self.store.pending():  # cut short by a stop or crash: send again
            self._notify(alert)
        log.info("%s: metering %d devices, %d stored readings", self.node.config.name, len(self.device_ids),
                 sum(self._counts.values()))  # fmt: skip

    def stop(self) -> None:
        if self.channel is not None:
            self.channel.close()

    def _rebuild(self) -> MeterLedger:
        """The ledger as the stored readings and alerts make it."""
        readings = list(self.store.readings(self.device_ids))
        raised = self.store.raised(self.device_ids)
        ledger = MeterLedger.rebuild(
            self.settings.devices, readings, raised=raised,
            interval_ms=self.settings.interval_ms, warn_min_readings=self.settings.warn_min_readings,
        )  # fmt: skip
        self._latest, self._counts, self._alerts = {}, Counter(), len(raised)
        self._track(readings)
        return ledger

    def _track(self, readings: Iterable[Reading]) -> None:
        for reading in readings:
            self._counts[reading.device_id] += 1
            latest = self._latest.get(reading.device_id)
            if latest is None or reading.timestamp_ms > latest.timestamp_ms:
                self._latest[reading.device_id] = reading

    # ------------------------------------------------------------ hooks
    def handlers(self) -> dict[str, MessageHandler]:
        return {MeterReading.msg_type: self._on_reading}

    def queries(self) -> dict[str, QueryHandler]:
        return {
            "ingest": self._query_ingest,
            "overview": self._query_overview,
            "device": self._query_device,
            "hourly": self._query_hourly,
            "hourly_csv": self._query_hourly_csv,
            "alerts": self._query_alerts,
        }

    def state(self) -> dict[str, Any]:
        block: dict[str, Any] = {
            "devices": len(self.device_ids),
            "readings": sum(self._counts.values()),
            "alerts": self._alerts,
        }
        if self.channel is not None:
            block["webhook"] = self.channel.summary()
        return block

    # ------------------------------------------------------------ ingest
    def ingest(self, readings: Sequence[Reading]) -> list[IngestResult]:
        """Count, store (before returning) and announce a batch of checked readings."""
        for reading in readings:
            if reading.device_id not in self.device_ids:
                raise wire.bad(MeterError("unknown_device", f"device {reading.device_id!r} is not metered here"))
        results = [self.ledger.ingest(reading) for reading in readings]
        accepted = [result.reading for result in results if result.accepted]
        if not accepted:
            return results
        alerts = [alert for result in results for alert in result.alerts]
        try:
            self.store.save(accepted, alerts, self.node.scheduler.wall_ms(), "pending" if self.channel else "none")
        except sqlite3.Error as exc:
            log.error("%s: cannot store meter readings: %s", self.node.config.name, exc)
            self.ledger = self._rebuild()  # forget what was counted but not stored
            raise Overloaded("the readings could not be stored; retry", retry_after_s=1.0) from None
        self._track(accepted)
        self._alerts += len(alerts)
        self._publish_power()
        self._announce(alerts)
        self._publish_hours(results)
        return results

    def _on_reading(self, env: Envelope) -> Outcome:
        """A ``MeterReading`` envelope: one reading, answered with its fate."""
        assert isinstance(env.message, MeterReading)
        (result,) = self.ingest([wire.to_reading(env.message)])
        if result.status == "conflict":
            at = f"{result.reading.device_id} at {result.reading.timestamp_ms}"
            raise Conflict(f"{at} already has another value; the first one stands", code="conflicting_reading")
        body = {
            "status": result.status,
            "device_id": result.reading.device_id,
            "timestamp": result.reading.timestamp_ms,
            "hour_total_kwh": result.hour_total_wh / 1000,
            "alerts": [alert.kind for alert in result.alerts],
        }
        return Outcome(202, body)

    def _query_ingest(self, params: dict[str, Any]) -> dict[str, Any]:
        """A batch from ``POST /meter/readings`` (already decoded and checked)."""
        was_pending = bool(self.node.core.pending)
        results = self.ingest(params["readings"])
        if self.node.core.pending and not was_pending:
            # A query reply skips the actor's after-change step, which schedules the
            # push of our new entry to siblings; an empty Call runs it now.
            self.node.call_later(0, _nothing)
        tally = Counter(result.status for result in results)
        touched = {result.reading.device_id for result in results}
        return {
            "accepted": tally["accepted"],
            "duplicate": tally["duplicate"],
            "conflict": tally["conflict"],
            "alerts": sum(len(result.alerts) for result in results),
            "last_timestamp": {device: self._latest[device].timestamp_ms for device in sorted(touched)
                               if device in self._latest},
        }  # fmt: skip

    # ------------------------------------------------------------ effects
    def _publish_power(self) -> None:
        """Set the node's consumption to its meters' newest interval power."""
        if not self._latest or self.node.config.kind != "manual":
            return  # no meter has spoken, or a model owns the node's energy
        interval = self.ledger.interval_ms
        watts = sum((r.wh * HOUR_MS + interval // 2) // interval for r in self._latest.values())
        production_w, before_w = self.node.reading
        if watts != before_w:
            # As for UpdateEnergy: a typed-in (here metered) node bids its net inelastically.
            self.node.set_reading(production_w, watts, offer=manual_offer(production_w, watts))

    def _announce(self, alerts: Sequence[Alert]) -> None:
        for alert in alerts:
            log.warning("%s: meter %s: %s", self.node.config.name, alert.device_id, alert.message)
            self.node.events.publish("alert", wire.alert_event(alert, self.node.config.id))
            if self.channel is not None:
                self._notify(alert)

    def _notify(self, alert: Alert) -> None:
        """Hand a stored alert to the webhook (none configured now: the event stream had it)."""
        if self.channel is None:
            self.store.set_delivery(alert.key, "none", 0, None)
            return
        key = alert.key
        self.channel.deliver(
            wire.alert_event(alert, self.node.config.id),
            key=wire.alert_key(alert, self.node.config.id),
            on_done=lambda delivery: self.node.call_later(0, self._delivered, key, delivery),
        )

    def _delivered(self, key: AlertKey, delivery: Delivery) -> None:
        """A webhook delivery ended (in the actor's thread): record how."""
        self.store.set_delivery(key, delivery.status, delivery.attempts, delivery.last_error)

    def _publish_hours(self, results: Sequence[IngestResult]) -> None:
        """Tell live viewers (dashboard) which device-hours changed."""
        if not self.node.events.listening:
            return
        hours = {(r.reading.device_id, r.hour_start_ms): r.hour_total_wh for r in results if r.accepted}
        for (device_id, start), wh in sorted(hours.items()):
            self.node.events.publish("meter", {"device_id": device_id, "hour_start_ms": start, "total_kwh": wh / 1000})

    # ------------------------------------------------------------ reads
    def _device(self, params: dict[str, Any]) -> str:
        device_id = params.get("device", "")
        if device_id not in self.device_ids:
            raise NotFound(f"no device {device_id!r} is metered here", code="unknown_device")
        return device_id

    def _zone_day(self, params: dict[str, Any]) -> tuple[date, str, tzinfo]:
        """The requested day, and the zone it is read in (``?day=``, ``?tz=``)."""
        tz_name, tz = wire.zone(params, self.settings.timezone)
        return wire.day(params, tz, self.node.scheduler.wall_ms()), tz_name, tz

    def _query_overview(self, params: dict[str, Any]) -> dict[str, Any]:
        day, tz_name, tz = self._zone_day(params)
        body = views.overview(self.ledger, self._latest, self._counts, day, tz_name, tz)
        return {"node_id": self.node.config.id, "consumption_kw": self.node.reading[1] / 1000, **body}

    def _query_device(self, params: dict[str, Any]) -> dict[str, Any]:
        device_id = self._device(params)
        device = self.ledger.device(device_id)
        return views.device_info(device, self._latest.get(device_id), self._counts[device_id])

    def _query_hourly(self, params: dict[str, Any]) -> dict[str, Any]:
        device_id = self._device(params)
        return views.hourly(self.ledger, device_id, *self._zone_day(params))

    def _query_hourly_csv(self, params: dict[str, Any]) -> Raw:
        device_id = self._device(params)
        return Raw(views.hourly_csv(self.ledger, device_id, *self._zone_day(params)), "text/csv")

    def _query_alerts(self, params: dict[str, Any]) -> dict[str, Any]:
        device_id = self._device(params) if params.get("device") else None
        body: dict[str, Any] = {"alerts": self.store.alerts(device_id)}
        if self.channel is not None:
            body["webhook"] = {**self.channel.summary(), "deliveries": self.channel.deliveries()}
        return body


def _nothing() -> None:
    """An empty actor call (see ``_query_ingest``)."""
