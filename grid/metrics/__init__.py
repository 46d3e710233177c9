"""Observability of a node: ``GET /metrics`` in the Prometheus text format.

- :mod:`.registry`: :class:`NodeMetrics`, one per node's HTTP app: the counts
  the HTTP layer keeps (envelopes received, requests rejected) and the node's
  own ``CollectorRegistry`` (never the global one: several nodes may share a
  process).
- :mod:`.transport`: :class:`CountingTransport`, which counts what one node
  sends, by msgType, on the way to the shared transport.
- :mod:`.values`: what the actor reports at scrape time (gossip lag, live and
  stale nodes, digest agreement, price, carbon, net).
- :mod:`.families`: those numbers as Prometheus metric families.
- :mod:`.feature` and :mod:`.routes`: the ``metrics`` feature and its route,
  registered in ``grid/features.py``.

Only :mod:`.registry` is imported here: the HTTP app imports it, and the
feature and route modules import the HTTP app.
"""

from __future__ import annotations

from .registry import METRICS, NodeMetrics

__all__ = ["METRICS", "NodeMetrics"]
