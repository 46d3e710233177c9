"""Network faults from a timeline: loss, duplication and reordering in one process; refused across processes."""

from __future__ import annotations

import asyncio

from grid.scenario import Mode, loads, make_plan, run_plan
from grid.scenario.session import PROCESSES, cannot

LOSSY = """# n-0 -- n-1 -- n-2 -- n-3 -- (back to n-0)
[scenario]
name = "lossy"
seed = 3
[clock]
duration = "7s"
[defaults]
heartbeat = "0.3s"
ttl = "2s"
sync_interval = "0.4s"
[[nodes]]
name = "n-{i}"
count = 4
[links]
generator = "ring"
[[timeline]]
at = "0.5s"
faults = { drop = 0.4, duplicate = 0.2, reorder = 0.3, delay_ms = [1, 20] }
[[timeline]]
at = "1s"
send = "n-0"
msgType = "UpdateEnergy"
msg = { production = 4, consumption = 0 }
[[timeline]]
at = "1s"
send = "n-2"
msgType = "UpdateEnergy"
msg = { production = 0, consumption = 1 }
[[timeline]]
at = "4.5s"
faults = {}
[[expect]]
check = "gridnet"
equals_kw = 3
[[expect]]
check = "live"
count = 4
"""


def test_lost_duplicated_and_reordered_messages_still_converge_in_process() -> None:
    plan = make_plan(loads(LOSSY))
    result = asyncio.run(run_plan(plan, Mode(), handle_signals=False))
    assert result.ok, [(o.name, o.detail) for o in result.outcomes]
    net = result.network
    assert net["lost"] > 0 and net["duplicated"] > 0 and net["sent"] > net["lost"]
    faults = [e for e in result.recording.events if e.action == "faults"]
    assert [e.ok for e in faults] == [True, True] and faults[1].detail == "clean network"


def test_loss_across_processes_is_refused_before_anything_starts() -> None:
    plan = make_plan(loads(LOSSY))
    assert "needs --in-process" in (cannot(plan, Mode(PROCESSES)) or "")
    assert cannot(plan, Mode()) is None
