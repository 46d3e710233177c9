"""Timestamped series parsed from CSV text, for replaying recorded data.

Pure: the caller reads the file and hands over its text (or an iterable of
lines); nothing here opens files. A row is ``timestamp,value[,value...]`` where
the timestamp is ISO 8601 (naive means UTC) or seconds since the epoch. Blank
lines and ``#`` comments are skipped, and a first row whose values are not
numbers is taken as the header.
"""

from __future__ import annotations

import bisect
import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from .units import Instant, to_epoch_s

#: How values between two rows are found: a straight line, or the earlier row.
Interpolation = Literal["linear", "step"]


@dataclass(frozen=True, slots=True)
class TimeSeries:
    """Rows of equal width at strictly increasing times (epoch seconds).

    Before the first row the first values hold, after the last row the last
    ones, unless ``loop`` is set: then the series repeats with a period of its
    span plus its last interval (a day of hourly rows loops every 24 h).
    """

    times: tuple[float, ...]
    rows: tuple[tuple[float, ...], ...]
    interpolation: Interpolation = "linear"
    loop: bool = False

    def __post_init__(self) -> None:
        if not self.times or len(self.times) != len(self.rows):
            raise ValueError("a series needs at least one row, one time per row")
        if any(b <= a for a, b in zip(self.times, self.times[1:], strict=False)):
            raise ValueError("series times must be strictly increasing")
        if len({len(row) for row in self.rows}) != 1:
            raise ValueError("every row of a series must have the same width")

    @property
    def period_s(self) -> float:
        """The loop period: span plus the last interval (0 for a single row)."""
        if len(self.times) < 2:
            return 0.0
        return self.times[-1] - self.times[0] + (self.times[-1] - self.times[-2])

    def at(self, now: Instant) -> tuple[float, ...]:
        """The values at ``now``."""
        t = self._wrap(to_epoch_s(now))
        i = bisect.bisect_right(self.times, t) - 1
        if i < 0:
            return self.rows[0]
        if i >= len(self.times) - 1:
            return self._tail(i, t)
        return self._between(i, i + 1, t, self.times[i + 1])

    def _wrap(self, t: float) -> float:
        period = self.period_s
        if not self.loop or period <= 0:
            return t
        return self.times[0] + (t - self.times[0]) % period

    def _tail(self, i: int, t: float) -> tuple[float, ...]:
        # Looping: the last row leads back to the first one a period later.
        if self.loop and len(self.times) > 1:
            return self._between(i, 0, t, self.times[0] + self.period_s)
        return self.rows[-1]

    def _between(self, i: int, j: int, t: float, t_next: float) -> tuple[float, ...]:
        if self.interpolation == "step":
            return self.rows[i]
        w = (t - self.times[i]) / (t_next - self.times[i])
        return tuple(a + w * (b - a) for a, b in zip(self.rows[i], self.rows[j], strict=True))


def parse_series(
    text: str | Iterable[str],
    width: int,
    *,
    interpolation: Interpolation = "linear",
    loop: bool = False,
) -> TimeSeries:
    """Parse CSV text of ``timestamp`` plus ``width`` numeric columns.

    Raises ``ValueError`` naming the line of the first bad row.
    """
    lines = text.splitlines() if isinstance(text, str) else text
    times: list[float] = []
    rows: list[tuple[float, ...]] = []
    for index, (number, fields) in enumerate(_records(lines)):
        parsed = _parse_row(fields, width, number, header_allowed=index == 0)
        if parsed is not None:
            times.append(parsed[0])
            rows.append(parsed[1])
    if not rows:
        raise ValueError("no data rows")
    return TimeSeries(tuple(times), tuple(rows), interpolation, loop)


def _records(lines: Iterable[str]) -> Iterable[tuple[int, list[str]]]:
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        yield number, [field.strip() for field in next(csv.reader([stripped]))]


def _parse_row(
    fields: list[str], width: int, number: int, *, header_allowed: bool
) -> tuple[float, tuple[float, ...]] | None:
    if len(fields) < width + 1:
        raise ValueError(f"line {number}: expected timestamp and {width} values, got {fields!r}")
    try:
        values = tuple(_finite(field) for field in fields[1 : width + 1])
    except ValueError:
        if header_allowed:
            return None
        raise ValueError(f"line {number}: values must be finite numbers: {fields!r}") from None
    return parse_timestamp(fields[0], number), values


def parse_timestamp(field: str, number: int = 0) -> float:
    """An ISO 8601 timestamp (naive = UTC) or epoch seconds, as epoch seconds."""
    try:
        return _finite(field)
    except ValueError:
        pass
    try:
        return to_epoch_s(datetime.fromisoformat(field.replace("Z", "+00:00")))
    except ValueError:
        raise ValueError(f"line {number}: bad timestamp {field!r}") from None


def _finite(field: str) -> float:
    value = float(field)
    if not math.isfinite(value):
        raise ValueError(field)
    return value
