"""``Control``: the original manager's controls of a node's model, sent by an operator.

Rules:
- Plant controls: ``status`` (``on`` / ``off``), production ``ratio`` (share of
  the plant's maximum it may produce, 0-1) and ``auto`` (follow the grid's
  deficit within that ceiling, or run at the ceiling).
- Battery policy: charge at prices at or below ``buyBelow``, sell at or above
  ``sellAbove`` (EUR/MWh), keep ``reserve`` (state of charge, 0-1) for the
  household.
- A message carries at least one control; omitted ones keep their value.
  Whether the node's kind can take them is the node's decision (409 if not).
- Needs the ``manager`` role (:mod:`protocol.roles`); never sent by peers.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator
from pydantic.alias_generators import to_camel

from .base import Message

#: Prices a policy may name, EUR/MWh (the bounds of an offer's prices).
PolicyPrice = Annotated[int, Field(ge=-(10**6), le=10**6)]
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]

#: Fields that control a plant, and fields that control a battery.
PLANT_FIELDS = ("status", "ratio", "auto")
BATTERY_FIELDS = ("buy_below", "sell_above", "reserve")


class Control(Message):
    """Change a plant's status or ratio, or a battery's price policy."""

    msg_type = "Control"
    status: Literal["on", "off"] | None = None
    ratio: Fraction | None = None
    auto: bool | None = None
    buy_below: PolicyPrice | None = None
    sell_above: PolicyPrice | None = None
    reserve: Fraction | None = None

    @model_validator(mode="after")
    def _says_something(self) -> "Control":
        if not self.given():
            names = ", ".join(to_camel(name) for name in PLANT_FIELDS + BATTERY_FIELDS)
            raise ValueError(f"Control needs at least one of {names}")
        if self.buy_below is not None and self.sell_above is not None and self.buy_below > self.sell_above:
            raise ValueError("buyBelow must not exceed sellAbove")
        return self

    def given(self) -> dict[str, Any]:
        """The controls this message sets (snake_case names), omitted ones left out."""
        return {name: value for name, value in self.__dict__.items() if value is not None}

    def plant_controls(self) -> dict[str, Any]:
        """The plant controls it sets."""
        return {k: v for k, v in self.given().items() if k in PLANT_FIELDS}

    def battery_controls(self) -> dict[str, Any]:
        """The battery policy fields it sets."""
        return {k: v for k, v in self.given().items() if k in BATTERY_FIELDS}
