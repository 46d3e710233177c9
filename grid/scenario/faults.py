"""The one adapter through which a scenario's network faults reach the nodes.

- In one process every node shares one transport, so faults go through the
  seeded :class:`~grid.transport.chaos.ChaosTransport` (``protocol.faults``):
  partitions, heals, and a share of messages dropped, duplicated, reordered or
  delayed, exactly as the timeline says.
- Separate processes each own their transport, and a loopback network cannot
  be split without root, so :class:`LinkCutFaults` splits the grid the way an
  operator would: it unlinks every link that crosses the partition
  (``RemoveSibling``) and links them again on heal (``AddSibling``). The
  islands that form are the same (each side stops hearing the other and lets
  its entries go stale); loss and delay need the in-process runner.

Groups are node names; the partition's groups are complete (nodes named in no
group form one more group, as in ``FaultPlan.partition``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Awaitable, Callable, Iterable, Protocol

from protocol.faults import FaultPlan

from ..transport.chaos import ChaosTransport
from .format import FaultSpec

Groups = list[list[str]]


class Unsupported(RuntimeError):
    """A fault this runner cannot inject."""


class Faults(Protocol):
    """What a timeline may do to the network."""

    async def partition(self, groups: Groups) -> str:
        """Split the grid into ``groups``; returns what was done."""

    async def heal(self) -> str:
        """Join the grid again."""

    async def set_faults(self, spec: FaultSpec) -> str:
        """From now on, treat every message as ``spec`` says (all zero: clean)."""


def complete(groups: Groups, names: Iterable[str]) -> Groups:
    """``groups`` plus one group of every node they leave out (if any)."""
    named = {n for group in groups for n in group}
    rest = [n for n in names if n not in named]
    return [list(g) for g in groups] + ([rest] if rest else [])


def plan_of(spec: FaultSpec) -> FaultPlan:
    """The fault plan of a timeline's ``faults`` table."""
    return FaultPlan(drop=spec.drop, duplicate=spec.duplicate, reorder=spec.reorder, delay_ms=spec.delay_ms,
                     reorder_ms=spec.reorder_ms)  # fmt: skip


class ChaosFaults:
    """Faults through the in-process chaos transport; groups are translated to node ids."""

    def __init__(self, chaos: ChaosTransport, id_of: Callable[[str], str]) -> None:
        self.chaos = chaos
        self.id_of = id_of

    async def partition(self, groups: Groups) -> str:
        self.chaos.partition(*({self.id_of(n) for n in group} for group in groups))
        return " | ".join(f"{len(g)} nodes" for g in groups)

    async def heal(self) -> str:
        self.chaos.heal()
        return "every link works again"

    async def set_faults(self, spec: FaultSpec) -> str:
        current = self.chaos.plan
        self.chaos.set_plan(replace(plan_of(spec), partitions=current.partitions, one_way=current.one_way))
        return "clean network" if spec.is_clear else spec.model_dump_json(exclude_defaults=True)


#: Sends the operator's AddSibling (link) or RemoveSibling (unlink) for one link; returns the HTTP status.
LinkAction = Callable[[str, str], Awaitable[int]]


class LinkCutFaults:
    """Partitions by unlinking the links that cross groups; heals by linking them again."""

    def __init__(self, edges: Callable[[], Iterable[tuple[str, str]]], running: Callable[[], set[str]],
                 link: LinkAction, unlink: LinkAction) -> None:  # fmt: skip
        self.edges = edges
        self.running = running
        self.link = link
        self.unlink = unlink
        self.cut: list[tuple[str, str]] = []

    async def partition(self, groups: Groups) -> str:
        if self.cut:
            await self.heal()
        side = {n: index for index, group in enumerate(groups) for n in group}
        alive = self.running()
        for a, b in list(self.edges()):
            if side.get(a) == side.get(b):
                continue
            # Both ends are told: a node's RemoveSibling to its peer is refused by the peer
            # (grid/node/linking.py checks the wrong id), so one end would keep the link.
            results = [await self.unlink(x, y) for x, y in ((a, b), (b, a)) if x in alive]
            if any(0 < status < 300 for status in results):
                self.cut.append((a, b) if a in alive else (b, a))
        return f"unlinked {len(self.cut)} crossing link(s)"

    async def heal(self) -> str:
        cut, self.cut = self.cut, []
        alive = self.running()
        relinked = [pair for pair in cut if pair[0] in alive and await self.link(*pair) < 300]
        return f"linked {len(relinked)} of {len(cut)} cut link(s) again"

    async def set_faults(self, spec: FaultSpec) -> str:
        if spec.is_clear:
            return "clean network"
        raise Unsupported("dropping or delaying messages needs the in-process runner (--in-process)")
