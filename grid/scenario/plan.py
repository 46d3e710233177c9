"""A scenario expanded into what a runner does: concrete nodes, links and events.

Groups become nodes (``house-{i}`` with ``count = 3`` is ``house-0`` ..
``house-2``), generators become edges (``nodes.topology``), selectors become
lists of names. Everything is keyed by node *name*; ids go to the nodes.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable

from nodes.topology import Edge, feeder_tree, random_graph, ring, square_grid
from protocol.gossip import GossipConfig

from ..model.settings import FILE_PARAMS
from .format import Defaults, Event, LinkSpec, NodeSpec, Scenario, Selector



@dataclass(frozen=True)
class PlannedNode:
    """One node as the runner starts it."""

    name: str
    id: str
    kind: str
    index: int
    token: str | None = None
    port: int | None = None
    start: bool = True
    persist: bool = False
    gossip: GossipConfig = field(default_factory=GossipConfig)
    flush_window_s: float = 0.005
    #: The ``[model]`` table (parameters and model knobs), without ``kind``.
    model: dict[str, Any] = field(default_factory=dict)
    #: Other feature tables, passed through unchanged.
    features: dict[str, dict[str, Any]] = field(default_factory=dict)

    def feature_tables(self, clock: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """``NodeConfig.features``: the model table (with its kind), the clock, the rest."""
        return {**self.features, "model": {"kind": self.kind, **self.model}, "clock": dict(clock)}


@dataclass(frozen=True)
class Plan:
    """The expanded scenario a runner executes."""

    scenario: Scenario
    nodes: tuple[PlannedNode, ...]
    edges: tuple[tuple[str, str], ...]
    events: tuple[Event, ...]
    duration: float
    speed: float

    @property
    def names(self) -> list[str]:
        return [n.name for n in self.nodes]

    def node(self, name: str) -> PlannedNode:
        return self._by_name[name]

    @cached_property
    def _by_name(self) -> dict[str, PlannedNode]:
        return {n.name: n for n in self.nodes}

    def select(self, selector: Selector) -> list[str]:
        """Names matched by ``selector``, in declaration order (unknown ones are left out)."""
        return select(self.names, selector)

    @property
    def has_models(self) -> bool:
        """Whether any node runs a model (and so needs the shared clock)."""
        return any(n.kind != "manual" for n in self.nodes)

    @property
    def has_chaos(self) -> bool:
        """Whether the timeline injects network faults (partitions, loss, delay)."""
        return any(e.action in ("partition", "heal", "faults") for e in self.events)


def is_glob(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")


def select(names: list[str], selector: Selector) -> list[str]:
    """Names matched by a name, a glob, or a list of them, in ``names`` order."""
    patterns = [selector] if isinstance(selector, str) else list(selector)
    wanted: set[str] = set()
    for pattern in patterns:
        if is_glob(pattern):
            wanted.update(fnmatch.filter(names, pattern))
        elif pattern in names:
            wanted.add(pattern)
    return [name for name in names if name in wanted]


def unmatched(names: list[str], selector: Selector) -> list[str]:
    """The patterns of ``selector`` that match no node."""
    patterns = [selector] if isinstance(selector, str) else list(selector)
    return [p for p in patterns if not select(names, p)]


# ----------------------------------------------------------------------------- nodes
def group_indices(spec: NodeSpec) -> Iterable[int | None]:
    """The ``{i}`` values of a node entry (None for a single node)."""
    if spec.count is None:
        return [None]
    return range(spec.first, spec.first + spec.count)


def _format(template: str, **values: Any) -> str:
    return template.format(**values) if "{" in template else template


def expand_node(spec: NodeSpec, i: int | None, index: int, defaults: Defaults, folder: Path) -> PlannedNode:
    """One concrete node of an entry; ``KeyError``/``ValueError`` for bad templates.

    CSV files named by model parameters are relative to the scenario's ``folder``.
    """
    values = {} if i is None else {"i": i}
    name = _format(spec.name, **values)
    node_id = _format(spec.id, **values, name=name) if spec.id is not None else name
    token_template = spec.token if spec.token is not None else defaults.token
    token = _format(token_template, **values, name=name, id=node_id) if token_template is not None else None
    kind = spec.kind or defaults.kind
    model = {**defaults.params.get(kind, {}), **spec.params}
    for key in FILE_PARAMS:
        if isinstance(model.get(key), str):
            model[key] = str(folder / model[key])
    gossip = GossipConfig(
        heartbeat_s=spec.heartbeat or defaults.heartbeat,
        ttl_s=spec.ttl or defaults.ttl,
        sync_interval_s=spec.sync_interval or defaults.sync_interval,
    )
    return PlannedNode(
        name=name, id=node_id, kind=kind, index=index, token=token, port=spec.port, start=spec.start,
        persist=spec.persist if spec.persist is not None else defaults.persist, gossip=gossip,
        flush_window_s=spec.flush_window if spec.flush_window is not None else defaults.flush_window,
        model=model, features=_merge_features(defaults.features, spec.features),
    )  # fmt: skip


def _merge_features(defaults: dict[str, dict[str, Any]], own: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Feature tables of a node: its own keys over the defaults' keys, table by table."""
    return {name: {**defaults.get(name, {}), **own.get(name, {})} for name in {**defaults, **own}}


