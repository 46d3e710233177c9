"""The meter simulator: replay a meter file into a node, surviving node restarts.

Like the original's smart-meter simulator (a standalone script sending one
reading per 10-minute interval), at ``speed`` times real time. Row ``i`` is
due ``(t_i - t_first) / speed`` seconds after the run starts; rows that are due
together (a high speed, or a backlog after an outage) go as one batch.

Surviving restarts (``nodes.metering.plan_replay``): the node's newest stored
timestamp for the device is the cursor. The simulator asks for it when it
starts and again after any failed send, then sends every later row, so it
neither skips a row (a reading lost in a crash was never stored, so it is
after the cursor) nor duplicates one (a batch stored just before a crash is
before it; a repeat would be ignored by the node anyway). While the node is
unreachable the simulator waits with jittered back-off, and gives up after
``give_up_s`` without an answer.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol

from nodes.metering import MeterError, Reading, parse_meter_csv, plan_replay

from ..notify.webhook import backoff_delay


class Unreachable(Exception):
    """The node did not answer, or is busy: try again later."""


class Refused(Exception):
    """The node refused the request (4xx): sending it again will not help."""


class MeterLink(Protocol):
    """How the simulator talks to a node."""

    def last_timestamp(self, device_id: str) -> int | None:
        """The newest timestamp the node has stored for the device (None: nothing)."""

    def send(self, readings: Sequence[Reading]) -> None:
        """Deliver readings; returns once the node has stored them."""


def load_rows(
    text: str,
    device_id: str,
    *,
    interval_ms: int,
    start_ms: int | None = None,
    cumulative: bool = False,
) -> list[Reading]:
    """One device's rows from a meter file, oldest first.

    A file of one device's readings is relabelled to ``device_id`` (each
    simulator instance is one device); from a file of several devices only
    ``device_id``'s rows are kept. A one-column file needs ``start_ms``.
    """
    rows = parse_meter_csv(text, device_id=device_id, start_ms=start_ms, interval_ms=interval_ms, cumulative=cumulative)
    devices = {row.device_id for row in rows}
    if len(devices) > 1:
        rows = [row for row in rows if row.device_id == device_id]
        if not rows:
            raise MeterError("bad_csv", f"the file has devices {sorted(devices)[:5]} but not {device_id!r}")
    rows = sorted(Reading(row.timestamp_ms, device_id, row.wh) for row in rows)
    plan_replay(rows)  # refuses repeated timestamps: "after the ack" would be ambiguous
    return rows


@dataclass
class ReplayStats:
    """What a run did: rows sent and acknowledged, rows the node already had, failures."""

    total: int = 0
    sent: int = 0
    skipped: int = 0
    batches: int = 0
    failures: int = 0
    resumed_at: list[int] = field(default_factory=list)


@dataclass
class Backoff:
    """Waits between failed attempts: ``backoff_delay`` from ``base_s`` up to ``cap_s``."""

    base_s: float = 0.2
    cap_s: float = 5.0
    give_up_s: float = 300.0
    rng: random.Random = field(default_factory=random.Random)


class Replayer:
    """Sends one device's rows to a node on schedule; see the module rules."""

    def __init__(
        self,
        rows: Sequence[Reading],
        link: MeterLink,
        *,
        speed: float = 60.0,
        batch: int = 100,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        report: Callable[[str], None] = lambda line: None,
    ) -> None:
        if speed < 0 or batch < 1:
            raise ValueError("speed must be >= 0 (0: as fast as possible) and batch >= 1")
        if not rows:
            raise ValueError("nothing to replay: the file has no rows")
        self.rows = list(rows)
        self.device_id = self.rows[0].device_id
        self.link = link
        self.speed = speed
        self.batch = batch
        self.backoff = backoff or Backoff()
        self.clock, self.sleep, self.report = clock, sleep, report
        self.stats = ReplayStats(total=len(self.rows))

    def run(self) -> ReplayStats:
        """Replay until every row is stored; raises Refused, or Unreachable after giving up."""
        index = self._resume(failed=False)
        self.stats.skipped = index
        if index >= len(self.rows):
            return self.stats
        t0, ts0 = self.clock(), self.rows[index].timestamp_ms
        while index < len(self.rows):
            wait = self._due(index, t0, ts0) - self.clock()
            if wait > 0:
                self.sleep(wait)
                continue
            end = self._batch_end(index, t0, ts0)
            try:
                self.link.send(self.rows[index:end])
            except Unreachable as exc:
                self.report(f"send failed: {exc}")
                index = self._resume(failed=True)
                continue
            self.stats.sent += end - index
            self.stats.batches += 1
            self._progress(index, end)
            index = end
        return self.stats

    def _progress(self, before: int, after: int) -> None:
        """A line at every tenth of the file."""
        total = len(self.rows)
        if after * 10 // total > before * 10 // total:
            upto = datetime.fromtimestamp(self.rows[after - 1].timestamp_ms / 1000, timezone.utc)
            self.report(f"{after}/{total} rows stored (up to {upto:%Y-%m-%d %H:%M} UTC)")

    def _due(self, index: int, t0: float, ts0: int) -> float:
        if self.speed == 0:
            return t0
        return t0 + (self.rows[index].timestamp_ms - ts0) / 1000 / self.speed

    def _batch_end(self, index: int, t0: float, ts0: int) -> int:
        now, end = self.clock(), index + 1
        while end < len(self.rows) and end - index < self.batch and self._due(end, t0, ts0) <= now:
            end += 1
        return end

    def _resume(self, failed: bool) -> int:
        """The index of the first row the node has not stored, asking until it answers."""
        started, retry = self.clock(), 0
        while True:
            if failed:
                self.stats.failures += 1
                retry += 1
                delay = backoff_delay(retry, self.backoff.base_s, self.backoff.cap_s, self.backoff.rng)
                if self.clock() - started + delay > self.backoff.give_up_s:
                    raise Unreachable(f"no answer for {self.backoff.give_up_s:g} s; giving up")
                self.sleep(delay)
            try:
                acked = self.link.last_timestamp(self.device_id)
            except Unreachable as exc:
                self.report(f"node unreachable: {exc}")
                failed = True
                continue
            index = plan_replay(self.rows, 0, acked).index
            self.stats.resumed_at.append(index)
            return index
