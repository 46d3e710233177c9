"""Units of power and time shared by every model.

Power crosses model boundaries as integer watts, so sums over a view are exact;
inside a model it may be a float. Time is never read from a clock: callers pass
an *instant*, either an aware (or naive, taken as UTC) ``datetime`` or seconds
since the Unix epoch, and models turn it into whichever form they need here.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

#: A moment in time as callers may pass it.
Instant = datetime | float | int

WATTS_PER_KW = 1000
SECONDS_PER_HOUR = 3600.0


def to_epoch_s(now: Instant) -> float:
    """Seconds since the Unix epoch; a naive ``datetime`` is taken as UTC."""
    if isinstance(now, datetime):
        return to_utc(now).timestamp()
    if isinstance(now, bool) or not math.isfinite(now):
        raise ValueError(f"not an instant: {now!r}")
    return float(now)


def to_utc(now: Instant) -> datetime:
    """The instant as an aware UTC ``datetime``."""
    if isinstance(now, datetime):
        if now.tzinfo is None:
            return now.replace(tzinfo=timezone.utc)
        return now.astimezone(timezone.utc)
    return datetime.fromtimestamp(to_epoch_s(now), tz=timezone.utc)


def kw_to_w(kw: float) -> int:
    """kW (as an operator types it) to integer watts, rounding half away from zero."""
    if not math.isfinite(kw):
        raise ValueError(f"power must be finite, got {kw!r}")
    return round_w(kw * WATTS_PER_KW)


def round_w(power_w: float) -> int:
    """A float power to integer watts, half away from zero (same rule as ``kw_to_w``)."""
    if not math.isfinite(power_w):
        raise ValueError(f"power must be finite, got {power_w!r}")
    return int(power_w + 0.5) if power_w >= 0 else -int(-power_w + 0.5)


def energy_wh(power_w: float, dt_s: float) -> float:
    """Energy in Wh of a constant power held for ``dt_s`` seconds."""
    return power_w * dt_s / SECONDS_PER_HOUR


def check_dt(dt_s: float) -> float:
    """Validate a step length: finite and not negative (zero is a no-op step)."""
    if not math.isfinite(dt_s) or dt_s < 0:
        raise ValueError(f"dt_s must be finite and >= 0, got {dt_s!r}")
    return float(dt_s)
