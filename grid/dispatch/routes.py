"""The dispatch feature's read endpoints (their docstrings are their OpenAPI descriptions)."""

from __future__ import annotations

from aiohttp import web

from ..http.app import ask_node


async def list_dispatches(request: web.Request) -> web.Response:
    """Every dispatch this node knows, with its phase and answer counts.

    Newest start first; ``enrolled`` says which nodes are enrolled in which program.
    """
    return web.json_response(await ask_node(request, "dispatch.list"))


async def show_dispatch(request: web.Request) -> web.Response:
    """One dispatch, with who acknowledged, opted out or has not answered it.

    The answers count for the current modification, per target; with every answer and
    this node's notifications of the dispatch and their delivery status.
    """
    return web.json_response(await ask_node(request, "dispatch.show"))


async def audit(request: web.Request) -> web.Response:
    """This node's hash-chained audit log, oldest record first.

    Records after ``after`` (a seq), at most ``limit`` (1-1000, default 100),
    optionally of one ``kind``, with the head of the chain.
    """
    return web.json_response(await ask_node(request, "dispatch.audit"))


def routes() -> list[web.RouteDef]:
    """``GET /dispatches``, ``GET /dispatches/{dispatch_id}``, ``GET /audit``."""
    return [
        web.get("/dispatches", list_dispatches),
        web.get("/dispatches/{dispatch_id}", show_dispatch),
        web.get("/audit", audit),
    ]
