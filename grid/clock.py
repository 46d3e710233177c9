"""The simulation clock: real time, or a faster day that several processes share.

    simulated = start + (wall - epoch) * speed

- ``wall`` is the wall clock (Unix seconds). It is the one clock every process
  on a machine (and, with NTP, on a network) already agrees on, which is why
  simulated time is derived from it rather than from a monotonic clock or from
  counting steps: two processes given the same ``start``, ``speed`` and
  ``epoch`` compute the same simulated time whenever each of them started.
- ``epoch`` is the wall-clock instant at which the simulation stood at
  ``start``. Nothing in ``start`` and ``speed`` alone can tell processes
  started at different moments which instant that was, so it is explicit:
  pass the same ``--epoch`` to every node of a run. Without one a node takes
  the moment it was started and logs it, so others can be given it.
- Defaults: ``speed`` 1 and no ``start`` is plain real time (simulated =
  wall), whatever the epoch.

Gossip timing (heartbeat, TTL) stays in real seconds; only models see
simulated time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

#: Highest speed factor accepted (a year in about half a minute).
MAX_SPEED = 1e6


@dataclass(frozen=True)
class SimClock:
    """Simulated time as a linear function of the wall clock."""

    start_s: float
    epoch_s: float
    speed: float = 1.0
    wall: Callable[[], float] = field(default=time.time, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.speed) and 0 < self.speed <= MAX_SPEED):
            raise ValueError(f"speed must be within (0, {MAX_SPEED:g}], got {self.speed!r}")
        if not (math.isfinite(self.start_s) and math.isfinite(self.epoch_s)):
            raise ValueError("start and epoch must be finite instants")

    @classmethod
    def real_time(cls, wall: Callable[[], float] = time.time) -> "SimClock":
        """Simulated time equal to the wall clock."""
        now = wall()
        return cls(now, now, 1.0, wall)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None, wall: Callable[[], float] = time.time) -> "SimClock":
        """The clock of a ``[clock]`` table: ``speed``, ``start``, ``epoch`` (all optional).

        ``start`` and ``epoch`` are ISO 8601 datetimes (naive means UTC) or
        Unix seconds. Raises ``ValueError`` for anything else.
        """
        settings = settings or {}
        unknown = sorted(set(settings) - {"speed", "start", "epoch"})
        if unknown:
            raise ValueError(f"unknown clock setting(s): {', '.join(unknown)}; known: speed, start, epoch")
        now = wall()
        epoch = parse_instant(settings["epoch"]) if settings.get("epoch") is not None else now
        start = parse_instant(settings["start"]) if settings.get("start") is not None else epoch
        speed = settings.get("speed", 1.0)
        if isinstance(speed, bool) or not isinstance(speed, (int, float)):
            raise ValueError(f"speed must be a number, got {speed!r}")
        return cls(start, epoch, float(speed), wall)

    def now_s(self) -> float:
        """Simulated Unix seconds now."""
        return self.at(self.wall())

    def at(self, wall_s: float) -> float:
        """Simulated Unix seconds at wall-clock instant ``wall_s``."""
        return self.start_s + (wall_s - self.epoch_s) * self.speed

    def now(self) -> datetime:
        """Simulated time now, as an aware UTC datetime."""
        return datetime.fromtimestamp(self.now_s(), tz=timezone.utc)

    def real_seconds(self, simulated_s: float) -> float:
        """How long ``simulated_s`` simulated seconds take in real time."""
        return simulated_s / self.speed

    def describe(self) -> dict[str, Any]:
        """JSON-ready settings and the simulated time now (for /state and logs)."""
        return {
            "now": iso(self.now_s()),
            "speed": self.speed,
            "start": iso(self.start_s),
            "epoch": round(self.epoch_s, 3),
        }


def parse_instant(value: Any) -> float:
    """Unix seconds of an ISO 8601 datetime (naive: UTC), a datetime, or a number."""
    if isinstance(value, bool):
        raise ValueError(f"not an instant: {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, datetime):
        seconds = _aware(value).timestamp()
    elif isinstance(value, str):
        seconds = _parse_text(value.strip())
    else:
        raise ValueError(f"not an instant: {value!r}")
    if not math.isfinite(seconds):
        raise ValueError(f"not a finite instant: {value!r}")
    return seconds


def _parse_text(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        # fromisoformat of 3.11 takes "Z" and every ISO 8601 form we need.
        return _aware(datetime.fromisoformat(text)).timestamp()
    except ValueError:
        raise ValueError(f"not an ISO 8601 datetime or Unix seconds: {text!r}") from None


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def iso(seconds: float) -> str:
    """Unix seconds as an ISO 8601 UTC string, to the second."""
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat(timespec="seconds")
