"""The ``metrics`` feature: counts what its node sends and answers the scrape query.

Built for every node. Through :meth:`MetricsFeature.wrap_transport` (called
before the node restores its links or sends anything) it puts a
:class:`~.transport.CountingTransport` in front of the node's transport, so
every envelope the node sends (gossip, link handshakes, features' messages)
is counted once. Its query ``metrics.values`` returns the scrape's numbers.
"""

from __future__ import annotations

from typing import Any

from ..node.config import NodeConfig
from ..node.feature import Feature, QueryHandler
from ..transport.base import Transport
from .routes import routes
from .transport import CountingTransport
from .values import snapshot

class MetricsFeature(Feature):
    """Outbound counts and scrape-time values of one node."""

    name = "metrics"

    def wrap_transport(self, transport: Transport) -> Transport:
        self.outbound = CountingTransport(transport)
        return self.outbound

    def queries(self) -> dict[str, QueryHandler]:
        return {"values": self.values}

    def values(self, params: dict[str, Any]) -> dict[str, Any]:
        """The numbers of one scrape, computed now."""
        return snapshot(self.node, self.outbound)


def make(config: NodeConfig) -> MetricsFeature:
    """Every node runs the feature: its cost is one dict write per envelope sent."""
    return MetricsFeature()


__all__ = ["MetricsFeature", "make", "routes"]
