"""The chat feature's read endpoints, and ``GET /whoami`` (their docstrings are their OpenAPI descriptions).

Chats are personal: reading them needs the role that may write them
(``owner``, see :data:`protocol.roles.REQUIRED_ROLE`), not just read access.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from protocol.roles import READ, presented_token

from ..http.app import NODE, ask_node, client_of


def _may_chat(request: web.Request) -> None:
    """Raise 401/403/429 unless the request's token may chat at this node."""
    request.app[NODE].auth.require("Chat", request.headers.get("Authorization"), client_of(request))


async def list_chats(request: web.Request) -> web.Response:
    """This node's conversations, the most recent first.

    Each with the peer's name and liveness, unread count, whether the peer is typing, how far
    the peer delivered and read this node's chats, and the last chat. Needs role ``owner``.
    """
    _may_chat(request)
    return web.json_response(await ask_node(request, "chat.list"))


async def show_chat(request: web.Request) -> web.Response:
    """One conversation: its chats in the order they happened here, with their status.

    ``status`` is ``sent``, ``delivered`` or ``read`` (this node's chats) and ``delivered`` or
    ``read`` (the peer's); ``route`` lists the nodes a received chat went through. The last
    ``limit`` chats (1-1000, default 200) before row ``before``. Needs role ``owner``.
    """
    _may_chat(request)
    return web.json_response(await ask_node(request, "chat.show"))


async def whoami(request: web.Request) -> web.Response:
    """The role of the operator token presented in Authorization (null without one).

    A node without tokens is open: everyone is ``admin``. A wrong token is refused (401)
    and counts towards the limiter like any other guess.
    """
    auth = request.app[NODE].auth
    answer: dict[str, Any] = {"node": request.app[NODE].node_id, "open": not auth.required}
    authorization = request.headers.get("Authorization")
    if not auth.required:
        return web.json_response({**answer, "role": "admin", "label": None})
    if presented_token(authorization) is None:
        return web.json_response({**answer, "role": None, "label": None})
    grant = auth.require(READ, authorization, client_of(request))
    assert grant is not None  # a node with tokens always names the grant
    return web.json_response({**answer, "role": grant.role.label, "label": grant.label})


def routes() -> list[web.RouteDef]:
    """``GET /chats``, ``GET /chats/{peer}``, ``GET /whoami``."""
    return [web.get("/chats", list_chats), web.get("/chats/{peer}", show_chat), web.get("/whoami", whoami)]
