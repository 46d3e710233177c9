"""Meter readings and raised alerts in the node's SQLite database.

The readings table is the durable truth: hourly totals are a pure function of
it (``nodes.metering.MeterLedger``), rebuilt at every start, so a restart can
neither lose an acknowledged reading nor count one twice. A batch of readings
and the alerts it raised are written in one transaction, before the sender is
answered. The primary key (device, timestamp) with ``INSERT OR IGNORE`` keeps a
redelivered reading out even if the ledger were ever wrong about it; rowids
keep the arrival order, which ``MeterLedger.rebuild`` needs to reproduce the
same alert decisions.

Used from the node actor's thread only, like the rest of the node's store.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterator, Sequence
from typing import Any

from nodes.metering import Alert, AlertKey, Reading

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meter_readings (
    device_id TEXT NOT NULL, timestamp_ms INTEGER NOT NULL, wh INTEGER NOT NULL,
    PRIMARY KEY (device_id, timestamp_ms)
);
CREATE TABLE IF NOT EXISTS meter_alerts (
    kind TEXT NOT NULL, device_id TEXT NOT NULL, hour_start_ms INTEGER NOT NULL,
    total_wh INTEGER NOT NULL, projected_wh INTEGER NOT NULL, max_wh INTEGER NOT NULL,
    at_ms INTEGER NOT NULL, message TEXT NOT NULL, raised_ms INTEGER NOT NULL,
    delivery TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT,
    PRIMARY KEY (kind, device_id, hour_start_ms)
);
"""
_ALERT_FIELDS = "kind, device_id, hour_start_ms, total_wh, projected_wh, max_wh, at_ms, message"

#: Delivery state of a stored alert: ``none`` when no channel beyond the event
#: stream was configured; ``pending`` ones are sent again after a restart.
DELIVERY_STATES = ("none", "pending", "delivered", "failed")


class MeterStore:
    """The metering tables of one node's database connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        db.executescript(_SCHEMA)

    def save(self, readings: Sequence[Reading], alerts: Sequence[Alert], raised_ms: int, delivery: str) -> int:
        """Store new readings and their alerts atomically; returns the readings inserted."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            cursor = self.db.executemany(
                "INSERT OR IGNORE INTO meter_readings(device_id, timestamp_ms, wh) VALUES (?, ?, ?)",
                [(r.device_id, r.timestamp_ms, r.wh) for r in readings],
            )
            inserted = cursor.rowcount
            self.db.executemany(
                f"INSERT OR IGNORE INTO meter_alerts({_ALERT_FIELDS}, raised_ms, delivery)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(*_alert_row(a), raised_ms, delivery) for a in alerts],
            )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return inserted

    def readings(self, device_ids: Collection[str]) -> Iterator[Reading]:
        """Stored readings of these devices, in the order they were stored."""
        rows = self.db.execute("SELECT device_id, timestamp_ms, wh FROM meter_readings ORDER BY rowid")
        for device_id, timestamp_ms, wh in rows:
            if device_id in device_ids:
                yield Reading(timestamp_ms, device_id, wh)

    def raised(self, device_ids: Collection[str]) -> list[AlertKey]:
        """Keys of the stored alerts of these devices."""
        rows = self.db.execute("SELECT kind, device_id, hour_start_ms FROM meter_alerts")
        return [(kind, device, start) for kind, device, start in rows if device in device_ids]

    def pending(self) -> list[Alert]:
        """Alerts whose delivery had not ended when the node stopped."""
        rows = self.db.execute(f"SELECT {_ALERT_FIELDS} FROM meter_alerts WHERE delivery = 'pending' ORDER BY rowid")
        return [Alert(*row) for row in rows]

    def set_delivery(self, key: AlertKey, delivery: str, attempts: int, last_error: str | None) -> None:
        """Record how a stored alert's delivery ended."""
        kind, device_id, start = key
        self.db.execute(
            "UPDATE meter_alerts SET delivery = ?, attempts = attempts + ?, last_error = ?"
            " WHERE kind = ? AND device_id = ? AND hour_start_ms = ?",
            (delivery, attempts, last_error, kind, device_id, start),
        )

    def alerts(self, device_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The newest stored alerts (of one device, or all), newest first."""
        where, args = ("WHERE device_id = ?", (device_id,)) if device_id else ("", ())
        rows = self.db.execute(
            f"SELECT {_ALERT_FIELDS}, raised_ms, delivery, attempts, last_error FROM meter_alerts {where}"
            " ORDER BY rowid DESC LIMIT ?",
            (*args, limit),
        )
        names = [*_ALERT_FIELDS.split(", "), "raised_ms", "delivery", "attempts", "last_error"]
        return [dict(zip(names, row, strict=True)) for row in rows]

    def count(self) -> int:
        """How many readings are stored (all devices, also unconfigured ones)."""
        return self.db.execute("SELECT count(*) FROM meter_readings").fetchone()[0]


def _alert_row(alert: Alert) -> tuple[Any, ...]:
    return (alert.kind, alert.device_id, alert.hour_start_ms, alert.total_wh, alert.projected_wh,
            alert.max_wh, alert.at_ms, alert.message)  # fmt: skip
