"""Offers and the market price: merit-order clearing in integer arithmetic.

Definitions (fixed; other packages depend on them):

- Power is in integer watts, price in integer EUR per MWh.
- An *offer* is a tuple of at most ``MAX_SEGMENTS`` segments ``(power_w, price)``.
  ``power_w > 0`` buys that many watts at any price ``<= price`` (willingness
  to pay); ``power_w < 0`` sells ``-power_w`` watts at any price ``>= price``
  (asking price, marginal cost).
- The price is the smallest integer price in ``[floor, cap]`` at which the
  supply asking no more covers the demand bidding more (see ``clear_price``).
  Every node computes it from the same gossiped offers and, the arithmetic
  being exact and order-free, gets the same number.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

PRICE_FLOOR = -100
PRICE_CAP = 3000
MAX_SEGMENTS = 8
#: Bounds a segment must respect (those the wire accepts, protocol/entry.py).
MAX_SEGMENT_W = 10**12
MAX_ABS_PRICE = 10**6

Segment = tuple[int, int]
Offer = tuple[Segment, ...]


def clear_price(
    offers: Iterable[Sequence[tuple[int, int]]],
    floor: int = PRICE_FLOOR,
    cap: int = PRICE_CAP,
) -> int:
    """The merit-order clearing price of ``offers``.

    Candidates are every segment price clamped into ``[floor, cap]``, plus
    ``floor`` and ``cap``. ``supply(p)`` is the sum of sells asking ``<= p``;
    ``demand(p)`` the sum of buys bidding *more than* ``p`` (buyers bidding
    exactly ``p`` are the marginal ones and may be served in part). The result
    is the smallest candidate with ``supply(p) >= demand(p)``, or ``cap`` when
    there is none (scarcity). Prices of segments are not clamped for the sums:
    a buyer bidding below the floor never buys, a seller asking above the cap
    never sells.

    Why "more than": with ``>=`` the set of prices where supply covers demand
    can have its lower edge at a buyer's bid + 1, which is not a candidate,
    and the result would then *fall* when demand rises (sell 1 W at 0 and buy
    2 W at 0 clears at the cap; adding a 1 W bid at 1 would clear at 1). With
    "more than" the smallest integer price where supply covers demand is
    always a candidate, so the result is the smallest such integer price:
    independent of order, and never falling when demand rises.
    """
    if floor > cap:
        raise ValueError(f"price floor {floor} above cap {cap}")
    sells, buys = _split(offers)
    candidates = sorted({floor, cap, *(min(cap, max(floor, p)) for p, _ in sells + buys)})
    sells.sort()
    buys.sort()
    supply = 0
    priced_out = 0  # buys bidding no more than the current candidate
    total_demand = sum(w for _, w in buys)
    i = j = 0
    for price in candidates:
        while i < len(sells) and sells[i][0] <= price:
            supply += sells[i][1]
            i += 1
        while j < len(buys) and buys[j][0] <= price:
            priced_out += buys[j][1]
            j += 1
        if supply >= total_demand - priced_out:
            return price
    return cap


def _split(offers: Iterable[Sequence[tuple[int, int]]]) -> tuple[list[Segment], list[Segment]]:
    """Sells and buys as ``(price, watts)`` pairs with positive watts."""
    sells: list[Segment] = []
    buys: list[Segment] = []
    for offer in offers:
        for power_w, price in offer:
            if power_w < 0:
                sells.append((price, -power_w))
            elif power_w > 0:
                buys.append((price, power_w))
    return sells, buys


def carbon_intensity(rows: Iterable[tuple[int, int]]) -> int:
    """Production-weighted mean emissions in gCO2/kWh, rounded half up.

    ``rows`` are ``(production_w, emissions_g_per_kwh)`` per live node; rows
    without production carry no weight. 0 when nothing is produced.
    """
    weighted = 0
    total_w = 0
    for production_w, emissions in rows:
        if production_w > 0:
            weighted += production_w * emissions
            total_w += production_w
    if total_w == 0:
        return 0
    # floor(weighted / total + 1/2) in integers: exact, platform-independent.
    return (2 * weighted + total_w) // (2 * total_w)


def normalize_offer(segments: Iterable[Sequence[int]]) -> Offer:
    """The canonical form of an offer: validated, merged, sorted.

    Zero-power segments are dropped, segments of the same side and price are
    merged, sells come first by rising price, then buys by falling price. Two
    offers meaning the same thing thus compare (and gossip) equal. Raises
    ``ValueError`` for non-integers, out-of-range values or too many segments.
    """
    merged: dict[tuple[bool, int], int] = {}
    for segment in segments:
        power_w, price = _checked_segment(segment)
        if power_w:
            key = (power_w > 0, price)
            merged[key] = merged.get(key, 0) + power_w
    sells = sorted((price, w) for (buy, price), w in merged.items() if not buy)
    buys = sorted(((price, w) for (buy, price), w in merged.items() if buy), reverse=True)
    offer = tuple((w, price) for price, w in sells + buys)
    if len(offer) > MAX_SEGMENTS:
        raise ValueError(f"an offer has at most {MAX_SEGMENTS} segments, got {len(offer)}")
    for power_w, _ in offer:
        if abs(power_w) > MAX_SEGMENT_W:
            raise ValueError(f"segment power {power_w} W out of range")
    return offer


def _checked_segment(segment: Sequence[int]) -> Segment:
    if len(segment) != 2:
        raise ValueError(f"a segment is (power_w, price), got {segment!r}")
    power_w, price = segment
    for value in (power_w, price):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"segment values must be integers, got {segment!r}")
    if abs(power_w) > MAX_SEGMENT_W or abs(price) > MAX_ABS_PRICE:
        raise ValueError(f"segment out of range: {segment!r}")
    return power_w, price


def combine_offers(*offers: Iterable[Sequence[int]]) -> Offer:
    """One canonical offer holding all segments of ``offers``."""
    return normalize_offer(segment for offer in offers for segment in offer)


def manual_offer(production_w: int, consumption_w: int, cap: int = PRICE_CAP) -> Offer:
    """Offer of a node whose values are typed by an operator: inelastic.

    It buys its net demand at any price up to ``cap``, or sells its net
    surplus at any price from 0.
    """
    return _inelastic(production_w - consumption_w, cap)


def _inelastic(net_w: int, cap: int, ask: int = 0) -> Offer:
    # A surplus is a sell (negative power), a deficit a buy (positive power).
    # One segment is canonical as it is (every reading takes this path): only check it.
    segment = _checked_segment((-net_w, ask if net_w > 0 else cap))
    return (segment,) if net_w else ()


def consumer_offer(
    demand_w: int,
    flexible_w: int = 0,
    flexible_below: int = 0,
    cap: int = PRICE_CAP,
) -> Offer:
    """A household: ``demand_w`` bought at any price up to ``cap``, plus a
    shiftable ``flexible_w`` bought only at prices up to ``flexible_below``."""
    if demand_w < 0 or flexible_w < 0:
        raise ValueError("demand must be >= 0")
    return normalize_offer(((demand_w, cap), (flexible_w, flexible_below)))


def prosumer_offer(net_w: int, ask: int = 0, cap: int = PRICE_CAP) -> Offer:
    """A prosumer's own balance: surplus (``net_w`` > 0) offered at ``ask``
    (renewables cost about nothing), deficit (< 0) bought at up to ``cap``."""
    return _inelastic(net_w, cap, ask)


def battery_offer(charge_w: int, discharge_w: int, buy_below: int, sell_above: int) -> Offer:
    """A battery buys up to ``charge_w`` at prices ``<= buy_below`` and sells up
    to ``discharge_w`` at prices ``>= sell_above``.

    ``buy_below`` must not exceed ``sell_above``: otherwise the battery would
    be bidding to buy its own energy back.
    """
    if charge_w < 0 or discharge_w < 0:
        raise ValueError("battery charge and discharge power must be >= 0")
    if buy_below > sell_above:
        raise ValueError(f"buy_below {buy_below} above sell_above {sell_above}")
    return normalize_offer(((charge_w, buy_below), (-discharge_w, sell_above)))


def plant_offer(available_w: int, marginal_cost: int) -> Offer:
    """A plant sells its available capacity at its marginal cost."""
    if available_w < 0:
        raise ValueError("available power must be >= 0")
    return normalize_offer(((-available_w, marginal_cost),))
