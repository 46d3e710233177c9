"""A node without a model: its values come from the operator (``UpdateEnergy``)."""

from __future__ import annotations

from .market import manual_offer
from .model import Reading, Signals, source_of
from .units import Instant, kw_to_w


class ManualModel:
    """Holds the last meter reading typed by an operator and reports it as is."""

    kind = "manual"

    def __init__(self, production_w: int = 0, consumption_w: int = 0) -> None:
        if production_w < 0 or consumption_w < 0:
            raise ValueError("production and consumption must be >= 0")
        self.production_w = production_w
        self.consumption_w = consumption_w

    def update_energy(self, production_kw: float, consumption_kw: float) -> None:
        """Apply an ``UpdateEnergy`` reading (kW, finite, >= 0)."""
        production_w, consumption_w = kw_to_w(production_kw), kw_to_w(consumption_kw)
        if production_w < 0 or consumption_w < 0:
            raise ValueError("production and consumption must be >= 0")
        self.production_w, self.consumption_w = production_w, consumption_w

    def step(self, now: Instant, dt_s: float, signals: Signals) -> Reading:
        """Report the last reading; time and the grid do not change it."""
        net_w = self.production_w - self.consumption_w
        return Reading(
            production_w=self.production_w,
            consumption_w=self.consumption_w,
            offer=manual_offer(self.production_w, self.consumption_w),
            source=source_of(self.production_w, self.consumption_w, 0),
            sold_w=max(0, net_w),
            bought_w=max(0, -net_w),
        )
