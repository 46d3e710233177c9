"""Security errors and the failed-authentication limiter, shared by both kinds of auth.

Grid authenticates two kinds of caller (DESIGN section 7):

- **peers** sign every message with the shared grid key (:mod:`protocol.keyring`);
- **operators** present a per-node token carrying a role (:mod:`protocol.roles`).

Both reject with the three small error types below, each with an HTTP ``status``
and a machine ``code``, and both feed the same :class:`FailureLimiter` so a
client guessing keys or tokens is slowed down whichever door it knocks on.

Everything here is pure: time arrives as epoch milliseconds in arguments.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from .errors import Forbidden, GridError, RateLimited, Unauthorized


#: The base of every security rejection is the protocol's own error type.
SecurityError = GridError


class AuthError(Unauthorized):
    """Missing or wrong credentials (401).

    Codes: ``unauthorized`` (operator token missing or wrong) and, for signed
    peer messages, ``missing_signature``, ``malformed``, ``unknown_key``,
    ``too_old``, ``too_new``, ``bad_signature``, ``replayed``.
    """


class ForbiddenError(Forbidden):
    """Valid credentials without the role the message needs (403, code ``forbidden``)."""


class RateLimitedError(RateLimited):
    """Refused for now; retry after ``retry_after_s`` seconds (429).

    Codes: ``too_many_failures`` (the :class:`FailureLimiter` blocked this
    client) and ``overloaded`` (the replay cache is full of live nonces).
    """

    code = "too_many_failures"


def ceil_seconds(ms: int) -> int:
    """Whole seconds to wait for ``ms`` milliseconds, at least 1 (``Retry-After`` is integral)."""
    return max(1, -(-ms // 1000))


@dataclass(slots=True)
class _Client:
    """What the limiter remembers about one client."""

    failures: deque[int] = field(default_factory=deque)
    blocked_until_ms: int = 0


class FailureLimiter:
    """Blocks a client for a while after too many failed authentications.

    A client (any string: remote address, key id, token label) that fails
    ``max_failures`` times within ``window_ms`` is refused for ``backoff_ms``;
    after that it starts again with a clean count. A success forgets the client.

    Memory is bounded: at most ``max_clients`` clients are tracked, and each
    keeps at most ``max_failures`` timestamps. When full, the client whose last
    failure is oldest is forgotten. An attacker with many addresses can thereby
    unblock one of them early, but each address still gets only
    ``max_failures`` guesses per back-off, and many addresses buy as many
    guesses without this limiter anyway; the bound protects the node's memory.
    """

    def __init__(
        self,
        max_failures: int = 10,
        window_ms: int = 60_000,
        backoff_ms: int = 60_000,
        max_clients: int = 10_000,
    ) -> None:
        if max_failures < 1 or window_ms < 1 or backoff_ms < 1 or max_clients < 1:
            raise ValueError("FailureLimiter limits must all be positive")
        self.max_failures = max_failures
        self.window_ms = window_ms
        self.backoff_ms = backoff_ms
        self.max_clients = max_clients
        self._clients: OrderedDict[str, _Client] = OrderedDict()

    def __len__(self) -> int:
        """How many clients are tracked (never more than ``max_clients``)."""
        return len(self._clients)

    def check(self, client: str, now_ms: int) -> int | None:
        """Seconds the client must still wait, or ``None`` if it may try now.

        Call before checking credentials, so a blocked client costs no HMAC.
        """
        record = self._clients.get(client)
        if record is None or record.blocked_until_ms <= now_ms:
            return None
        return ceil_seconds(record.blocked_until_ms - now_ms)

    def enforce(self, client: str, now_ms: int) -> None:
        """Like :meth:`check`, but raise :class:`RateLimitedError` when blocked."""
        wait_s = self.check(client, now_ms)
        if wait_s is not None:
            raise RateLimitedError(f"too many failed attempts; retry in {wait_s} s", retry_after_s=wait_s)

    def record_failure(self, client: str, now_ms: int) -> None:
        """Count one failed attempt; block the client when it reaches the limit."""
        record = self._touch(client)
        if record.blocked_until_ms > now_ms:
            return  # already blocked: the back-off runs from the first block, not extended
        failures = record.failures
        while failures and now_ms - failures[0] >= self.window_ms:
            failures.popleft()
        failures.append(now_ms)
        if len(failures) >= self.max_failures:
            record.blocked_until_ms = now_ms + self.backoff_ms
            failures.clear()

    def record_success(self, client: str) -> None:
        """Forget the client: a correct credential clears its failures."""
        self._clients.pop(client, None)

    def _touch(self, client: str) -> _Client:
        """The client's record, most recently used, evicting the oldest if full."""
        record = self._clients.get(client)
        if record is None:
            if len(self._clients) >= self.max_clients:
                self._clients.popitem(last=False)
            record = self._clients[client] = _Client()
        else:
            self._clients.move_to_end(client)
        return record


__all__ = [
    "AuthError",
    "FailureLimiter",
    "ForbiddenError",
    "RateLimitedError",
    "SecurityError",
    "ceil_seconds",
]
