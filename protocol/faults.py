"""A seeded fault plan for transports: what happens to one message on one link.

Theory of operation: a chaos transport asks :meth:`FaultPlan.decide` once per
message and schedules one delivery per returned delay. The plan is a frozen
value; partitioning, cutting and healing return a new plan, so a scenario can
swap plans atomically and a test can keep the old one. All randomness comes
from the ``random.Random`` passed in: the same seed and the same sequence of
calls give the same decisions.

Knobs (probabilities are per message, independent of each other):

- ``drop``: chance the message is lost. (A message on a cut link is lost
  before any random draw: cuts consume no randomness.)
- ``duplicate``: chance a message that survived is delivered twice. The two
  copies get independent delays.
- ``reorder``: chance each copy is held back by an extra delay drawn from
  ``reorder_ms``, so messages sent after it on the same link can overtake it.
  For reordering to show, the extra delay must exceed the gap between sends.
- ``delay_ms``: ``(lo, hi)``, the one-way latency of every copy, uniform in
  milliseconds.
- ``reorder_ms``: ``(lo, hi)``, the extra hold-back of a reordered copy.
- ``partitions``: disjoint groups of node ids. Nodes in different groups
  cannot reach each other; nodes named in no group form one more group
  together, so ``partition({"A"})`` isolates A from everyone.
- ``one_way``: ``(src, dst)`` links cut in that direction only (asymmetric
  faults: A hears B, B never hears A).

Expected deliveries per message on a reachable link: ``(1 - drop) * (1 + duplicate)``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

Group = frozenset[str]
Link = tuple[str, str]


def _probability(name: str, value: float) -> float:
    if isinstance(value, bool) or not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return float(value)


def _range_ms(name: str, value: tuple[float, float]) -> tuple[float, float]:
    lo, hi = value
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo <= hi):
        raise ValueError(f"{name} must be (lo, hi) with 0 <= lo <= hi, got {value!r}")
    return (float(lo), float(hi))


def _groups(groups: Iterable[Iterable[str]]) -> tuple[Group, ...]:
    """Groups as frozensets, checked non-empty and pairwise disjoint."""
    result = tuple(frozenset(group) for group in groups)
    seen: set[str] = set()
    for group in result:
        if not group:
            raise ValueError("a partition group cannot be empty")
        if seen & group:
            raise ValueError(f"nodes {sorted(seen & group)} are in more than one partition group")
        seen |= group
    return result


@dataclass(frozen=True)
class FaultPlan:
    """Drop, duplicate, reorder, delay and partition rules for a transport (see module doc)."""

    drop: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    delay_ms: tuple[float, float] = (0.0, 0.0)
    reorder_ms: tuple[float, float] = (50.0, 250.0)
    partitions: tuple[Group, ...] = ()
    one_way: frozenset[Link] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        # Normalise whatever iterables were given, so plans compare and hash by value.
        set_ = object.__setattr__  # frozen: __post_init__ is the one place fields are fixed up
        set_(self, "drop", _probability("drop", self.drop))
        set_(self, "duplicate", _probability("duplicate", self.duplicate))
        set_(self, "reorder", _probability("reorder", self.reorder))
        set_(self, "delay_ms", _range_ms("delay_ms", self.delay_ms))
        set_(self, "reorder_ms", _range_ms("reorder_ms", self.reorder_ms))
        set_(self, "partitions", _groups(self.partitions))
        set_(self, "one_way", frozenset((src, dst) for src, dst in self.one_way))

    def partition(self, *groups: Iterable[str]) -> FaultPlan:
        """This plan with the grid split into ``groups`` (replacing any earlier split)."""
        return replace(self, partitions=_groups(groups))

    def cut_one_way(self, src: str, dst: str) -> FaultPlan:
        """This plan with messages from ``src`` to ``dst`` lost (the reverse still flows)."""
        return replace(self, one_way=self.one_way | {(src, dst)})

    def heal(self) -> FaultPlan:
        """This plan with every partition and one-way cut removed; rates and delays stay."""
        return replace(self, partitions=(), one_way=frozenset())

    def reachable(self, src: str, dst: str) -> bool:
        """Whether ``src`` can currently send to ``dst`` at all."""
        if (src, dst) in self.one_way:
            return False
        return self._group_of(src) == self._group_of(dst)

    def decide(self, src: str, dst: str, rng: random.Random) -> list[float]:
        """Delivery delays in seconds for one message from ``src`` to ``dst``, ascending.

        Empty: the message is lost. One: delivered once. Two: duplicated.
        """
        if not self.reachable(src, dst):
            return []
        if rng.random() < self.drop:
            return []
        copies = 2 if rng.random() < self.duplicate else 1
        return sorted(self._delay_s(rng) for _ in range(copies))

    def _delay_s(self, rng: random.Random) -> float:
        """One copy's delay: base latency, plus a hold-back if it is reordered."""
        delay_ms = rng.uniform(*self.delay_ms)
        if rng.random() < self.reorder:
            delay_ms += rng.uniform(*self.reorder_ms)
        return delay_ms / 1000.0

    def _group_of(self, node: str) -> int:
        """Index of the node's partition group; -1 is the group of everyone unnamed."""
        for index, group in enumerate(self.partitions):
            if node in group:
                return index
        return -1


__all__ = ["FaultPlan", "Group", "Link"]
