"""A seeded, realistic household meter file for demos and tests.

The shipped ``nodes/data/meter_sample.csv`` is ``generate_sample_csv()`` with
the defaults below; regenerate it from the repository root with::

    python -c "from nodes.metering import generate_sample_csv as g; print(g(), end='')" \\
        > nodes/data/meter_sample.csv

Everything is integer arithmetic on ``random.Random(seed).randint``, so the
output is byte-identical on every platform and Python version that keeps the
Mersenne Twister stream (all CPython 3 releases).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from nodes.metering_csv import format_reading_rows
from nodes.metering_readings import MINUTE_MS, MeterError, Reading, normalize_device_id, parse_timestamp_ms

#: The device id of the original platform's example message.
SAMPLE_DEVICE_ID = "5c2494a3-1140-4c7a-991a-a1a2561c6bc2"
SAMPLE_SEED = 2019
#: Monday 2019-10-07T00:00:00Z, the week of the original's example timestamp.
SAMPLE_START_MS = 1_570_406_400_000
SAMPLE_DAYS = 7
#: The device maximum the sample is meant for: some evenings exceed it.
SAMPLE_MAX_HOURLY_KWH = 2.0

_DAY_MIN = 24 * 60
#: Average household draw in W at each UTC hour (the sample household lives on
#: UTC): night trough, morning peak, midday plateau, evening peak.
_PROFILE_W = (
    300, 260, 230, 220, 220, 250, 420, 820, 900, 620, 520, 500,
    600, 560, 480, 480, 560, 820, 1150, 1250, 1150, 950, 650, 420,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Appliance:
    """An appliance run: from minute ``start`` of the day for ``minutes`` at ``watts``."""

    start: int
    minutes: int
    watts: int

    def wh_between(self, lo: int, hi: int) -> int:
        """Wh it uses between minutes ``lo`` and ``hi`` of the day."""
        overlap = min(hi, self.start + self.minutes) - max(lo, self.start)
        return self.watts * overlap // 60 if overlap > 0 else 0


def generate_sample_csv(
    seed: int = SAMPLE_SEED,
    start_ms: int = SAMPLE_START_MS,
    days: int = SAMPLE_DAYS,
    interval_min: int = 10,
    *,
    device_id: str = SAMPLE_DEVICE_ID,
) -> str:
    """A household's meter file: ``days`` days of ``interval_min`` readings in kWh.

    Shape: a night trough (~0.04 kWh per 10 min), a morning peak, an evening
    peak, and appliance runs (kettle, cooking, washing machine, dishwasher).
    Values are kWh per interval, between ``interval_min / 1000`` and
    ``interval_min * 60 / 1000`` (0.01..0.6 at 10 minutes). The file is meant
    for a device with ``max_hourly_kwh = 2.0``: on cooking evenings some hours
    exceed it, so both alert kinds can be shown. Deterministic per arguments.
    """
    readings = generate_sample_readings(seed, start_ms, days, interval_min, device_id=device_id)
    return format_reading_rows(readings, comments=_header(seed, start_ms, days, interval_min, device_id))


def generate_sample_readings(
    seed: int = SAMPLE_SEED,
    start_ms: int = SAMPLE_START_MS,
    days: int = SAMPLE_DAYS,
    interval_min: int = 10,
    *,
    device_id: str = SAMPLE_DEVICE_ID,
) -> list[Reading]:
    """The readings behind ``generate_sample_csv``, oldest first."""
    start = parse_timestamp_ms(start_ms)
    device = normalize_device_id(device_id)
    if type(days) is not int or not 0 < days <= 366:
        raise MeterError("bad_value", f"days must be an int in 1..366, got {days!r}")
    if type(interval_min) is not int or interval_min <= 0 or _DAY_MIN % interval_min:
        raise MeterError("bad_value", f"interval_min must divide a day, got {interval_min!r}")
    rng = random.Random(seed)
    readings = []
    for day in range(days):
        day_start = start + day * _DAY_MIN * MINUTE_MS
        runs = _appliance_runs(rng, _is_weekend(day_start))
        for lo in range(0, _DAY_MIN, interval_min):
            wh = _interval_wh(rng, runs, lo, interval_min, day_start)
            readings.append(Reading(day_start + lo * MINUTE_MS, device, wh))
    return readings


def _interval_wh(rng: random.Random, runs: list[_Appliance], lo: int, minutes: int, day_start: int) -> int:
    """Energy of one interval: profile draw with +-20 % noise plus appliance runs."""
    base = _profile_w(day_start // MINUTE_MS + lo) * minutes // 60
    base = base * rng.randint(80, 120) // 100
    wh = base + sum(run.wh_between(lo, lo + minutes) for run in runs)
    # A household connection draws at least ~60 W and at most ~3.6 kW.
    return max(minutes, min(wh, 60 * minutes))


def _profile_w(epoch_minute: int) -> int:
    """Draw at a minute, linearly between the hourly profile points (integer W)."""
    minute = epoch_minute % _DAY_MIN
    hour, into = divmod(minute, 60)
    now, after = _PROFILE_W[hour], _PROFILE_W[(hour + 1) % 24]
    return now + (after - now) * into // 60


def _is_weekend(day_start_ms: int) -> bool:
    # 1970-01-01 was a Thursday, so (epoch day + 3) % 7 is 0 on Mondays.
    return (day_start_ms // (_DAY_MIN * MINUTE_MS) + 3) % 7 >= 5


def _appliance_runs(rng: random.Random, weekend: bool) -> list[_Appliance]:
    """One day's appliance runs; the draws happen in a fixed order (determinism)."""
    runs = [_Appliance(rng.randint(390, 500), 3, 2000) for _ in range(rng.randint(1, 2))]  # kettle
    if rng.randint(0, 99) < 60:  # cooking dinner: the usual cause of an exceeded hour
        runs.append(_Appliance(rng.randint(1050, 1150), rng.randint(40, 75), 2200))
    if rng.randint(0, 99) < (60 if weekend else 25):  # washing machine: heat, then wash
        begin = rng.randint(540, 1140)
        runs += [_Appliance(begin, 20, 2000), _Appliance(begin + 20, 70, 300)]
    if rng.randint(0, 99) < 45:  # dishwasher after dinner
        runs.append(_Appliance(rng.randint(1230, 1320), 30, 1800))
    if weekend and rng.randint(0, 99) < 50:  # weekend oven at noon
        runs.append(_Appliance(rng.randint(660, 720), rng.randint(45, 90), 1600))
    return runs


def _header(seed: int, start_ms: int, days: int, interval_min: int, device_id: str) -> list[str]:
    return [
        "Grid smart-meter sample: one household, energy in kWh per interval.",
        f"device {device_id}, seed {seed}, start {start_ms} ms, {days} days, every {interval_min} min, UTC.",
        f"Meant for max_hourly_kwh = {SAMPLE_MAX_HOURLY_KWH}: some evenings exceed it.",
        "Made by nodes.metering.generate_sample_csv(); do not edit by hand.",
    ]
