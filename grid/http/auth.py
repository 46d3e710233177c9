"""Who may send what: operator tokens for operator messages."""

from __future__ import annotations

import hmac

from protocol.envelopes import Envelope
from protocol.errors import Unauthorized


def presented_token(header: str | None) -> str | None:
    """The token in an Authorization header: ``Bearer t1`` or plain ``t1``."""
    if not header:
        return None
    value = header.strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    return value or None


class OperatorAuth:
    """Checks operator messages against the node's token (``-t``)."""

    def __init__(self, token: str | None) -> None:
        self._token = token.encode() if token else None

    @property
    def required(self) -> bool:
        """Whether operator messages need a token at all."""
        return self._token is not None

    def check(self, envelope: Envelope, authorization: str | None) -> None:
        """Raise 401 unless the envelope may pass."""
        if envelope.is_peer or self._token is None:
            return
        self.check_token(authorization)

    def check_token(self, authorization: str | None) -> None:
        """Raise 401 unless the header carries the node's token."""
        if self._token is None:
            return
        token = presented_token(authorization)
        if token is None:
            raise Unauthorized("this node needs its token in the Authorization header", code="missing_token")
        if not hmac.compare_digest(token.encode(), self._token):
            raise Unauthorized("wrong token", code="wrong_token")
