"""What a node tells about itself and its view: the bodies of /state and /grid."""

from __future__ import annotations

from typing import Any

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


def state(core: GossipCore, links: dict[str, dict[str, Any]], dev_mode: bool) -> dict[str, Any]:
    """The body of ``GET /state``: this node and the grid as it sees it."""
    me = core.me
    tally = counts(core)
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
        "view_digest": core.view_digest(),
        "dev_mode": dev_mode,
    }


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
    }


def grid(core: GossipCore, now: float) -> dict[str, Any]:
    """The body of ``GET /grid``: the whole view, one row per node."""
    rows = [grid_row(core, core.view[o], now) for o in sorted(core.view)]
    return {"id": core.origin, "gridnet": watts_to_kw(core.net_w), "view_digest": core.view_digest(), "nodes": rows}
