"""The simulation clock: a linear function of the wall clock that processes share."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from grid.clock import MAX_SPEED, SimClock, iso, parse_instant

START = "2024-06-21T00:00:00Z"
START_S = datetime(2024, 6, 21, tzinfo=timezone.utc).timestamp()
EPOCH_S = 1_700_000_000.0


class FakeWall:
    """A wall clock the test moves by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_default_is_real_time() -> None:
    wall = FakeWall(EPOCH_S)
    clock = SimClock.from_settings(None, wall)
    assert clock.now_s() == EPOCH_S
    wall.now += 12.5
    assert clock.now_s() == EPOCH_S + 12.5
    assert clock.real_seconds(60) == 60
    assert SimClock.real_time(wall).now_s() == wall.now


def test_speed_runs_a_day_in_minutes() -> None:
    wall = FakeWall(EPOCH_S)
    clock = SimClock.from_settings({"speed": 720, "start": START, "epoch": EPOCH_S}, wall)
    assert clock.now_s() == START_S
    wall.now += 120  # two real minutes ...
    assert clock.now_s() == START_S + 86_400  # ... one simulated day
    assert clock.now() == datetime(2024, 6, 22, tzinfo=timezone.utc)
    assert clock.real_seconds(60) == pytest.approx(60 / 720)


def test_processes_with_the_same_settings_agree_whenever_they_started() -> None:
    settings = {"speed": 60, "start": START, "epoch": "2023-11-14T22:13:20+00:00"}
    early_wall, late_wall = FakeWall(EPOCH_S + 3), FakeWall(EPOCH_S + 40)
    early = SimClock.from_settings(settings, early_wall)
    late_wall.now = EPOCH_S + 40  # a process started 37 s later ...
    late = SimClock.from_settings(settings, late_wall)
    early_wall.now = late_wall.now = EPOCH_S + 100
    assert early.now_s() == late.now_s() == START_S + 100 * 60  # ... reads the same time


def test_without_an_epoch_each_process_anchors_at_its_own_start() -> None:
    a = SimClock.from_settings({"speed": 10, "start": START}, FakeWall(EPOCH_S))
    b = SimClock.from_settings({"speed": 10, "start": START}, FakeWall(EPOCH_S + 5))
    assert a.epoch_s == EPOCH_S and b.epoch_s == EPOCH_S + 5
    assert a.now_s() == b.now_s() == START_S  # each starts the simulation where it starts


def test_simulated_time_never_goes_back_while_the_wall_clock_moves_on() -> None:
    wall = FakeWall(EPOCH_S)
    clock = SimClock.from_settings({"speed": 37.5, "start": START, "epoch": EPOCH_S}, wall)
    seen = []
    for step in range(50):
        wall.now += 0.01 * step
        seen.append(clock.now_s())
    assert seen == sorted(seen)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-06-21T00:00:00Z", START_S),
        ("2024-06-21T00:00:00", START_S),  # naive: UTC
        ("2024-06-21T02:00:00+02:00", START_S),
        ("2024-06-21", START_S),
        (" 1718928000 ", START_S),
        (1718928000, START_S),
        (1718928000.5, START_S + 0.5),
        (datetime(2024, 6, 21), START_S),
    ],
)
def test_instants_parse_as_iso_or_unix_seconds(text: object, expected: float) -> None:
    assert parse_instant(text) == expected


@pytest.mark.parametrize("bad", ["tomorrow", "", "2024-13-01", True, None, float("nan"), "inf", [1]])
def test_bad_instants_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_instant(bad)


@pytest.mark.parametrize(
    "settings",
    [
        {"speed": 0},
        {"speed": -2},
        {"speed": float("inf")},
        {"speed": MAX_SPEED * 2},
        {"speed": "fast"},
        {"speed": True},
        {"start": "yesterday"},
        {"epoch": "soon"},
        {"pace": 2},
    ],
)
def test_bad_settings_are_refused(settings: dict) -> None:
    with pytest.raises(ValueError):
        SimClock.from_settings(settings, FakeWall(EPOCH_S))


def test_describe_shows_the_settings_and_the_simulated_now() -> None:
    clock = SimClock.from_settings({"speed": 2, "start": START, "epoch": EPOCH_S}, FakeWall(EPOCH_S + 30))
    assert clock.describe() == {"now": "2024-06-21T00:01:00+00:00", "speed": 2.0, "start": iso(START_S),
                                "epoch": EPOCH_S}  # fmt: skip
