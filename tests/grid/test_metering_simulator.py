"""The meter simulator's replay loop with a scripted node and a fake clock: pacing,
batching when behind, resuming after failures without skipping or duplicating."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import pytest

from grid.cli.meter import sample_text
from grid.metering.simulator import Backoff, Refused, Replayer, Unreachable, load_rows
from nodes.metering import MeterError, Reading, generate_sample_readings

T0 = 1_570_406_400_000
TEN_MIN = 600_000


class FakeClock:
    """Time moves only when the simulator sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.sleeps.append(seconds)
        self.now += seconds


class ScriptedNode:
    """A node that stores what it is sent, except when the script says it fails.

    ``fail_sends`` holds send numbers (1-based) that fail: ``"lost"`` before
    storing (a crash before the commit) or ``"stored"`` after storing (a crash
    after the commit, before the answer). ``down_asks`` makes that many
    ``last_timestamp`` calls fail first.
    """

    def __init__(self, clock: FakeClock, fail_sends: dict[int, str] | None = None, down_asks: int = 0) -> None:
        self.clock = clock
        self.stored: dict[int, int] = {}
        self.received: list[int] = []
        self.sent_at: list[tuple[float, int]] = []
        self.fail_sends = fail_sends or {}
        self.down_asks = down_asks
        self.sends = 0
        self.batches: list[int] = []

    def last_timestamp(self, device_id: str) -> int | None:
        if self.down_asks:
            self.down_asks -= 1
            raise Unreachable("connection refused")
        return max(self.stored, default=None)

    def send(self, readings: Sequence[Reading]) -> None:
        self.sends += 1
        fate = self.fail_sends.get(self.sends)
        if fate == "lost":
            raise Unreachable("connection reset")
        self.batches.append(len(readings))
        for reading in readings:
            self.received.append(reading.timestamp_ms)
            self.sent_at.append((self.clock.now, reading.timestamp_ms))
            assert self.stored.setdefault(reading.timestamp_ms, reading.wh) == reading.wh
        if fate == "stored":
            raise Unreachable("reset after commit")


def rows(n: int, device: str = "m1") -> list[Reading]:
    return [Reading(T0 + i * TEN_MIN, device, 10 + i) for i in range(n)]


def replayer(data: list[Reading], node: ScriptedNode, clock: FakeClock, **options: Any) -> Replayer:
    backoff = Backoff(base_s=0.5, cap_s=4.0, give_up_s=60.0, rng=random.Random(1))
    return Replayer(data, node, clock=clock.clock, sleep=clock.sleep, backoff=backoff, **options)


def test_rows_go_out_on_schedule_at_the_given_speed() -> None:
    clock = FakeClock()
    node = ScriptedNode(clock)
    stats = replayer(rows(6), node, clock, speed=60).run()
    # 10 minutes of meter time at 60x: one row every 10 s after the first.
    assert node.sent_at == [(100.0 + 10 * i, T0 + i * TEN_MIN) for i in range(6)]
    assert (stats.sent, stats.skipped, stats.batches, stats.failures) == (6, 0, 6, 0)


def test_speed_zero_sends_everything_at_once_in_batches() -> None:
    clock = FakeClock()
    node = ScriptedNode(clock)
    stats = replayer(rows(250), node, clock, speed=0, batch=100).run()
    assert node.received == [r.timestamp_ms for r in rows(250)]
    assert (stats.batches, clock.sleeps) == (3, [])


@pytest.mark.parametrize("fate", ["lost", "stored"])
def test_a_failed_send_resumes_from_the_node_without_skipping_or_duplicating(fate: str) -> None:
    clock = FakeClock()
    node = ScriptedNode(clock, fail_sends={3: fate, 4: "lost"}, down_asks=0)
    data = rows(12)
    stats = replayer(data, node, clock, speed=60).run()
    assert sorted(node.stored) == [r.timestamp_ms for r in data]
    assert node.received == [r.timestamp_ms for r in data]  # nothing sent twice, nothing skipped
    assert stats.failures == 2


def test_an_outage_is_waited_out_with_backoff_then_the_backlog_is_sent() -> None:
    clock = FakeClock()
    node = ScriptedNode(clock, fail_sends={2: "lost"})
    node.down_asks = 0
    data = rows(8)
    real_ask = node.last_timestamp
    asks = {"n": 0}

    def flaky_ask(device_id: str) -> int | None:
        asks["n"] += 1
        if 2 <= asks["n"] <= 5:  # the node restarts: four asks go unanswered
            raise Unreachable("connection refused")
        return real_ask(device_id)

    node.last_timestamp = flaky_ask  # type: ignore[method-assign]
    stats = replayer(data, node, clock, speed=600).run()  # one row a second
    assert node.received == [r.timestamp_ms for r in data]
    assert stats.failures == 5
    assert max(clock.sleeps) > 1.0  # backed off, growing
    assert max(node.batches) > 1  # the backlog went out in one go once the node answered


def test_a_restarted_simulator_resumes_after_what_the_node_stored() -> None:
    clock = FakeClock()
    node = ScriptedNode(clock)
    data = rows(10)
    for reading in data[:4]:
        node.stored[reading.timestamp_ms] = reading.wh
    stats = replayer(data, node, clock, speed=0).run()
    assert node.received == [r.timestamp_ms for r in data[4:]]
    assert (stats.skipped, stats.sent) == (4, 6)


def test_refusals_stop_the_run() -> None:
    clock = FakeClock()

    class Refusing(ScriptedNode):
        def send(self, readings: Sequence[Reading]) -> None:
            raise Refused("HTTP 400: unknown_device")

    with pytest.raises(Refused):
        replayer(rows(3), Refusing(clock), clock).run()


def test_it_gives_up_after_the_limit() -> None:
    clock = FakeClock()
    node = ScriptedNode(clock, down_asks=10_000)
    with pytest.raises(Unreachable, match="giving up"):
        replayer(rows(3), node, clock).run()
    assert clock.now - 100.0 <= 60.0


def test_the_shipped_sample_is_relabelled_to_the_simulated_device() -> None:
    loaded = load_rows(sample_text(), "meter-7", interval_ms=TEN_MIN)
    expected = generate_sample_readings()
    assert [(r.timestamp_ms, r.wh) for r in loaded] == [(r.timestamp_ms, r.wh) for r in expected]
    assert {r.device_id for r in loaded} == {"meter-7"}


def test_one_column_files_are_stamped_from_the_start() -> None:
    loaded = load_rows("kwh\n0.1\n0.25\n0.05\n", "m", interval_ms=TEN_MIN, start_ms=T0)
    assert [(r.timestamp_ms, r.wh) for r in loaded] == [(T0, 100), (T0 + TEN_MIN, 250), (T0 + 2 * TEN_MIN, 50)]


def test_several_devices_keep_only_the_simulated_one() -> None:
    text = f"{T0},a,0.1\n{T0},b,0.2\n{T0 + TEN_MIN},a,0.3\n"
    assert [r.wh for r in load_rows(text, "a", interval_ms=TEN_MIN)] == [100, 300]
    with pytest.raises(MeterError):
        load_rows(text, "c", interval_ms=TEN_MIN)
    with pytest.raises(MeterError):
        load_rows(f"{T0},a,0.1\n{T0},a,0.2\n", "a", interval_ms=TEN_MIN)  # one instant twice
