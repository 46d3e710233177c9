"""The simulator's replay planner: resume after restarts without skips or duplicates."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodes.metering import Device, MeterError, MeterLedger, Reading, generate_sample_readings, plan_replay

ROWS = generate_sample_readings(3, days=1)  # 144 ten-minute rows of one device
TS = [r.timestamp_ms for r in ROWS]


def test_fresh_start_sends_from_the_start_index() -> None:
    assert plan_replay(ROWS).index == 0
    assert plan_replay(ROWS).rows == tuple(ROWS)
    assert plan_replay(ROWS, 10, limit=5).rows == tuple(ROWS[10:15])


def test_resumes_after_the_last_acknowledged_row() -> None:
    assert plan_replay(ROWS, 0, TS[41]).index == 42
    assert plan_replay(ROWS, 0, TS[41] + 1).index == 42  # an ack between rows
    assert plan_replay(ROWS, 50, TS[41]).index == 50  # rows before the start are never sent
    assert plan_replay(ROWS, 0, TS[0] - 1).index == 0
    done = plan_replay(ROWS, 0, TS[-1])
    assert done.done and done.index == len(ROWS)
    assert plan_replay(ROWS, 0, TS[41], limit=0).rows == ()


@pytest.mark.parametrize(
    ("rows", "start", "limit"),
    [
        (ROWS[:3] + ROWS[:1], 0, None),  # time goes backwards
        ([ROWS[0], ROWS[0]], 0, None),  # a repeated timestamp
        ([ROWS[0], Reading(ROWS[1].timestamp_ms, "other", 1)], 0, None),  # two devices
        (ROWS, -1, None),
        (ROWS, len(ROWS) + 1, None),
        (ROWS, 0, -1),
    ],
)
def test_rejects_ambiguous_input(rows: list[Reading], start: int, limit: int | None) -> None:
    with pytest.raises(MeterError) as info:
        plan_replay(rows, start, None, limit=limit)
    assert info.value.code == "bad_replay"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 20), st.integers(0, 20), st.booleans()), min_size=1, max_size=40))
def test_restarts_neither_skip_nor_duplicate(script: list[tuple[int, int, bool]]) -> None:
    """Each step: send a batch; the node stores only its first ``kept`` rows, then
    maybe crashes (losing nothing stored, everything in flight)."""
    device = Device(ROWS[0].device_id, "house", "Cluj", 2.0)
    node = MeterLedger([device])
    for batch, kept, crash in script:
        plan = plan_replay(ROWS, 0, node.last_timestamp(device.device_id), limit=batch)
        for row in plan.rows[:kept]:
            assert node.ingest(row).status == "accepted"  # never a duplicate
        if crash:
            node = MeterLedger.rebuild([device], node.readings(), raised=node.raised_alerts())
    while not (plan := plan_replay(ROWS, 0, node.last_timestamp(device.device_id), limit=25)).done:
        for row in plan.rows:
            assert node.ingest(row).status == "accepted"
    assert node.readings() == tuple(ROWS)  # every row, once, in order
