"""Pure energy models of node kinds, the market price and carbon intensity.

Nothing here does I/O, reads a clock or draws global randomness: time and
seeds come in as arguments (see ``units`` and ``noise``). The I/O layer builds
a model with ``make_model`` and calls ``step(now, dt_s, signals)``.
"""

from .factory import KINDS, PARAMETERS, Param, make_model
from .market import (
    MAX_SEGMENTS,
    PRICE_CAP,
    PRICE_FLOOR,
    Offer,
    battery_offer,
    carbon_intensity,
    clear_price,
    combine_offers,
    consumer_offer,
    manual_offer,
    normalize_offer,
    plant_offer,
    prosumer_offer,
)
from .model import NodeModel, Reading, Signals, Source

__all__ = [
    "KINDS",
    "MAX_SEGMENTS",
    "PARAMETERS",
    "PRICE_CAP",
    "PRICE_FLOOR",
    "NodeModel",
    "Offer",
    "Param",
    "Reading",
    "Signals",
    "Source",
    "battery_offer",
    "carbon_intensity",
    "clear_price",
    "combine_offers",
    "consumer_offer",
    "make_model",
    "manual_offer",
    "normalize_offer",
    "plant_offer",
    "prosumer_offer",
]
