"""Cross-checks of a scenario: names, links, times, messages and expectations agree.

Run after each table validated on its own; every problem goes to the
collector, so the user sees all of them at once. Node settings are checked by
building the node's features exactly as a node would (``grid.features``), so
a model parameter or a ``[dispatch]`` table that a node would refuse is
refused here, before anything starts.
"""

from __future__ import annotations

from typing import Any, Iterable

from pydantic import ValidationError

from nodes import KINDS
from protocol.faults import FaultPlan
from protocol.limits import MAX_NAME_LEN
from protocol.messages import MESSAGE_TYPES

from ..clock import SimClock
from ..features import build_features
from ..node.config import NodeConfig
from .format import Event, Positions, Scenario, Selector
from .plan import PlannedNode, expand_node, group_indices, select, unmatched
from .problems import Path
from .templates import NODE_FACTS, fill, referenced_nodes

_ID_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-")


def check(scenario: Scenario, collector: Positions) -> None:
    """Add every cross-reference problem of ``scenario`` to ``collector``."""
    names = _check_nodes(scenario, collector)
    duration = scenario.clock.duration if collector.timed else float("inf")
    _check_clock(scenario, collector)
    if scenario.info.dashboard is not None and scenario.info.dashboard not in names:
        collector.add(("scenario", "dashboard"), f"no node is named {scenario.info.dashboard!r}")
    for index, spec in enumerate(scenario.links):
        where: Path = ("links", index) if len(scenario.links) > 1 or _is_array(scenario, "links") else ("links",)
        _selector(names, spec.nodes, (*where, "nodes"), collector)
        for k, (a, b) in enumerate(spec.pairs):
            for end in (a, b):
                if end not in names:
                    collector.add((*where, "pairs", k), f"no node is named {end!r}")
            if a == b:
                collector.add((*where, "pairs", k), "a node cannot link to itself")
        if spec.generator and len(select(names, spec.nodes)) < 2:
            collector.add((*where, "generator"), "a generator needs at least two nodes")
    _Timeline(scenario, names, collector).check_all(duration)
    _check_expectations(scenario, names, collector, duration)


def _is_array(scenario: Scenario, key: str) -> bool:
    return f"[[{key}]]" in scenario.source


# ----------------------------------------------------------------------------- nodes and clock
def _check_nodes(scenario: Scenario, collector: Positions) -> list[str]:
    """Expand every node entry, checking names, ids and settings; returns the names."""
    names: list[str] = []
    seen_ids: dict[str, str] = {}
    for kind in scenario.defaults.params:
        if kind not in KINDS:
            collector.add(("defaults", "params", kind), f"unknown kind; known: {', '.join(KINDS)}")
    for index, spec in enumerate(scenario.nodes):
        path: Path = ("nodes", index)
        kind = spec.kind or scenario.defaults.kind
        if kind not in KINDS:
            collector.add((*path, "kind"), f"unknown kind {kind!r}; known: {', '.join(KINDS)}")
            spec = spec.model_copy(update={"kind": "manual", "params": {}})  # still check its names
        planned: list[PlannedNode] = []
        try:
            planned = [expand_node(spec, i, len(names) + k, scenario.defaults, scenario.folder)
                       for k, i in enumerate(group_indices(spec))]  # fmt: skip
        except (KeyError, ValueError, IndexError) as exc:
            collector.add((*path, "name"), f"bad template: {exc!r} (a group may use {{i}}; id and token also {{name}})")
            continue
        if spec.count is not None and len({n.name for n in planned}) < len(planned):
            collector.add((*path, "name"), "a group's name needs {i}, or its nodes share one name")
        for node in planned:
            _check_identity(node, path, names, seen_ids, collector)
            names.append(node.name)
        if planned and kind in KINDS:
            _check_settings(planned[0], path, collector)
    return names


def _check_identity(node: PlannedNode, path: Path, names: list[str], ids: dict[str, str], collector: Positions) -> None:
    if node.name in names:
        collector.add((*path, "name"), f"two nodes are named {node.name!r}")
    if node.id in ids:
        collector.add((*path, "id"), f"{node.name} and {ids[node.id]} have the same id {node.id!r}")
    ids[node.id] = node.name
    if not set(node.id) <= _ID_CHARS or len(node.id) > MAX_NAME_LEN:
        collector.add((*path, "id"), f"id {node.id!r} may only use letters, digits and _.:- (at most {MAX_NAME_LEN})")


