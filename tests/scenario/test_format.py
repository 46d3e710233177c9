"""The scenario format: loading, every problem at once with lines, expansion into a plan."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from grid.scenario import ScenarioError, loads, make_plan
from grid.scenario.format import parse_duration
from grid.scenario.plan import select
from grid.scenario.problems import SourceLines
from grid.scenario.runner_procs import toml_text
from grid.scenario.templates import fill, referenced_nodes
from grid.scenario.weather import compile_csv
from nodes.weather import parse_weather_csv

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "scenarios").glob("*.toml"))

MINIMAL = """
[scenario]
name = "tiny"
[clock]
duration = "5s"
[[nodes]]
name = "A"
[[nodes]]
name = "B"
"""

BROKEN = """# every line below is wrong in its own way
[scenario]
name = "broken"
modes = ["in-process", "teleport"]

[clock]
speed = -2
duration = "soon"

[[nodes]]
name = "A"
kind = "reactor"

[[nodes]]
name = "h-{i}"
count = 2
kind = "prosumer"
params = { turbinez = 2 }

[[nodes]]
name = "C"
colour = "red"

[links]
pairs = [["A", "Z"]]

[[timeline]]
at = "1s"
send = "B"
msgType = "UpdateEnergy"
msg = { production = -1 }

[[timeline]]
at = "2s"
kill = "h-0"
heal = true

[[timeline]]
at = "3s"
send = "A"
msgType = "Nope"

[[expect]]
check = "agree"
within = "x"

[[expect]]
check = "sideways"

[[expect]]
check = "acknowledged"
"""


def test_every_shipped_scenario_loads_and_opens_with_its_topology_drawn() -> None:
    assert {p.stem for p in SHIPPED} >= {"original-demo", "village", "storm", "churn", "large"}
    for path in SHIPPED:
        text = path.read_text()
        assert text.startswith("#"), f"{path.name} must open with its topology in a comment"
        drawing = [line for line in text.splitlines() if line.startswith("#")]
        assert any(ch in "".join(drawing) for ch in "-|/\\="), f"{path.name} draws no topology"
        make_plan(loads(text, path))


def test_a_broken_file_gets_one_error_listing_every_problem_with_its_line() -> None:
    with pytest.raises(ScenarioError) as caught:
        loads(BROKEN, Path("broken.toml"))
    found = {(p.line, p.where) for p in caught.value.problems}
    expected = {
        (4, "scenario.modes[1]"),  # not a mode
        (7, "clock.speed"),  # negative
        (8, "clock.duration"),  # not a duration
        (12, "nodes[0].kind"),  # unknown kind
        (18, "nodes[1].params"),  # unknown model parameter (the node's own check)
        (22, "nodes[2].colour"),  # unknown key
        (25, "links.pairs[0]"),  # unknown node Z
        (29, "timeline[0].send"),  # B is no node
        (31, "timeline[0].msg.consumption"),  # the message is invalid
        (31, "timeline[0].msg.production"),
        (33, "timeline[1]"),  # two actions
        (41, "timeline[2].msgType"),  # unknown message type
        (45, "expect[0].within"),
        (47, "expect[1]"),  # unknown check
        (51, "expect[2].check"),  # acknowledged without a Dispatch
    }
    assert expected <= found, sorted(expected - found)
    text = str(caught.value)
    assert text.startswith(f"broken.toml: {len(caught.value.problems)} problem(s):")
    assert "line 12: nodes[0].kind: unknown kind 'reactor'" in text
    assert "turbinez" in text and "'Z'" in text


def test_invalid_toml_is_one_problem_with_its_line() -> None:
    with pytest.raises(ScenarioError) as caught:
        loads(MINIMAL + "\n[[nodes]\nname = 'x'\n")
    (problem,) = caught.value.problems
    assert problem.line == 11 and "not valid TOML" in problem.message


def test_missing_tables_are_named() -> None:
    with pytest.raises(ScenarioError) as caught:
        loads("[scenario]\nname = 'x'\n")
    messages = " ".join(p.message for p in caught.value.problems)
    assert "missing [clock]" in messages and "missing [[nodes]]" in messages


def test_timeline_state_is_followed_across_events() -> None:
    text = MINIMAL + """
