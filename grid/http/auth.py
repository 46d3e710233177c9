"""Who may send what: operator tokens with roles, and a limiter for guessers.

Operator messages (plain Tells from curl, the CLI, the dashboard) need a token
whose role covers the message type (:data:`protocol.roles.REQUIRED_ROLE`); the
``-t`` token of the original CLI has every power. Peer messages are checked
separately, with the grid key. A client that keeps presenting wrong tokens is
refused with 429 for a while, whatever it presents.
"""

from __future__ import annotations

import time

from protocol.envelopes import Envelope
from protocol.errors import Unauthorized
from protocol.roles import READ, Grant, TokenStore, authorize, presented_token
from protocol.security import FailureLimiter


class OperatorAuth:
    """Checks operator requests against the node's tokens and roles."""

    def __init__(self, tokens: TokenStore, private_reads: bool = False, limiter: FailureLimiter | None = None) -> None:
        self.tokens = tokens
        self.private_reads = private_reads
        self.limiter = limiter or FailureLimiter()

    @classmethod
    def from_token(cls, token: str | None) -> "OperatorAuth":
        """The original CLI's single all-powers token (or none: open)."""
        return cls(TokenStore.from_cli(token))

    @property
    def required(self) -> bool:
        """Whether operator messages need a token at all."""
        return not self.tokens.is_open

    def check(self, envelope: Envelope, authorization: str | None, client: str) -> Grant | None:
        """Raise 401/403/429 unless the envelope may pass; peers pass here."""
        if envelope.is_peer:
            return None
        return self.require(envelope.msg_type, authorization, client)

    def check_read(self, authorization: str | None, client: str) -> Grant | None:
        """Reads are open unless the node was told to keep them private."""
        return self.require(READ, authorization, client) if self.private_reads else None

    def require(self, action: str, authorization: str | None, client: str) -> Grant | None:
        """The grant of a token allowed to do ``action``; raises otherwise."""
        if self.tokens.is_open:
            return None
        now_ms = time.time_ns() // 1_000_000
        self.limiter.enforce(client, now_ms)
        if presented_token(authorization) is None:
            raise Unauthorized("this node needs a token in the Authorization header", code="missing_token")
        grant = self.tokens.identify(authorization)
        if grant is None:
            self.limiter.record_failure(client, now_ms)
            raise Unauthorized("wrong token", code="wrong_token")
        self.limiter.record_success(client)
        authorize(grant.role, action)
        return grant
