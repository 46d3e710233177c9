"""The live dashboard every node serves at ``GET /``.

A static, self-contained page (HTML, CSS and plain JavaScript shipped in
``static/``, no build step, nothing from the internet) that reads the node's
own endpoints (``/state``, ``/grid``, ``/events``, and ``/dispatches``,
``/meter`` where those features run) and sends operator messages to
``/messaging`` like curl does. It has no node state of its own, so it is
served by routes only: :func:`make` builds no feature.

Every page response carries a strict Content-Security-Policy: scripts,
styles and connections only from the node that served the page, so the page
cannot talk to any other host even if gossip carried hostile text.
"""

from __future__ import annotations

from aiohttp import web

from ..node.config import NodeConfig
from ..node.feature import Feature
from .assets import Asset, load_assets

#: What the page may load and where it may connect: its own node only.
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "connect-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
))  # fmt: skip

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}

#: URL prefix of the page's scripts and styles.
ASSET_PREFIX = "/dashboard/"

def make(config: NodeConfig) -> Feature | None:
    """The dashboard keeps no state in the node: no feature, routes only."""
    return None


def _serve(request: web.Request, asset: Asset) -> web.Response:
    headers = {**SECURITY_HEADERS, "ETag": asset.etag}
    if asset.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(body=asset.body, content_type=asset.content_type, charset=asset.charset, headers=headers)


async def page(request: web.Request) -> web.Response:
    """The node's live dashboard (HTML; public: it holds no data, it reads the node's endpoints)."""
    return _serve(request, load_assets()["index.html"])


async def asset(request: web.Request) -> web.Response:
    """A script or stylesheet of the dashboard (404 for any name not shipped with it)."""
    found = load_assets().get(request.match_info["name"])
    if found is None or found.name == "index.html":
        raise web.HTTPNotFound(text=f"no dashboard file {request.match_info['name']!r}")
    return _serve(request, found)


def routes() -> list[web.RouteDef]:
    """``GET /`` (the page) and ``GET /dashboard/{name}`` (its scripts and styles)."""
    return [web.get("/", page), web.get(ASSET_PREFIX + "{name}", asset)]


__all__ = ["CONTENT_SECURITY_POLICY", "SECURITY_HEADERS", "make", "routes"]
