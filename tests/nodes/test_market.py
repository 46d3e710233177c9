"""Clearing price, carbon intensity and offer builders."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodes.market import (
    MAX_SEGMENTS,
    PRICE_CAP,
    PRICE_FLOOR,
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

powers = st.integers(-(10**6), 10**6).filter(bool)
prices = st.integers(-300, 3500)
segments = st.tuples(powers, prices)
offers = st.lists(st.lists(segments, min_size=1, max_size=MAX_SEGMENTS), max_size=12)


def reference_price(all_offers, floor=PRICE_FLOOR, cap=PRICE_CAP):
    """The definition, spelled out as slowly as possible."""
    flat = [segment for offer in all_offers for segment in offer]
    candidates = sorted({floor, cap, *(min(cap, max(floor, p)) for _, p in flat)})
    for p in candidates:
        supply = sum(-w for w, q in flat if w < 0 and q <= p)
        demand = sum(w for w, q in flat if w > 0 and q > p)
        if supply >= demand:
            return p
    return cap


@given(offers)
def test_price_matches_the_definition(all_offers):
    assert clear_price(all_offers) == reference_price(all_offers)


@given(offers, st.data())
def test_price_is_independent_of_order(all_offers, data):
    shuffled = data.draw(st.permutations(all_offers))
    shuffled = [data.draw(st.permutations(offer)) for offer in shuffled]
    assert clear_price(shuffled) == clear_price(all_offers)


@given(offers, st.integers(1, 10**6), prices)
def test_price_never_falls_when_demand_rises(all_offers, extra_w, willing):
    assert clear_price([*all_offers, [(extra_w, willing)]]) >= clear_price(all_offers)


@given(offers.filter(lambda o: any(w > 0 for offer in o for w, _ in offer)), st.data())
def test_price_never_falls_when_a_buy_grows(all_offers, data):
    i = data.draw(st.sampled_from([i for i, offer in enumerate(all_offers) if any(w > 0 for w, _ in offer)]))
    grown = [list(offer) for offer in all_offers]
    grown[i] = [(w + 1000, p) if w > 0 else (w, p) for w, p in grown[i]]
    assert clear_price(grown) >= clear_price(all_offers)


@given(st.lists(st.tuples(st.integers(1, 10**6), prices), max_size=8), st.integers(1, 10**6))
def test_price_is_cap_when_demand_cannot_be_met(sells, shortfall):
    supply = sum(w for w, _ in sells)
    all_offers = [[(-w, p)] for w, p in sells] + [[(supply + shortfall, PRICE_CAP)]]
    assert clear_price(all_offers) == PRICE_CAP


@given(st.integers(1, 10**6), st.integers(0, 10**6), st.integers(-1000, PRICE_FLOOR))
def test_price_is_floor_when_cheap_supply_covers_demand(demand_w, spare_w, ask):
    all_offers = [[(-(demand_w + spare_w), ask)], [(demand_w, PRICE_CAP)]]
    assert clear_price(all_offers) == PRICE_FLOOR


def test_empty_grid_clears_at_the_floor():
    assert clear_price([]) == PRICE_FLOOR


def test_merit_order_picks_the_marginal_seller():
    sellers = [[(-100, 10)], [(-100, 50)], [(-100, 80)]]
    assert clear_price([*sellers, [(50, PRICE_CAP)]]) == 10
    assert clear_price([*sellers, [(150, PRICE_CAP)]]) == 50
    assert clear_price([*sellers, [(300, PRICE_CAP)]]) == 80
    assert clear_price([*sellers, [(301, PRICE_CAP)]]) == PRICE_CAP


def test_custom_floor_and_cap():
    assert clear_price([[(10, 5000)]], floor=0, cap=500) == 500
    assert clear_price([], floor=7, cap=9) == 7
    with pytest.raises(ValueError):
        clear_price([], floor=10, cap=0)


def test_buyer_below_the_floor_never_buys():
    assert clear_price([[(1000, PRICE_FLOOR - 50)]]) == PRICE_FLOOR


def test_a_marginal_buyer_sets_the_price():
    # 1 W for sale at 0, 2 W wanted at up to 0: the buyer is rationed at 0.
    assert clear_price([[(-1, 0), (2, 0)]]) == 0
    # A battery bidding 40 for a renewable surplus the households leave over.
    grid = [[(-1_000, 0)], [(800, PRICE_CAP)], [(500, 40)], [(-10_000, 60)]]
    assert clear_price(grid) == 40


@given(offers, st.integers(-200, 3200))
def test_price_is_the_smallest_integer_where_supply_covers_demand(all_offers, probe):
    """Brute force over every integer price near the result."""
    price = clear_price(all_offers)
    flat = [segment for offer in all_offers for segment in offer]

    def covered(p):
        return sum(-w for w, q in flat if w < 0 and q <= p) >= sum(w for w, q in flat if w > 0 and q > p)

    assert price == PRICE_CAP or covered(price)
    if PRICE_FLOOR <= probe < price:
        assert not covered(probe)


def test_carbon_intensity_is_production_weighted():
    assert carbon_intensity([(1000, 820), (3000, 0)]) == 205
    assert carbon_intensity([(1, 1), (1, 2)]) == 2  # 1.5 rounds half up
    assert carbon_intensity([(2, 1), (1, 2)]) == 1  # 1.33 rounds down
    assert carbon_intensity([]) == 0
    assert carbon_intensity([(0, 900), (0, 100)]) == 0


@given(st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 2000)), min_size=1), st.randoms())
def test_carbon_intensity_is_a_mean(rows, rng):
    shuffled = list(rows)
    rng.shuffle(shuffled)
    value = carbon_intensity(rows)
    assert value == carbon_intensity(shuffled)
    producing = [e for w, e in rows if w > 0]
    if producing:
        assert min(producing) <= value <= max(producing)
    else:
        assert value == 0


def test_manual_offer_is_inelastic():
    assert manual_offer(0, 10_000) == ((10_000, PRICE_CAP),)
    assert manual_offer(5_000, 0) == ((-5_000, 0),)
    assert manual_offer(3_000, 3_000) == ()


def test_builders():
    assert consumer_offer(800, 200, 70) == ((800, PRICE_CAP), (200, 70))
    assert consumer_offer(800) == ((800, PRICE_CAP),)
    assert prosumer_offer(1_500) == ((-1_500, 0),)
    assert prosumer_offer(-700) == ((700, PRICE_CAP),)
    assert battery_offer(3_000, 4_000, 40, 120) == ((-4_000, 120), (3_000, 40))
    assert battery_offer(0, 0, 40, 120) == ()
    assert plant_offer(1_000_000, 60) == ((-1_000_000, 60),)
    assert plant_offer(0, 60) == ()


def test_builders_reject_nonsense():
    with pytest.raises(ValueError):
        battery_offer(1, 1, 130, 120)
    with pytest.raises(ValueError):
        plant_offer(-1, 60)
    with pytest.raises(ValueError):
        consumer_offer(-5)


def test_normalize_merges_sorts_and_validates():
    offer = normalize_offer([(100, 50), (-30, 20), (0, 99), (50, 50), (-10, 5), (7, 80)])
    assert offer == ((-10, 5), (-30, 20), (7, 80), (150, 50))
    assert combine_offers(((-5, 0),), ((-5, 0), (3, 10))) == ((-10, 0), (3, 10))
    with pytest.raises(ValueError):
        normalize_offer([(1, p) for p in range(MAX_SEGMENTS + 1)])
    for bad in ([(True, 1)], [(1.5, 1)], [(1, 2, 3)], [(10**13, 1)], [(1, 10**7)]):
        with pytest.raises(ValueError):
            normalize_offer(bad)


@given(offers)
def test_normalized_offers_clear_the_same(all_offers):
    canonical = [normalize_offer(offer) for offer in all_offers]
    assert clear_price(canonical) == clear_price(all_offers)
    assert [normalize_offer(offer) for offer in canonical] == canonical
