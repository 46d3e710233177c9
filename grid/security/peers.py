"""The grid key at work: sign every peer request, check every peer request and Ask answer.

:mod:`protocol.keyring` is the pure half (canonical string, HMAC, replay
cache); this is the I/O half: it draws nonces from ``os.urandom``, reads the
wall clock, and is shared by three threads of one node, so one lock guards
the keyring and the replay cache:

- the event loop signs outgoing requests (:meth:`PeerAuth.sign`, handed to
  :class:`grid.transport.http.HttpTransport` as its signer) and checks
  incoming ones (:meth:`PeerAuth.verify`, called by ``/messaging``);
- the node actor changes the keyring (``KeyRotation``, :mod:`.feature`).

Answers to an Ask (the AddSibling handshake) are signed too, under the
pseudo-method ``RESPONSE`` and a path naming the request's nonce, so an
answer cannot be replayed for another request or passed off as a request;
a node with a key refuses an unsigned answer, which keeps a node without the
key (or with a wrong one) from ever being linked.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Mapping
from typing import Callable

from protocol import keyring as grid_key
from protocol.keyring import Keyring, ReplayCache
from protocol.security import AuthError, FailureLimiter, RateLimitedError

#: Pseudo-method under which Ask answers are signed (never a real HTTP method).
RESPONSE_METHOD = "RESPONSE"
#: Random bytes per nonce (128 bits).
NONCE_BYTES = 16


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class PeerAuth:
    """One node's keyring, replay cache and rejection counts; safe from any thread."""

    def __init__(
        self,
        keyring: Keyring | None = None,
        *,
        window_ms: int = grid_key.DEFAULT_WINDOW_MS,
        limiter: FailureLimiter | None = None,
        clock_ms: Callable[[], int] = _wall_ms,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._keyring = keyring or Keyring()
        self._lock = threading.Lock()
        self._replay = ReplayCache()
        self._answers = ReplayCache()
        self.window_ms = window_ms
        self.limiter = limiter or FailureLimiter()
        self.clock_ms = clock_ms
        self.random_bytes = random_bytes
        #: Peer requests refused, by error code (shown in /state).
        self.rejected: Counter[str] = Counter()
        #: Signed peer requests accepted.
        self.accepted = 0

    # ------------------------------------------------------------ the keyring
    @property
    def is_open(self) -> bool:
        """Development mode: no key, nothing signed or checked."""
        return self._keyring.is_open

    @property
    def active_id(self) -> str | None:
        """The key that signs, ``None`` in development mode."""
        return self._keyring.active_id

    def ids(self) -> tuple[str, ...]:
        """Installed key ids."""
        with self._lock:
            return self._keyring.ids()

    def snapshot(self) -> Keyring:
        """A copy of the keyring (for persisting it)."""
        with self._lock:
            copy = Keyring()
            for key_id in self._keyring.ids():
                copy.install(key_id, self._keyring.secret(key_id) or b"")
            if self._keyring.active_id is not None:
                copy.use(self._keyring.active_id)
            return copy

    def install(self, key_id: str, secret: bytes) -> None:
        """Accept ``key_id`` from now on (raises :class:`protocol.keyring.KeyringError`)."""
        with self._lock:
            self._keyring.install(key_id, secret)

    def use(self, key_id: str) -> None:
        """Sign with ``key_id`` from now on."""
        with self._lock:
            self._keyring.use(key_id)

    def remove(self, key_id: str) -> None:
        """Refuse ``key_id`` from now on (never the active key)."""
        with self._lock:
            self._keyring.remove(key_id)

    # ------------------------------------------------------------ requests
    def sign(self, method: str, path: str, body: bytes) -> dict[str, str]:
        """The X-Grid-* headers of one outgoing request (none in development mode)."""
        nonce = grid_key.nonce_from_bytes(self.random_bytes(NONCE_BYTES))
        with self._lock:
            return grid_key.sign(self._keyring, method, path, body, self.clock_ms(), nonce)

    def verify(self, method: str, path: str, body: bytes, headers: Mapping[str, str], client: str) -> str | None:
        """Check one incoming peer request; the key id that signed it (``None`` if open).

        Raises 401 (:class:`AuthError`) or 429 (:class:`RateLimitedError`,
        after repeated failures from ``client``). Nothing else happens to a
        refused request: callers check before they act.
        """
        if self.is_open:
            return None
        now_ms = self.clock_ms()
        try:
            self.limiter.enforce(client, now_ms)
            with self._lock:
                key_id = grid_key.verify(self._keyring, method, path, body, headers, now_ms, self._replay,
                                         self.window_ms)  # fmt: skip
        except (AuthError, RateLimitedError) as exc:
            self.rejected[exc.code] += 1
            if isinstance(exc, AuthError):
                self.limiter.record_failure(client, now_ms)
            raise
        self.accepted += 1
        return key_id

    # ------------------------------------------------------------ Ask answers
    def sign_answer(self, request_headers: Mapping[str, str], body: bytes) -> dict[str, str]:
        """Headers that bind an Ask's answer to the request it answers."""
        nonce = _nonce_of(request_headers)
        if nonce is None or self.is_open:
            return {}
        return self.sign(RESPONSE_METHOD, _answer_path(nonce), body)

    def check_answer(self, request_headers: Mapping[str, str], body: bytes, headers: Mapping[str, str]) -> None:
        """Raise :class:`AuthError` unless the answer was signed for the request we sent."""
        if self.is_open:
            return
        nonce = _nonce_of(request_headers)
        if nonce is None:
            raise AuthError("the request was not signed", code="missing_signature")
        with self._lock:
            grid_key.verify(self._keyring, RESPONSE_METHOD, _answer_path(nonce), body, headers, self.clock_ms(),
                            self._answers, self.window_ms)  # fmt: skip

    def __repr__(self) -> str:
        return f"PeerAuth({self._keyring!r})"


def _nonce_of(headers: Mapping[str, str]) -> str | None:
    for name, value in headers.items():
        if name.lower() == grid_key.NONCE_HEADER.lower():
            return value
    return None


def _answer_path(nonce: str) -> str:
    return f"/messaging/answer/{nonce}"


__all__ = ["PeerAuth", "RESPONSE_METHOD"]
