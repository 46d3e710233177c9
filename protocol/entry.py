"""The entry: one node's versioned facts about itself, the unit of gossip.

Only the origin node ever changes its own entry, bumping ``version``;
``incarnation`` grows on every restart so a restarted node's entries always win
over what the grid remembers from its previous life. Energy is in integer
watts so every sum over a view is exact and independent of order.
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from .limits import MAX_SIBLINGS, Address, Name, NodeId, SignedWatts

#: Watts per kW: the wire speaks kW to operators, the core counts watts.
WATTS_PER_KW = 1000

Watts = Annotated[int, Field(ge=0, le=10**12)]
#: One bid segment: (power_w, price). power_w > 0 buys, < 0 sells.
OfferSegment = tuple[SignedWatts, Annotated[int, Field(ge=-(10**6), le=10**6)]]

Status = Literal["alive", "left"]


class computed_once(cached_property):  # noqa: N801 (used like the decorator it extends)
    """``functools.cached_property`` without its lock (Python 3.11 takes an RLock
    on every first read, a microsecond on the hot path of each new entry).

    Entries are immutable and computing a value twice is harmless, so no lock
    is needed.
    """

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = instance.__dict__[self.attrname] = self.func(instance)
        return value

#: Versions fit in 32 bits (136 years of one-second heartbeats), so that
#: ``(incarnation, version)`` packs into one integer that compares in one step.
MAX_VERSION = 2**32 - 1
MAX_INCARNATION = 2**40


class Entry(BaseModel):
    """What one node says about itself, at one ``(incarnation, version)``."""

    # extra="ignore": entries from newer peers may carry fields appended later.
    model_config = ConfigDict(
        frozen=True, extra="ignore", alias_generator=to_camel, populate_by_name=True, allow_inf_nan=False,
        ignored_types=(computed_once,),
    )

    origin: NodeId
    incarnation: Annotated[int, Field(ge=0, le=MAX_INCARNATION)]
    version: Annotated[int, Field(ge=0, le=MAX_VERSION)]
    status: Status = "alive"
    name: Name
    address: Address
    kind: Annotated[str, Field(max_length=32)] = "manual"
    production_w: Watts = 0
    consumption_w: Watts = 0
    emissions: Annotated[int, Field(ge=0, le=100_000)] = 0
    offer: Annotated[tuple[OfferSegment, ...], Field(max_length=8)] = ()
    siblings: Annotated[tuple[NodeId, ...], Field(max_length=MAX_SIBLINGS)] = ()
    source: Annotated[str, Field(max_length=32)] | None = None
    battery_soc: Annotated[float, Field(ge=0, le=1)] | None = None
    #: Power a controller may move on request (plant headroom, battery rate),
    #: summed over the view so each controller takes only its share.
    flexible_w: Watts = 0
    #: The node's own view digest when it last refreshed this entry (see GossipCore.view_digest).
    view_digest: Annotated[str, Field(max_length=32)] | None = None

    @property
    def net_w(self) -> int:
        """Production minus consumption, in watts."""
        return self.production_w - self.consumption_w

    @computed_once
    def counted_w(self) -> int:
        """What this entry adds to the grid net when it counts: its net if alive, else 0."""
        return self.production_w - self.consumption_w if self.status == "alive" else 0

    @computed_once
    def stamp(self) -> int:
        """``(incarnation, version)`` as one int: a greater stamp is a newer entry."""
        return stamp_of(self.incarnation, self.version)

    @computed_once
    def content_key(self) -> bytes:
        """What the net, the price and carbon depend on, as bytes for the view digest."""
        return (
            f"{self.origin}\x00{self.production_w}\x00{self.consumption_w}\x00{self.emissions}"
            f"\x00{self.flexible_w}\x00{self.offer}\x01"
        ).encode()

    def evolve(self, **changes: Any) -> "Entry":
        """A copy with ``changes`` applied, trusted (no validation), stamp recomputed.

        Use this, never ``model_copy`` alone, which would keep the cached
        properties (the stamp!) of the original.
        """
        copy = self.model_copy(update=changes)  # a shallow copy: several times faster than model_construct
        cached = copy.__dict__
        for name in _CACHED:
            cached.pop(name, None)
        return copy

    def to_wire(self) -> dict:
        """The camelCase dict sent inside ``UpdateNet``."""
        return self.model_dump(by_alias=True, mode="json", exclude_none=True)


#: Entry's cached properties, which a copy must compute afresh.
_CACHED = tuple(name for name, value in vars(Entry).items() if isinstance(value, cached_property))


def stamp_of(incarnation: int, version: int) -> int:
    """Pack ``(incarnation, version)`` into one comparable int."""
    return (incarnation << 32) | version


def kw_to_watts(kw: float) -> int:
    """Convert an operator's kW reading to integer watts (half away from zero)."""
    scaled = kw * WATTS_PER_KW
    return int(scaled + 0.5) if scaled >= 0 else -int(-scaled + 0.5)


def watts_to_kw(watts: int) -> float:
    """Integer watts back to kW for display."""
    return watts / WATTS_PER_KW
