"""What a run records: samples of every running node, applied events, final probes.

Plain data, no I/O: the runners fill a :class:`Recording`, :mod:`.expect`
evaluates expectations over it, :mod:`.report` renders it.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class NodeSample:
    """What one node believed at one sample (integer watts, EUR/MWh, gCO2/kWh)."""

    gridnet_w: int
    price: int
    carbon: int
    live: int
    stale: int
    net_w: int

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "NodeSample":
        """From a node's /state body."""
        return cls(
            gridnet_w=int(state["gridnet_w"]),
            price=int(state.get("price", 0)),
            carbon=int(state.get("carbon_intensity", 0)),
            live=int(state["nodes_live"]),
            stale=int(state["nodes_stale"]),
            net_w=round(float(state["net"]) * 1000),
        )


@dataclass(frozen=True, slots=True)
class Sample:
    """One round of reading every running node; ``t`` is run time in seconds."""

    t: float
    nodes: dict[str, NodeSample]
    #: Running nodes that did not answer this round.
    missing: tuple[str, ...] = ()

    def consensus_w(self) -> int | None:
        """The grid net most nodes report (the median), or None without answers."""
        if not self.nodes:
            return None
        return int(statistics.median_low(s.gridnet_w for s in self.nodes.values()))

    def consensus(self, field_name: str) -> int | None:
        """The median of one field over the nodes that answered."""
        if not self.nodes:
            return None
        return int(statistics.median_low(getattr(s, field_name) for s in self.nodes.values()))


@dataclass(frozen=True, slots=True)
class Applied:
    """A timeline event as it ran."""

    at: float  #: when it was due (run time)
    t: float  #: when it ran
    action: str
    target: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Window:
    """A partition: from ``start`` until ``end`` (the heal, or the run's end), and its groups."""

    start: float
    end: float
    groups: tuple[tuple[str, ...], ...]
    healed: bool


@dataclass
class Recording:
    """Everything a run observed."""

    samples: list[Sample] = field(default_factory=list)
    events: list[Applied] = field(default_factory=list)
    end: float = 0.0
    #: dispatch id -> node name -> that node's answers ({"acknowledged": [...], ...}).
    dispatches: dict[str, dict[str, dict[str, list[str]]]] = field(default_factory=dict)
    #: Partition groups as the timeline applied them: (t, groups or None for a heal).
    splits: list[tuple[float, tuple[tuple[str, ...], ...] | None]] = field(default_factory=list)

    def windows(self) -> list[Window]:
        """The partitions of the run, in order."""
        result: list[Window] = []
        current: tuple[float, tuple[tuple[str, ...], ...]] | None = None
        for t, groups in self.splits:
            if current is not None:
                result.append(Window(current[0], t, current[1], healed=groups is None))
                current = None
            if groups is not None:
                current = (t, groups)
        if current is not None:
            result.append(Window(current[0], self.end, current[1], healed=False))
        return result

    def groups_at(self, t: float) -> tuple[tuple[str, ...], ...] | None:
        """The partition groups in force at run time ``t`` (None: the grid is whole)."""
        for window in self.windows():
            if window.start <= t < window.end:
                return window.groups
        return None

    def at_or_after(self, t: float) -> Sample | None:
        """The first sample taken at or after ``t``."""
        return next((s for s in self.samples if s.t >= t), None)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready: samples as columns per node, events and probes as they are."""
        return {
            "end_s": round(self.end, 3),
            "samples": [{"t": round(s.t, 3), "missing": list(s.missing),
                         "nodes": {name: asdict(n) for name, n in s.nodes.items()}} for s in self.samples],  # fmt: skip
            "events": [asdict(e) for e in self.events],
            "partitions": [asdict(w) for w in self.windows()],
            "dispatches": self.dispatches,
        }