[[timeline]]
at = "1s"
kill = "A"
[[timeline]]
at = "2s"
kill = "A"
[[timeline]]
at = "3s"
start = "B"
"""
    with pytest.raises(ScenarioError) as caught:
        loads(text)
    messages = [str(p) for p in caught.value.problems]
    assert any("timeline[1].kill: A is not running at 2 s" in m for m in messages), messages
    assert any("timeline[2].start: B is already running at 3 s" in m for m in messages), messages


@pytest.mark.parametrize(
    ("text", "seconds"), [(3, 3.0), (0.5, 0.5), ("500ms", 0.5), ("2s", 2.0), ("1.5m", 90.0), ("1h", 3600.0)]
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_source_lines_follow_arrays_of_tables_and_nested_keys() -> None:
    lines = SourceLines("[a]\nx = 1\n[[b]]\ny = 2\n[[b]]\ny = 3\n[b.c]\nz = 4\n")
    assert lines.line_of(("a", "x")) == 2
    assert lines.line_of(("b", 1, "y")) == 6
    assert lines.line_of(("b", 1, "c", "z")) == 8
    assert lines.line_of(("b", 0, "missing")) == 3  # the nearest enclosing table


def test_plan_expands_groups_links_and_selectors() -> None:
    text = MINIMAL + """
[[nodes]]
name = "h-{i}"
id = "house{i}"
count = 3
first = 1
token = "t-{id}"
[[links]]
generator = "ring"
nodes = "h-*"
[[links]]
pairs = [["A", "h-1"], ["A", "B"]]
"""
    plan = make_plan(loads(text))
    assert plan.names == ["A", "B", "h-1", "h-2", "h-3"]
    assert [(n.id, n.token) for n in plan.nodes[2:]] == [("house1", "t-house1"), ("house2", "t-house2"),
                                                        ("house3", "t-house3")]  # fmt: skip
    assert set(plan.edges) == {("h-1", "h-2"), ("h-2", "h-3"), ("h-1", "h-3"), ("A", "h-1"), ("A", "B")}
    assert select(plan.names, ["h-[12]", "B"]) == ["B", "h-1", "h-2"]


def test_quick_caps_groups_and_shortens_and_later_events_are_dropped() -> None:
    text = """
[scenario]
name = "q"
[clock]
duration = "20s"
[quick]
duration = "5s"
count = 2
[[nodes]]
name = "n-{i}"
count = 10
[[timeline]]
at = "10s"
stop = "n-0"
"""
    scenario = loads(text)
    assert len(make_plan(scenario).nodes) == 10
    quick = make_plan(scenario, quick=True)
    assert (len(quick.nodes), quick.duration, quick.events) == (2, 5.0, ())


def test_nodes_that_come_back_get_a_data_directory() -> None:
    text = MINIMAL + """
[[nodes]]
name = "C"
start = false
[[timeline]]
at = "1s"
restart = "A"
[[timeline]]
at = "1s"
stop = "B"
[[timeline]]
at = "2s"
start = ["B", "C"]
"""
    plan = make_plan(loads(text))
    assert {n.name: n.persist for n in plan.nodes} == {"A": True, "B": True, "C": False}


def test_placeholders_are_filled_with_node_facts_and_the_clock() -> None:
    facts = {("B", "address"): "127.0.0.1:9", ("B", "port"): 9, ("B", "id"): "2"}
    msg = {"siblingAddress": "{B.address}", "siblingId": "{B.id}", "port": "{B.port}", "start": "{now_ms + 500}",
           "text": "at {now_ms} from {B.id}", "keep": "{unknown}"}  # fmt: skip
    filled = fill(msg, lambda node, fact: facts[(node, fact)], 1000)
    assert filled == {"siblingAddress": "127.0.0.1:9", "siblingId": "2", "port": 9, "start": 1500,
                      "text": "at 1000 from 2", "keep": "{unknown}"}  # fmt: skip
    assert referenced_nodes(msg) == {"B"}


def test_weather_events_become_steps_of_one_replayed_series() -> None:
    text = MINIMAL.replace('name = "B"', 'name = "B"\nkind = "prosumer"') + """
[[timeline]]
at = "2s"
weather = { wind_ms = 0.5 }
[[timeline]]
at = "4s"
weather = { reset = true }
"""
    scenario = loads(text)
    events = list(make_plan(scenario).events)
    start = 1_700_000_000.0
    series = parse_weather_csv(compile_csv(scenario.weather, events, start, speed=60, span_s=600))
    assert series.at(start + 119).wind_ms != 0.5  # before the event (2 s x 60 = 120 s simulated)
    assert series.at(start + 120).wind_ms == 0.5
    assert series.at(start + 200).wind_ms == 0.5
    assert series.at(start + 300).wind_ms != 0.5  # reset at 240 s


def test_node_files_for_processes_are_valid_toml() -> None:
    tables = {
        "model": {"kind": "prosumer", "turbines": 2, "solar_kw": 1.5, "balancing": True},
        "clock": {"speed": 60.0, "start": "2024-01-01T00:00:00Z", "epoch": 1700000000.25},
        "dispatch": {"operators": {"op-1": "ab"}, "programs": [{"program_id": "p1", "offered_kw": 0.3}]},
    }
    assert tomllib.loads(toml_text(tables)) == tables
