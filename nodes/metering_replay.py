"""Replay planning for the meter simulator: what to send next after a restart.

The node's durable acknowledgement is the cursor, not the simulator's memory:
rows sent but lost in a node crash were never stored, and the node's newest
stored timestamp for the device says exactly where storage stopped. So after
either side restarts the simulator asks the node for that timestamp and sends
every later row of its file, which neither skips nor duplicates a row.

A simulator that stamps rows from its clock at start (the original's way)
must keep that start instant across its own restarts, so the same row keeps
the same timestamp and the acknowledgement still points into the file.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from nodes.metering_readings import MeterError, Reading


@dataclass(frozen=True, slots=True)
class ReplayPlan:
    """The rows to send next (in order) and the file index of the first of them."""

    index: int
    rows: tuple[Reading, ...]

    @property
    def done(self) -> bool:
        """True when the file has nothing left to send."""
        return not self.rows


def plan_replay(
    rows: Sequence[Reading],
    start_index: int = 0,
    last_acked_ms: int | None = None,
    *,
    limit: int | None = None,
) -> ReplayPlan:
    """The next rows to send from one device's file.

    ``start_index`` is where this replay run begins in the file (rows before it
    are never sent); ``last_acked_ms`` is the newest timestamp the node has
    stored for the device (None: nothing yet). Rows must be one device's, in
    strictly increasing time. ``limit`` caps the batch size.
    """
    _check_rows(rows)
    if type(start_index) is not int or not 0 <= start_index <= len(rows):
        raise MeterError("bad_replay", f"start_index must be in 0..{len(rows)}, got {start_index!r}")
    if limit is not None and (type(limit) is not int or limit < 0):
        raise MeterError("bad_replay", f"limit must be a non-negative int, got {limit!r}")
    index = start_index
    if last_acked_ms is not None:
        index = bisect_right(rows, last_acked_ms, lo=start_index, key=_timestamp)
    end = len(rows) if limit is None else min(len(rows), index + limit)
    return ReplayPlan(index, tuple(rows[index:end]))


def _timestamp(reading: Reading) -> int:
    return reading.timestamp_ms


def _check_rows(rows: Sequence[Reading]) -> None:
    """One device, strictly increasing timestamps: else "after the ack" is ambiguous."""
    for before, after in zip(rows, rows[1:], strict=False):
        if after.device_id != before.device_id:
            raise MeterError("bad_replay", "a replay file must hold one device's readings")
        if after.timestamp_ms <= before.timestamp_ms:
            detail = f"timestamps must increase, {after.timestamp_ms} follows {before.timestamp_ms}"
            raise MeterError("bad_replay", detail)
