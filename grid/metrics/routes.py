"""``GET /metrics``: the node's metrics in the Prometheus text format.

Reads need what ``/state`` needs (a viewer token with ``--private-reads``;
Prometheus sends it with ``authorization: {credentials: ...}``).
"""

from __future__ import annotations

from aiohttp import web

from ..http.app import NODE, ask_node
from .registry import METRICS

#: The classic text format (what ``generate_latest`` writes), which every Prometheus version scrapes.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


async def metrics(request: web.Request) -> web.Response:
    """Prometheus metrics of this node: messages, rejections, gossip lag, nodes, agreement, price, net."""
    values = await ask_node(request, "metrics.values")
    gate = request.app[NODE].gate
    body = request.app[METRICS].render({**values, "in_flight": gate.inflight, "in_flight_limit": gate.limit})
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def routes() -> list[web.RouteDef]:
    """The metrics route."""
    return [web.get("/metrics", metrics)]
