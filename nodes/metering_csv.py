"""Meter files: parse the simulator's CSV into validated readings, and write it back.

Two layouts are read (blank lines and lines starting with ``#`` are skipped,
a header row is optional):

- the original simulator's ``sensor.csv``: one kWh value per row, no
  timestamps (the original stamped each value from the local clock as it sent
  it). Timestamps come from ``start_ms + i * interval_ms``. The original
  consumer treated the column as a cumulative register and differenced it; pass
  ``cumulative=True`` for such a file, and each difference becomes one reading.
- ``timestamp,device_id,measurement_value`` rows, as the simulator's JSON.

Parsing takes text or an iterable of lines and never opens a file.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from nodes.metering_readings import (
    DEFAULT_INTERVAL_MS,
    MeterError,
    Reading,
    kwh_to_wh,
    make_reading,
    normalize_device_id,
    parse_timestamp_ms,
)

#: The row layout the Grid simulator writes and reads.
CSV_HEADER = ("timestamp", "device_id", "measurement_value")
_HEADER_WORDS = frozenset({"timestamp", "measurement_value", "value", "kwh", "energy"})

Lines = str | Iterable[str]


def parse_meter_csv(
    source: Lines,
    *,
    device_id: str | None = None,
    start_ms: int | None = None,
    interval_ms: int = DEFAULT_INTERVAL_MS,
    cumulative: bool = False,
) -> list[Reading]:
    """Readings from either layout, told apart by the first data row's width.

    A one-column file needs ``device_id`` and ``start_ms``.
    """
    rows = list(_data_rows(source))
    if rows and len(rows[0][1]) == 1:
        if device_id is None or start_ms is None:
            raise MeterError("bad_csv", "a one-column meter file needs device_id and start_ms")
        return _values_to_readings(rows, device_id, start_ms, interval_ms, cumulative)
    return _rows_to_readings(rows)


def parse_reading_rows(source: Lines) -> list[Reading]:
    """Readings from ``timestamp,device_id,measurement_value`` rows, in file order."""
    return _rows_to_readings(list(_data_rows(source)))


def parse_value_rows(
    source: Lines,
    *,
    device_id: str,
    start_ms: int,
    interval_ms: int = DEFAULT_INTERVAL_MS,
    cumulative: bool = False,
) -> list[Reading]:
    """Readings from a one-value-per-row file; row ``i`` is stamped ``start_ms + i * interval_ms``.

    With ``cumulative=True`` values are register readings: the difference
    between rows ``i`` and ``i + 1`` is the energy of interval ``i``, so n rows
    give n - 1 readings. A register that goes backwards is ``bad_value``.
    """
    return _values_to_readings(list(_data_rows(source)), device_id, start_ms, interval_ms, cumulative)


def format_reading_rows(readings: Iterable[Reading], *, comments: Iterable[str] = ()) -> str:
    """Readings as ``timestamp,device_id,measurement_value`` CSV, exact kWh text.

    ``comments`` become leading ``# `` lines; the header row always follows them.
    """
    lines = [f"# {text}" for text in comments]
    lines.append(",".join(CSV_HEADER))
    lines.extend(f"{r.timestamp_ms},{r.device_id},{r.kwh_text}" for r in readings)
    return "\n".join(lines) + "\n"


def _data_rows(source: Lines) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each data row; comments, blanks, header skipped."""
    lines = source.splitlines() if isinstance(source, str) else source
    first = True
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        fields = [field.strip() for field in next(csv.reader([text]))]
        if first and fields[0].lower() in _HEADER_WORDS:
            first = False
            continue
        first = False
        yield number, fields


def _rows_to_readings(rows: list[tuple[int, list[str]]]) -> list[Reading]:
    readings = []
    for number, fields in rows:
        if len(fields) != len(CSV_HEADER):
            detail = f"line {number}: expected {len(CSV_HEADER)} columns, got {len(fields)}"
            raise MeterError("bad_csv", detail)
        with _at_line(number):
            readings.append(make_reading(*fields))
    return readings


def _values_to_readings(
    rows: list[tuple[int, list[str]]],
    device_id: str,
    start_ms: int,
    interval_ms: int,
    cumulative: bool,
) -> list[Reading]:
    start = parse_timestamp_ms(start_ms)
    if type(interval_ms) is not int or interval_ms <= 0:
        raise MeterError("bad_csv", f"interval_ms must be a positive int, got {interval_ms!r}")
    device = normalize_device_id(device_id)
    readings = []
    for i, (number, wh) in enumerate(_interval_energies(rows, cumulative)):
        with _at_line(number):
            readings.append(Reading(start + i * interval_ms, device, wh))
    return readings


def _interval_energies(rows: list[tuple[int, list[str]]], cumulative: bool) -> list[tuple[int, int]]:
    """(line number, Wh) per interval; registers become differences of rounded values."""
    values = []
    for number, fields in rows:
        if len(fields) != 1:
            raise MeterError("bad_csv", f"line {number}: expected one value, got {len(fields)} columns")
        with _at_line(number):
            values.append((number, kwh_to_wh(fields[0])))
    if not cumulative:
        return values
    deltas = []
    for (_, before), (number, after) in zip(values, values[1:], strict=False):
        if after < before:
            raise MeterError("bad_value", f"line {number}: cumulative register went backwards")
        deltas.append((number, after - before))
    return deltas


@contextmanager
def _at_line(number: int) -> Iterator[None]:
    """Prefix a MeterError raised inside with the file line it came from."""
    try:
        yield
    except MeterError as exc:
        raise MeterError(exc.code, f"line {number}: {exc.detail}") from None