def _check_settings(node: PlannedNode, path: Path, collector: Positions) -> None:
    """Build the node's features as the node would: bad parameters fail here."""
    config = NodeConfig(id=node.id, name=node.name, kind=node.kind, features=node.feature_tables({}))
    try:
        build_features(config)
    except (ValueError, TypeError, OSError) as exc:
        collector.add((*path, "params") if node.model else path, str(exc))
    if node.gossip.ttl_s <= node.gossip.heartbeat_s:
        gossip = node.gossip
        collector.add((*path, "ttl"), f"ttl ({gossip.ttl_s} s) must exceed heartbeat ({gossip.heartbeat_s} s)")


def _check_clock(scenario: Scenario, collector: Positions) -> None:
    table = {"speed": scenario.clock.speed, "start": scenario.clock.start}
    try:
        SimClock.from_settings({k: v for k, v in table.items() if v is not None})
    except ValueError as exc:
        collector.add(("clock", "start"), str(exc))


def _selector(names: list[str], selector: Selector, path: Path, collector: Positions) -> list[str]:
    for pattern in unmatched(names, selector):
        collector.add(path, f"{pattern!r} matches no node")
    return select(names, selector)


# ----------------------------------------------------------------------------- timeline
class _Timeline:
    """Checks each event, following which nodes run at each point of the timeline."""

    def __init__(self, scenario: Scenario, names: list[str], collector: Positions) -> None:
        self.scenario = scenario
        self.names = names
        self.collector = collector
        starts = {n.name: n.start for n in _expanded(scenario)}
        self.running = {name for name in names if starts.get(name, True)}

    def check_all(self, duration: float) -> None:
        order = sorted(range(len(self.scenario.timeline)), key=lambda i: self.scenario.timeline[i].at)
        for index in order:
            event = self.scenario.timeline[index]
            path: Path = ("timeline", index)
            if event.at > duration:
                self.collector.add((*path, "at"), f"{event.at:g} s is after the end of the run ({duration:g} s)")
            getattr(self, f"_{event.action}")(event, path)

    def _send(self, event: Event, path: Path) -> None:
        _selector(self.names, event.send, (*path, "send"), self.collector)  # type: ignore[arg-type]
        model = MESSAGE_TYPES.get(event.msg_type or "")
        if model is None:
            self.collector.add((*path, "msgType"), f"unknown message type {event.msg_type!r}; known: "
                               f"{', '.join(sorted(MESSAGE_TYPES))}")  # fmt: skip
            return
        for node in sorted(referenced_nodes(event.msg) - set(self.names)):
            self.collector.add((*path, "msg"), f"a placeholder names {node!r}, which is no node")
        sample = fill(event.msg, _dummy_fact, 1_700_000_000_000)
        try:
            model.model_validate(sample)
        except ValidationError as exc:
            for error in exc.errors():
                self.collector.add((*path, "msg", *error["loc"]), str(error["msg"]).removeprefix("Value error, "))

    def _pair(self, pair: tuple[str, str], path: Path) -> None:
        for end in pair:
            if end not in self.names:
                self.collector.add(path, f"no node is named {end!r}")
        if pair[0] == pair[1]:
            self.collector.add(path, "a node cannot link to itself")

    def _link(self, event: Event, path: Path) -> None:
        self._pair(event.link, (*path, "link"))  # type: ignore[arg-type]

    def _unlink(self, event: Event, path: Path) -> None:
        self._pair(event.unlink, (*path, "unlink"))  # type: ignore[arg-type]

    def _weather(self, event: Event, path: Path) -> None:
        if not any(n.kind == "prosumer" for n in _expanded(self.scenario)):
            self.collector.add((*path, "weather"), "no prosumer feels the weather in this scenario")

    def _lifecycle(self, event: Event, path: Path, key: str, must_run: bool | None) -> list[str]:
        chosen = _selector(self.names, getattr(event, key), (*path, key), self.collector)
        for name in chosen:
            if must_run is True and name not in self.running:
                self.collector.add((*path, key), f"{name} is not running at {event.at:g} s")
            if must_run is False and name in self.running:
                self.collector.add((*path, key), f"{name} is already running at {event.at:g} s")
        return chosen

    def _kill(self, event: Event, path: Path) -> None:
        self.running -= set(self._lifecycle(event, path, "kill", True))

    def _stop(self, event: Event, path: Path) -> None:
        self.running -= set(self._lifecycle(event, path, "stop", True))

    def _start(self, event: Event, path: Path) -> None:
        self.running |= set(self._lifecycle(event, path, "start", False))

    def _restart(self, event: Event, path: Path) -> None:
        self.running |= set(self._lifecycle(event, path, "restart", None))

    def _partition(self, event: Event, path: Path) -> None:
        seen: set[str] = set()
        for k, group in enumerate(event.partition or []):
            members = set(_selector(self.names, group, (*path, "partition", k), self.collector))
            if members & seen:
                self.collector.add((*path, "partition", k), f"{sorted(members & seen)} are in two groups")
            seen |= members

    def _heal(self, event: Event, path: Path) -> None:
        pass

    def _faults(self, event: Event, path: Path) -> None:
        spec = event.faults
        try:
            FaultPlan(drop=spec.drop, duplicate=spec.duplicate, reorder=spec.reorder,  # type: ignore[union-attr]
                      delay_ms=spec.delay_ms, reorder_ms=spec.reorder_ms)  # type: ignore[union-attr]  # fmt: skip
        except ValueError as exc:
            self.collector.add((*path, "faults"), str(exc))

    def _mark(self, event: Event, path: Path) -> None:
        pass


