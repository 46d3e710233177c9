"""The HTTP transport: msgpack envelopes POSTed to peers' ``/messaging``.

One keep-alive client session per process serves every node in it. Tells are
retried a few times with jittered exponential back-off on connection errors
and 429/503, then reported back as failed (gossip repairs the rest by digest
exchange once the link answers again). Asks are tried once with a short
timeout. Calls come from actors (on the loop, or on threads of their own) and
are handed to the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Callable, Mapping

import aiohttp

from protocol import codec
from protocol.envelopes import Envelope
from protocol.errors import GridError

from .base import AskCallback, FailCallback

log = logging.getLogger("grid.transport")

#: Signs an outgoing request: (method, path, body) -> extra headers.
Signer = Callable[[str, str, bytes], dict[str, str]]
#: Checks the answer to an Ask: (headers sent, answer body, answer headers); raises GridError.
AnswerCheck = Callable[[Mapping[str, str], bytes, Mapping[str, str]], None]


class HttpTransport:
    """Sends envelopes over HTTP from one asyncio loop."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        timeout_s: float = 2.0,
        retries: int = 2,
        backoff_s: float = 0.05,
        signer: Signer | None = None,
        answer_check: AnswerCheck | None = None,
    ) -> None:
        self.loop = loop
        self.timeout = aiohttp.ClientTimeout(total=timeout_s, connect=min(timeout_s, 1.0))
        self.retries = retries
        self.backoff_s = backoff_s
        self.signer = signer
        self.answer_check = answer_check
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._jitter = random.Random()
        self.sent = 0

    # ------------------------------------------------------------ lifecycle
    async def close(self, grace_s: float = 1.0) -> None:
        """Let in-flight sends finish for up to ``grace_s``, then close."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace_s)
        for task in list(self._tasks):
            task.cancel()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=256, limit_per_host=16, keepalive_timeout=30)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self.timeout)
        return self._session

    # ------------------------------------------------------------ interface
    def send(self, address: str, envelope: Envelope, on_fail: FailCallback) -> None:
        self._spawn(self._tell(address, envelope, on_fail))

    def ask(self, address: str, envelope: Envelope, on_reply: AskCallback) -> None:
        self._spawn(self._ask(address, envelope, on_reply))

    def _spawn(self, coro) -> None:  # type: ignore[no-untyped-def]
        self.sent += 1
        try:
            self.loop.call_soon_threadsafe(self._start, coro)
        except RuntimeError:
            coro.close()  # loop closed: the process is stopping

    def _start(self, coro) -> None:  # type: ignore[no-untyped-def]
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------ work
    async def _post(self, address: str, body: bytes) -> tuple[int, bytes]:
        status, raw, _ = await self._exchange(address, body)
        return status, raw

    async def _exchange(self, address: str, body: bytes) -> tuple[int, bytes, Callable[[], None]]:
        """POST one body; (status, answer, a call that checks the answer's signature)."""
        headers = {"Content-Type": codec.MSGPACK, "Accept": codec.MSGPACK}
        if self.signer is not None:
            headers.update(self.signer("POST", "/messaging", body))
        async with self._client().post(f"http://{address}/messaging", data=body, headers=headers) as resp:
            raw, answer_headers = await resp.read(), dict(resp.headers)
        check = self.answer_check
        return resp.status, raw, (lambda: check(headers, raw, answer_headers)) if check else (lambda: None)

    async def _tell(self, address: str, envelope: Envelope, on_fail: FailCallback) -> None:
        body = codec.encode(envelope)
        reason = "not sent"
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(self.backoff_s * (2 ** (attempt - 1)) * (0.5 + self._jitter.random()))
            try:
                status, _ = await self._post(address, body)
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                reason = f"{type(exc).__name__}: {exc}".strip(": ")
                continue
            if status < 300:
                return
            reason = f"HTTP {status}"
            if status not in (429, 503):
                break  # the peer refused this message; resending will not help
        on_fail(reason)

    async def _ask(self, address: str, envelope: Envelope, on_reply: AskCallback) -> None:
        try:
            status, raw, check_answer = await self._exchange(address, codec.encode(envelope))
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            on_reply(None, f"{type(exc).__name__}: {exc}".strip(": "))
            return
        if status >= 300:
            on_reply(None, f"HTTP {status}: {raw[:200].decode(errors='replace')}")
            return
        try:
            check_answer()  # a node without the grid key must not be linked
            on_reply(codec.decode(raw, codec.MSGPACK), None)
        except GridError as exc:
            on_reply(None, f"bad response: {exc.detail}")
