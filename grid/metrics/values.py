"""What a node reports at scrape time, computed in its actor.

Everything here is read from the gossip core when a scrape asks, never kept
up to date on the hot path. Liveness is as judged at the node's last
heartbeat (at most one heartbeat old).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from protocol.gossip import GossipCore

from ..node import report
from .transport import CountingTransport

if TYPE_CHECKING:
    from ..node.actor import NodeActor


def gossip_lag_s(core: GossipCore, now: float) -> float:
    """Age of the oldest live entry this node holds about another node, in seconds.

    ``learned_at`` is when the origin last refreshed the entry (the age each
    entry carries on the wire is subtracted), so this grows towards the TTL
    when refreshes stop arriving from somewhere, and stays about one heartbeat
    plus the hops across the grid when all is well.
    """
    me, learned_at = core.origin, core.learned_at
    ages = (now - learned_at[origin] for origin in core.view if origin != me and core.is_live(origin))
    return round(max(ages, default=0.0), 3)


def snapshot(node: "NodeActor", outbound: CountingTransport) -> dict[str, Any]:
    """The node's numbers for one scrape (see :mod:`.families` for their meaning)."""
    core, config = node.core, node.config
    me, market = core.me, report.market(core)
    return {
        "node": {"id": config.id, "name": config.name, "kind": config.kind, "address": config.address},
        "incarnation": me.incarnation,
        "sent": dict(outbound.sent),
        "failed": outbound.failed(),
        "delivered": outbound.delivered_to(config.address),
        "nodes": report.counts(core),
        "siblings": len(core.siblings),
        "gossip_lag_s": gossip_lag_s(core, node.scheduler.now()),
        "digest_agreement": report.digest_agreement(core, market.digest),
        "price": market.price,
        "carbon_intensity": market.carbon_intensity,
        "gridnet_w": core.net_w,
        "net_w": me.net_w,
        "production_w": me.production_w,
        "consumption_w": me.consumption_w,
    }