def _dummy_fact(node: str, fact: str) -> Any:
    """Stand-in node facts, so messages with placeholders can be validated before a run."""
    return {"address": "127.0.0.1:1", "port": 1}.get(fact, node if fact in NODE_FACTS else "")


def _expanded(scenario: Scenario) -> list[PlannedNode]:
    nodes = []
    for spec in scenario.nodes:
        try:
            for i in group_indices(spec):
                nodes.append(expand_node(spec, i, len(nodes), scenario.defaults, scenario.folder))
        except (KeyError, ValueError, IndexError):
            continue
    return nodes


# ----------------------------------------------------------------------------- expectations
def dispatch_ids(events: Iterable[Event]) -> list[str]:
    """Ids of the dispatches these timeline events send."""
    return [str(e.msg.get("dispatchId", e.msg.get("dispatch_id", ""))) for e in events if e.msg_type == "Dispatch"]


def _check_expectations(scenario: Scenario, names: list[str], collector: Positions, duration: float) -> None:
    partitions = [e for e in scenario.timeline if e.partition is not None]
    for index, expectation in enumerate(scenario.expect):
        path: Path = ("expect", index)
        _selector(names, expectation.nodes, (*path, "nodes"), collector)
        for key in ("from_", "to"):
            value = getattr(expectation, key)
            if value is not None and value > duration:
                collector.add((*path, key.rstrip("_")), f"{value:g} s is after the end of the run ({duration:g} s)")
        at = getattr(expectation, "at", "end")
        if at != "end" and at > duration:
            collector.add((*path, "at"), f"{at:g} s is after the end of the run ({duration:g} s)")
        if expectation.check == "islands":
            for k, group in enumerate(expectation.groups or []):
                _selector(names, group, (*path, "groups", k), collector)
            if not partitions:
                collector.add((*path, "check"), "islands needs a partition event in the timeline")
        if expectation.check == "acknowledged":
            sent = dispatch_ids(scenario.timeline)
            if not sent:
                collector.add((*path, "check"), "acknowledged needs a Dispatch sent in the timeline")
            elif expectation.dispatch is not None and expectation.dispatch not in sent:
                collector.add((*path, "dispatch"), f"no Dispatch {expectation.dispatch!r} is sent; sent: {sent}")
        if expectation.check in ("price", "carbon") and expectation.between[0] > expectation.between[1]:
            collector.add((*path, "between"), "the low end is above the high end")
