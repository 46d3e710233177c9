"""What a node tells about itself and its view: the bodies of /state and /grid."""

from __future__ import annotations

from typing import Any, NamedTuple

from nodes.market import carbon_intensity, clear_price
from protocol.entry import Entry, watts_to_kw
from protocol.gossip import GossipCore


def entry_status(core: GossipCore, origin: str) -> str:
    """``alive``, ``stale`` or ``left``, as this node sees ``origin``."""
    entry = core.view[origin]
    if entry.status == "left":
        return "left"
    return "stale" if origin in core.stale else "alive"


def counts(core: GossipCore) -> dict[str, int]:
    """How many nodes of the view are live, stale and gone."""
    left = sum(1 for e in core.view.values() if e.status == "left")
    stale = len(core.stale - {o for o, e in core.view.items() if e.status == "left"})
    return {"live": len(core.view) - left - stale, "stale": stale, "left": left}


class Market(NamedTuple):
    """What a node derives from its view's live entries, and the view it came from."""

    price: int  #: merit-order clearing price of every live offer, EUR/MWh
    carbon_intensity: int  #: production-weighted emissions, gCO2/kWh
    flexible_w: int  #: power controllers may move, summed over live entries
    digest: str  #: the view digest these numbers belong to


def market(core: GossipCore) -> Market:
    """Price, carbon intensity and flexible power of this node's own view.

    Pure functions of the live entries (``nodes.market``), so two nodes with
    the same view digest report the same numbers.
    """
    live = core.live_entries()
    return Market(
        price=clear_price(entry.offer for entry in live),
        carbon_intensity=carbon_intensity((entry.production_w, entry.emissions) for entry in live),
        flexible_w=sum(entry.flexible_w for entry in live),
        digest=core.view_digest(),
    )


def state(core: GossipCore, links: dict[str, dict[str, Any]], dev_mode: bool) -> dict[str, Any]:
    """The body of ``GET /state``: this node and the grid as it sees it."""
    me = core.me
    tally = counts(core)
    prices = market(core)
    return {
        "id": me.origin,
        "name": me.name,
        "address": me.address,
        "kind": me.kind,
        "incarnation": me.incarnation,
        "version": me.version,
        "production": watts_to_kw(me.production_w),
        "consumption": watts_to_kw(me.consumption_w),
        "net": watts_to_kw(me.net_w),
        "gridnet": watts_to_kw(core.net_w),
        "gridnet_w": core.net_w,
        "nodes_live": tally["live"],
        "nodes_stale": tally["stale"],
        "nodes_left": tally["left"],
        "siblings": [{"id": s.id, "name": s.name, "address": s.address} for _, s in sorted(core.siblings.items())],
        "links": links,
        "view_digest": prices.digest,
        "price": prices.price,
        "carbon_intensity": prices.carbon_intensity,
        "price_digest": prices.digest,
        "digest_agreement": digest_agreement(core, prices.digest),
        "dev_mode": dev_mode,
    }


def digest_agreement(core: GossipCore, digest: str) -> float:
    """Share of live nodes whose last published view digest equals ``digest``.

    Nodes publish their digest with each heartbeat, so this lags by up to one
    heartbeat; this node counts with the digest it has now.
    """
    live = core.live_entries()
    same = sum(1 for e in live if (digest if e.origin == core.origin else e.view_digest) == digest)
    return round(same / len(live), 3) if live else 1.0


def grid_row(core: GossipCore, entry: Entry, now: float) -> dict[str, Any]:
    """One row of ``GET /grid``."""
    return {
        "id": entry.origin,
        "name": entry.name,
        "address": entry.address,
        "kind": entry.kind,
        "status": entry_status(core, entry.origin),
        "production": watts_to_kw(entry.production_w),
        "consumption": watts_to_kw(entry.consumption_w),
        "net": watts_to_kw(entry.net_w),
        "incarnation": entry.incarnation,
        "version": entry.version,
        "age_s": round(max(0.0, now - core.learned_at.get(entry.origin, now)), 3),
        "siblings": list(entry.siblings),
        "offer": [list(seg) for seg in entry.offer],
        "emissions": entry.emissions,
        "source": entry.source,
        "battery_soc": entry.battery_soc,
        "flexible_w": entry.flexible_w,
        "price_digest": entry.view_digest,
    }


def grid(core: GossipCore, now: float) -> dict[str, Any]:
    """The body of ``GET /grid``: the whole view, one row per node."""
    rows = [grid_row(core, core.view[o], now) for o in sorted(core.view)]
    return {"id": core.origin, "gridnet": watts_to_kw(core.net_w), "view_digest": core.view_digest(), "nodes": rows}
