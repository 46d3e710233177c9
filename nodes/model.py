"""The one interface every node kind offers to the I/O layer.

The actor steps its model with the time, the step length and what it sees of
the grid (``Signals``), and publishes the returned ``Reading`` in its entry.
Models never read a clock, never draw global randomness and never do I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from .market import Offer
from .units import Instant

#: Where a node's consumption currently comes from.
Source = Literal["own", "battery", "market"]
SOURCES: tuple[Source, ...] = ("own", "battery", "market")


@dataclass(frozen=True, slots=True)
class Signals:
    """What a node sees of the grid, all from its own view.

    - ``grid_net_w``: sum over live entries of production - consumption
      (positive: surplus). It includes this node's last published reading.
    - ``price``: the clearing price of the view, or ``None`` before one is known.
    - ``flexible_w``: sum of ``Reading.flexible_w`` over live entries, or
      ``None``. Controllers use it to take only their share of a correction,
      so many nodes reacting to the same net do not overshoot together.
    """

    grid_net_w: int = 0
    price: int | None = None
    flexible_w: int | None = None


@dataclass(frozen=True, slots=True)
class Reading:
    """A node's published state after a step.

    ``production_w - consumption_w`` is what the node exports to the grid:
    a battery discharging counts as production, charging as consumption.
    ``sold_w``/``bought_w`` split that export by direction; ``flexible_w`` is
    the power a controller may move on request (plant headroom, battery rate).
    """

    production_w: int
    consumption_w: int
    offer: Offer = ()
    emissions: int = 0
    source: Source = "market"
    sold_w: int = 0
    bought_w: int = 0
    battery_soc: float | None = None
    flexible_w: int = 0

    def __post_init__(self) -> None:
        if self.production_w < 0 or self.consumption_w < 0 or self.flexible_w < 0:
            raise ValueError("production, consumption and flexible power must be >= 0")
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {self.source!r}")
        if self.battery_soc is not None and not 0.0 <= self.battery_soc <= 1.0:
            raise ValueError("battery_soc must be within [0, 1]")

    @property
    def net_w(self) -> int:
        """Power exported to the grid (negative: imported)."""
        return self.production_w - self.consumption_w


class NodeModel(Protocol):
    """A node kind's energy model; ``kind`` is what its entry advertises."""

    kind: str

    def step(self, now: Instant, dt_s: float, signals: Signals) -> Reading:
        """Advance by ``dt_s`` seconds ending at ``now`` and report the state."""
        ...


def source_of(own_w: int, load_w: int, discharge_w: int) -> Source:
    """Where a load is served from: own production first, then the battery,
    then the market (the last one needed names the source)."""
    if load_w <= own_w:
        return "own"
    if load_w <= own_w + discharge_w:
        return "battery"
    return "market"
