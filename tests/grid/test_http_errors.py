"""Every error of the HTTP layer is a JSON body: unknown paths and methods, and bugs.

The errors are answered per route (grid/http/app.py, ``json_errors``), not by
a middleware, so these check that nothing falls through to aiohttp's plain
text answers: a path no route serves, a method a route does not take, a
feature's route, and an internal error on /messaging and elsewhere.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from grid.events import EventHub
from grid.http import NodeHandle, make_app
from grid.http.auth import OperatorAuth
from protocol.roles import TokenStore

from ..integration.procs import HOST, free_port


class NoActor:
    """Stands for a node actor that fails on use: an internal error, not the client's."""

    def tell(self, message: Any) -> None:
        raise RuntimeError("not a real actor")


async def boom(request: web.Request) -> web.Response:
    """A feature route with a bug."""
    raise KeyError("bug")


async def fine(request: web.Request) -> web.Response:
    """A feature route that works."""
    return web.json_response({"fine": True})


@pytest.fixture
async def address() -> AsyncIterator[str]:
    handle = NodeHandle(NoActor(), OperatorAuth(TokenStore()), "1", EventHub())  # type: ignore[arg-type]
    app = make_app(handle, [web.get("/boom", boom), web.post("/fine", fine)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, HOST, port).start()
    try:
        yield f"{HOST}:{port}"
    finally:
        await runner.cleanup()


async def ask(method: str, url: str, body: bytes | None = None) -> tuple[int, Any, Any]:
    headers = {"Content-Type": "application/json"} if body else {}
    async with aiohttp.ClientSession() as session, session.request(method, url, data=body, headers=headers) as resp:
        assert resp.content_type == "application/json", (method, url, await resp.text())
        return resp.status, json.loads(await resp.read()), resp.headers


@pytest.mark.parametrize(
    ("method", "path", "status", "code", "allow"),
    [
        ("GET", "/nowhere", 404, "not_found", None),
        ("GET", "/boom/deeper", 404, "not_found", None),
        ("DELETE", "/messaging", 405, "method_not_allowed", {"GET", "POST"}),
        ("POST", "/healthz", 405, "method_not_allowed", {"GET", "HEAD"}),
        ("GET", "/fine", 405, "method_not_allowed", {"POST"}),
        ("GET", "/boom", 500, "internal_error", None),
    ],
)
async def test_errors_outside_messaging_are_json(
    address: str, method: str, path: str, status: int, code: str, allow: set[str] | None
) -> None:
    got, answer, headers = await ask(method, f"http://{address}{path}")
    assert (got, answer["error"]) == (status, code) and "detail" in answer
    if allow is not None:
        assert set(headers["Allow"].split(",")) == allow
    assert (await ask("GET", f"http://{address}/healthz"))[:2] == (200, {"status": "ok", "id": "1"})


async def test_an_internal_error_on_messaging_is_json_and_the_node_goes_on(address: str) -> None:
    body = json.dumps({"envType": "Tell", "msgType": "UpdateEnergy", "msg": {"production": 1, "consumption": 2}})
    status, answer, _ = await ask("POST", f"http://{address}/messaging", body.encode())
    assert (status, answer) == (500, {"error": "internal_error", "detail": "see the node's log"})
    status, answer, _ = await ask("POST", f"http://{address}/messaging", b"{")
    assert (status, answer["error"]) == (400, "invalid_json")
    assert (await ask("POST", f"http://{address}/fine", b"{}"))[:2] == (200, {"fine": True})
