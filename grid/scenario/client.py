"""HTTP to nodes from a scenario runner: operator messages, /state, /healthz, reads.

One keep-alive aiohttp session for the whole run. Messages go as the curl
examples send them: JSON envelopes to ``/messaging`` with the node's token.
Every call is bounded in time; a node that does not answer is reported, not
waited for.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

#: Seconds one request may take.
TIMEOUT_S = 5.0


class NodeClient:
    """Talks HTTP to nodes by address (``host:port``)."""

    def __init__(self, timeout_s: float = TIMEOUT_S) -> None:
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            # Many nodes on one host: allow a connection per node and then some.
            self._session = aiohttp.ClientSession(timeout=self.timeout, connector=aiohttp.TCPConnector(limit=256))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, address: str, msg_type: str, msg: dict[str, Any], token: str | None) -> tuple[int, Any]:
        """POST one Tell to ``/messaging``; returns (status, JSON answer). Status 0: unreachable."""
        envelope = {"envType": "Tell", "msgType": msg_type, "msg": msg}
        headers = {"Content-Type": "application/json", **({"Authorization": token} if token else {})}
        try:
            async with self.session.post(f"http://{address}/messaging", data=json.dumps(envelope),
                                         headers=headers) as resp:  # fmt: skip
                return resp.status, await _body(resp)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            return 0, {"error": "unreachable", "detail": str(exc) or type(exc).__name__}

    async def get(self, address: str, path: str, timeout_s: float | None = None) -> tuple[int, Any]:
        """GET a JSON document; (0, None) when the node does not answer in time."""
        timeout = aiohttp.ClientTimeout(total=timeout_s) if timeout_s else None
        try:
            async with self.session.get(f"http://{address}{path}", timeout=timeout) as resp:
                return resp.status, await _body(resp)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
            return 0, None

    async def healthy(self, address: str) -> bool:
        """Whether the node answers ``/healthz``."""
        status, _ = await self.get(address, "/healthz", timeout_s=1.0)
        return status == 200


async def _body(resp: aiohttp.ClientResponse) -> Any:
    raw = await resp.read()
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode(errors="replace")