def expand_nodes(scenario: Scenario) -> list[PlannedNode]:
    """Every node of the scenario, groups expanded, in declaration order."""
    planned: list[PlannedNode] = []
    for spec in scenario.nodes:
        for i in group_indices(spec):
            planned.append(expand_node(spec, i, len(planned), scenario.defaults, scenario.folder))
    return planned


# ----------------------------------------------------------------------------- links
def generate(spec: LinkSpec, count: int, seed: int) -> list[Edge]:
    """Edges of ``spec``'s generator over ``count`` nodes (indices)."""
    if spec.generator == "ring":
        return ring(count)
    if spec.generator == "grid":
        return square_grid(count)
    if spec.generator == "random":
        return random_graph(count, spec.degree, spec.seed if spec.seed is not None else seed)
    if spec.generator == "feeder":
        return feeder_tree(count, spec.branching)
    return []


def expand_links(specs: Iterable[LinkSpec], names: list[str], seed: int) -> list[tuple[str, str]]:
    """Every link as a pair of names, each once, in a stable order."""
    edges: list[tuple[str, str]] = []
    seen: set[frozenset[str]] = set()

    def add(a: str, b: str) -> None:
        key = frozenset((a, b))
        if a != b and key not in seen:
            seen.add(key)
            edges.append((a, b))

    for spec in specs:
        members = select(names, spec.nodes)
        for a, b in generate(spec, len(members), seed):
            add(members[a], members[b])
        for a, b in spec.pairs:
            if a in names and b in names:
                add(a, b)
    return edges


# ----------------------------------------------------------------------------- the plan
def restarted_nodes(nodes: list[PlannedNode], events: Iterable[Event]) -> set[str]:
    """Nodes that start again after having run: by ``restart``, or ``start`` after a stop or kill."""
    names = [n.name for n in nodes]
    has_run = {n.name for n in nodes if n.start}
    again: set[str] = set()
    for event in events:
        if event.restart is not None:
            again.update(select(names, event.restart))
        elif event.start is not None:
            chosen = select(names, event.start)
            again.update(name for name in chosen if name in has_run)
            has_run.update(chosen)
    return again


def make_plan(scenario: Scenario, *, quick: bool = False, duration: float | None = None) -> Plan:
    """The plan of a validated scenario; ``quick`` applies ``[quick]``, ``duration`` shortens the run."""
    if quick and scenario.quick.count is not None:
        cap = scenario.quick.count
        specs = tuple(s.model_copy(update={"count": min(s.count, cap)}) if s.count else s for s in scenario.nodes)
        scenario = replace(scenario, nodes=specs)
    nodes = expand_nodes(scenario)
    clock = scenario.clock
    length = clock.duration
    speed = clock.speed
    if quick:
        length = scenario.quick.duration or length
        speed = scenario.quick.speed or speed
    if duration is not None:
        length = duration
    events = tuple(sorted((e for e in scenario.timeline if e.at <= length), key=lambda e: e.at))
    # A node that restarts keeps its links and reading only with a data directory.
    restarted = restarted_nodes(nodes, events)
    nodes = [replace(n, persist=True) if n.name in restarted else n for n in nodes]
    edges = expand_links(scenario.links, [n.name for n in nodes], scenario.info.seed)
    return Plan(scenario, tuple(nodes), tuple(edges), events, length, speed)
