"""One node's metrics registry and the counts its HTTP layer keeps.

The HTTP layer bumps plain ints on the event loop (one thread, so no lock;
one dict write per request, never per entry). At scrape time the route asks
the actor for its values (:mod:`.values`) and renders everything through the
node's own ``CollectorRegistry``, so several nodes in one process never mix
their numbers.
"""

from __future__ import annotations

from typing import Any, Iterable

from aiohttp import web
from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector, generate_latest
from prometheus_client.metrics_core import Metric

from . import families


class NodeMetrics:
    """The counters of one node's HTTP app and the registry that exposes them."""

    def __init__(self) -> None:
        #: Envelopes decoded at /messaging, by msgType.
        self.received: dict[str, int] = {}
        #: Requests answered with an error, by error code.
        self.rejected: dict[str, int] = {}
        self.registry = CollectorRegistry()
        self.registry.register(_NodeCollector(self))
        # Process figures (memory, CPU, open files): shared by every node of the process.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self._scrape: dict[str, Any] | None = None

    def message_in(self, msg_type: str) -> None:
        """One envelope of ``msg_type`` arrived over HTTP."""
        self.received[msg_type] = self.received.get(msg_type, 0) + 1

    def rejection(self, code: str) -> None:
        """One request was refused with error ``code``."""
        self.rejected[code] = self.rejected.get(code, 0) + 1

    def render(self, scrape: dict[str, Any]) -> bytes:
        """The Prometheus text exposition, with ``scrape`` as the node's current values.

        ``scrape`` is what :func:`.values.snapshot` returned plus the HTTP
        layer's gauges. Called on the event loop, like the counters' writes.
        """
        self._scrape = scrape
        try:
            return generate_latest(self.registry)
        finally:
            self._scrape = None

    def families(self) -> Iterable[Metric]:
        """The node's metric families (empty gauges when no scrape is in progress)."""
        return families.build(self.received, self.rejected, self._scrape)


class _NodeCollector:
    """Hands the registry the node's families at each scrape."""

    def __init__(self, metrics: NodeMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self.metrics.families()

    def describe(self) -> Iterable[Metric]:
        # The registry checks names for clashes once, at registration.
        return families.build({}, {}, None)


#: The app key under which ``make_app`` keeps the node's :class:`NodeMetrics`.
METRICS = web.AppKey("metrics", NodeMetrics)
