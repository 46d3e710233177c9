"""Peer message authentication with the shared grid key (HMAC-SHA256).

Rules:
- Every peer request carries four headers (:data:`KEY_HEADER`,
  :data:`TIMESTAMP_HEADER`, :data:`NONCE_HEADER`, :data:`SIGNATURE_HEADER`).
  The signature is the lowercase hex HMAC-SHA256, under the named key, of the
  canonical string built by :func:`canonical_string`::

      GRID-HMAC-SHA256 \\n key id \\n METHOD \\n path \\n timestamp \\n nonce \\n sha256hex(body)

- A :class:`Keyring` holds several keys; the active one signs, any installed
  one verifies. Rotation: install the new key everywhere, ``use`` it
  everywhere, then ``remove`` the old one. Messages in flight keep verifying
  throughout.
- A request is accepted once: its nonce is remembered (:class:`ReplayCache`)
  for as long as its timestamp would still pass the freshness check, and only
  after its signature checked out, so forged requests cannot fill the cache.
- An empty keyring is the open development mode: nothing is signed and
  everything is accepted. The node must say so loudly (:attr:`Keyring.is_open`).

Pure: the clock (``now_ms``, ``timestamp_ms``) and the nonce come in as arguments.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import re
from collections.abc import Mapping

from .security import AuthError, RateLimitedError, ceil_seconds

KEY_HEADER = "X-Grid-Key"
TIMESTAMP_HEADER = "X-Grid-Timestamp"
NONCE_HEADER = "X-Grid-Nonce"
SIGNATURE_HEADER = "X-Grid-Signature"
#: The headers :func:`sign` produces, in order.
SIGNATURE_HEADERS = (KEY_HEADER, TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER)

#: Names the algorithm in the signed string, so a signature made for anything
#: else with the same key can never be replayed as a Grid signature.
SCHEME = "GRID-HMAC-SHA256"
#: Shortest secret accepted, in bytes (128 bits).
MIN_SECRET_BYTES = 16
#: Fewest random bytes :func:`nonce_from_bytes` accepts (96 bits: collisions are negligible).
MIN_NONCE_BYTES = 12
#: How far a timestamp may be from the verifier's clock, either way, by default.
DEFAULT_WINDOW_MS = 30_000
#: Most nonces remembered by default: 100k live nonces per 30 s window is
#: over 3,000 signed requests a second, far above one node's peer traffic.
DEFAULT_REPLAY_ENTRIES = 100_000

_KEY_ID = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_NONCE = re.compile(r"[A-Za-z0-9_\-]{16,128}")
_TIMESTAMP = re.compile(r"[0-9]{1,16}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_METHOD = re.compile(r"[A-Z]{1,16}")
_PATH = re.compile(r"/[\x21-\x7e]{0,2047}")  # printable ASCII, no spaces or newlines


class KeyringError(ValueError):
    """A keyring operation that cannot be done (400 if it came from a request).

    Codes: ``bad_key_id``, ``weak_secret``, ``key_conflict``, ``unknown_key``,
    ``active_key``.
    """

    status = 400

    def __init__(self, detail: str, *, code: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class Keyring:
    """The grid keys a node knows: key id -> secret, one of them active for sending.

    The first key installed becomes active. The active key cannot be removed:
    ``use`` another one first. No keys at all means open development mode.
    """

    def __init__(self) -> None:
        self._secrets: dict[str, bytes] = {}
        self._active: str | None = None

    @classmethod
    def with_key(cls, key_id: str, secret: bytes) -> Keyring:
        """A keyring holding one key, active."""
        keyring = cls()
        keyring.install(key_id, secret)
        return keyring

    @property
    def is_open(self) -> bool:
        """True in open development mode: no keys, nothing signed or checked."""
        return not self._secrets

    @property
    def active_id(self) -> str | None:
        """The id of the key used for sending, ``None`` in open mode."""
        return self._active

    def ids(self) -> tuple[str, ...]:
        """Installed key ids, sorted."""
        return tuple(sorted(self._secrets))

    def install(self, key_id: str, secret: bytes) -> None:
        """Add a key that verifies from now on; the first one also signs.

        Installing the same id with the same secret again is a no-op; with a
        different secret it is refused, since peers holding the old secret
        would fail under the same id and no one could tell why.
        """
        if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
            raise KeyringError(f"key id must be 1-64 of A-Z a-z 0-9 _ . -, got {key_id!r}", code="bad_key_id")
        if not isinstance(secret, bytes) or len(secret) < MIN_SECRET_BYTES:
            raise KeyringError(f"secret for {key_id!r} must be at least {MIN_SECRET_BYTES} bytes", code="weak_secret")
        known = self._secrets.get(key_id)
        if known is not None and not hmac.compare_digest(known, secret):
            raise KeyringError(f"key {key_id!r} is already installed with another secret", code="key_conflict")
        self._secrets[key_id] = secret
        if self._active is None:
            self._active = key_id

    def use(self, key_id: str) -> None:
        """Sign with ``key_id`` from now on (it must be installed)."""
        self._require(key_id)
        self._active = key_id

    def remove(self, key_id: str) -> None:
        """Stop accepting ``key_id``. The active key cannot be removed."""
        self._require(key_id)
        if key_id == self._active:
            raise KeyringError(f"key {key_id!r} is active; use another key before removing it", code="active_key")
        del self._secrets[key_id]

    def secret(self, key_id: str) -> bytes | None:
        """The secret of ``key_id``, or ``None`` if not installed."""
        return self._secrets.get(key_id)

    def _require(self, key_id: str) -> None:
        if key_id not in self._secrets:
            raise KeyringError(f"no key {key_id!r} installed", code="unknown_key")

    def __repr__(self) -> str:
        # Never show secrets, not even in logs or tracebacks.
        return f"Keyring(ids={self.ids()!r}, active={self._active!r})"


class ReplayCache:
    """Nonces accepted recently, each remembered until its message would be too old anyway.

    Bounded to ``max_entries``. Entries whose expiry has passed are dropped
    first (oldest expiry first): that is always safe, because a replay of
    their message now fails the timestamp check with ``too_old``. If the cache
    is still full, every entry is a nonce that could still be replayed, so
    forgetting one would let a captured message through again; the cache
    instead refuses the new message with ``overloaded`` (429) until the
    oldest entry expires. That trades availability under an extreme burst
    (more signed requests in one window than the bound) for never accepting
    a replay. Only authentic requests reach the cache, so an outsider cannot
    cause this.

    Expiries assume the caller's clock does not step backwards by more than
    the window; a clock that slews (NTP) is fine.
    """

    def __init__(self, max_entries: int = DEFAULT_REPLAY_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self.max_entries = max_entries
        self._expiry: dict[str, int] = {}
        self._heap: list[tuple[int, str]] = []  # (expires_at_ms, nonce), same members as _expiry

    def __len__(self) -> int:
        """Nonces remembered now (never more than ``max_entries``)."""
        return len(self._expiry)

    def __contains__(self, nonce: object) -> bool:
        return nonce in self._expiry

    def prune(self, now_ms: int) -> None:
        """Forget every nonce whose message would now be rejected as too old."""
        heap = self._heap
        while heap and heap[0][0] < now_ms:
            _, nonce = heapq.heappop(heap)
            del self._expiry[nonce]

    def admit(self, nonce: str, expires_at_ms: int, now_ms: int) -> None:
        """Remember ``nonce`` until ``expires_at_ms``, or refuse it.

        Raises :class:`AuthError` ``replayed`` if it is remembered already, and
        :class:`RateLimitedError` ``overloaded`` if the cache is full of live nonces.
        """
        self.prune(now_ms)
        if nonce in self._expiry:
            raise AuthError("this nonce was already used", code="replayed")
        if len(self._expiry) >= self.max_entries:
            wait_ms = self._heap[0][0] - now_ms + 1
            raise RateLimitedError(
                "too many signed requests in the replay window",
                retry_after_s=ceil_seconds(wait_ms),
                code="overloaded",
            )
        self._expiry[nonce] = expires_at_ms
        heapq.heappush(self._heap, (expires_at_ms, nonce))


def nonce_from_bytes(raw: bytes) -> str:
    """A header-safe nonce (base64url, no padding) from random bytes the caller drew."""
    if len(raw) < MIN_NONCE_BYTES:
        raise ValueError(f"a nonce needs at least {MIN_NONCE_BYTES} random bytes")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def canonical_string(key_id: str, method: str, path: str, timestamp_ms: int, nonce: str, body: bytes) -> str:
    """The exact text that is signed (see the module rules).

    Every field but the path has a fixed alphabet without newlines, and the
    path may not contain whitespace, so distinct requests never share a string.
    """
    method = method.upper()
    if not _METHOD.fullmatch(method):
        raise ValueError(f"bad HTTP method {method!r}")
    if not _PATH.fullmatch(path):
        raise ValueError(f"path must be printable ASCII starting with '/', got {path!r}")
    digest = hashlib.sha256(body).hexdigest()
    return "\n".join((SCHEME, key_id, method, path, str(timestamp_ms), nonce, digest))


def _mac(secret: bytes, text: str) -> bytes:
    return hmac.new(secret, text.encode("ascii"), hashlib.sha256).digest()


def sign(keyring: Keyring, method: str, path: str, body: bytes, timestamp_ms: int, nonce: str) -> dict[str, str]:
    """The headers that authenticate one peer request, signed with the active key.

    ``path`` is the request target as the server will see it (path and query).
    ``timestamp_ms`` is the sender's clock, ``nonce`` is fresh per request (see
    :func:`nonce_from_bytes`). In open development mode nothing is signed and
    the result is empty.
    """
    key_id = keyring.active_id
    if key_id is None:
        return {}
    if not _NONCE.fullmatch(nonce):
        raise ValueError("nonce must be 16-128 base64url characters")
    if not 0 <= timestamp_ms < 10**16:
        raise ValueError(f"timestamp out of range: {timestamp_ms}")
    secret = keyring.secret(key_id)
    assert secret is not None  # the active key is never removed
    mac = _mac(secret, canonical_string(key_id, method, path, timestamp_ms, nonce, body))
    return {
        KEY_HEADER: key_id,
        TIMESTAMP_HEADER: str(timestamp_ms),
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: mac.hex(),
    }


def _signature_headers(headers: Mapping[str, str]) -> tuple[str, str, str, str]:
    """Our four header values, found case-insensitively, each exactly once."""
    wanted = {name.lower(): name for name in SIGNATURE_HEADERS}
    found: dict[str, str] = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower in wanted:
            if lower in found:
                raise AuthError(f"{wanted[lower]} given more than once", code="malformed")
            found[lower] = value
    missing = [wanted[lower] for lower in wanted if lower not in found]
    if missing:
        raise AuthError(f"missing {', '.join(missing)}", code="missing_signature")
    key_id, timestamp, nonce, signature = (found[name.lower()] for name in SIGNATURE_HEADERS)
    return key_id, timestamp, nonce, signature


def _parse(headers: Mapping[str, str]) -> tuple[str, int, str, bytes]:
    """Key id, timestamp, nonce and signature bytes, or ``malformed``."""
    key_id, timestamp, nonce, signature = _signature_headers(headers)
    checks = (
        (_KEY_ID, key_id, KEY_HEADER),
        (_TIMESTAMP, timestamp, TIMESTAMP_HEADER),
        (_NONCE, nonce, NONCE_HEADER),
        (_SIGNATURE, signature, SIGNATURE_HEADER),
    )
    for pattern, value, name in checks:
        if not pattern.fullmatch(value):
            raise AuthError(f"{name} is malformed", code="malformed")
    return key_id, int(timestamp), nonce, bytes.fromhex(signature)


def _check_fresh(timestamp_ms: int, now_ms: int, window_ms: int) -> None:
    if now_ms - timestamp_ms > window_ms:
        raise AuthError(f"timestamp is more than {window_ms} ms old; check clocks", code="too_old")
    if timestamp_ms - now_ms > window_ms:
        raise AuthError(f"timestamp is more than {window_ms} ms ahead; check clocks", code="too_new")


def verify(
    keyring: Keyring,
    method: str,
    path: str,
    body: bytes,
    headers: Mapping[str, str],
    now_ms: int,
    replay: ReplayCache,
    window_ms: int = DEFAULT_WINDOW_MS,
) -> str | None:
    """Check a peer request's signature; return the key id that signed it.

    Returns ``None`` in open development mode, where nothing is checked.
    Otherwise raises :class:`AuthError` with code ``missing_signature``,
    ``malformed``, ``unknown_key``, ``too_old``, ``too_new``,
    ``bad_signature`` or ``replayed``, or :class:`RateLimitedError`
    ``overloaded`` (see :class:`ReplayCache`). Cheap checks run before the
    HMAC; the nonce is recorded only once the signature is known good.
    """
    if keyring.is_open:
        return None
    key_id, timestamp_ms, nonce, signature = _parse(headers)
    secret = keyring.secret(key_id)
    if secret is None:
        raise AuthError(f"unknown key id {key_id!r}", code="unknown_key")
    _check_fresh(timestamp_ms, now_ms, window_ms)
    try:
        text = canonical_string(key_id, method, path, timestamp_ms, nonce, body)
    except ValueError as exc:
        raise AuthError(str(exc), code="malformed") from None
    if not hmac.compare_digest(_mac(secret, text), signature):
        raise AuthError("signature does not match", code="bad_signature")
    replay.admit(nonce, timestamp_ms + window_ms, now_ms)
    return key_id


__all__ = [
    "DEFAULT_REPLAY_ENTRIES",
    "DEFAULT_WINDOW_MS",
    "KEY_HEADER",
    "Keyring",
    "KeyringError",
    "MIN_SECRET_BYTES",
    "NONCE_HEADER",
    "ReplayCache",
    "SIGNATURE_HEADER",
    "SIGNATURE_HEADERS",
    "TIMESTAMP_HEADER",
    "canonical_string",
    "nonce_from_bytes",
    "sign",
    "verify",
]
