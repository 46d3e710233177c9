"""Envelopes: routing metadata around one message (Tell, Ask, Response).

Field meanings on the wire (camelCase, all optional except the first three):
- ``envType``: ``Tell`` (fire and forget), ``Ask`` (answer expected),
  ``Response`` (the answer to an Ask, same ``reqId``).
- ``msgType`` / ``msg``: the message (see :mod:`protocol.messages`).
- ``id``: a message id chosen by the sender.
- ``timestamp``: sender's clock, epoch ms, informative only.
- ``reqId``: correlates an Ask with its Response.
- ``masterReqId``: the operator request that caused this message.
- ``returnId``: the sending node's id; present on every peer message.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from .base import Message

EnvType = Literal["Tell", "Ask", "Response"]
ENV_TYPES: tuple[str, ...] = ("Tell", "Ask", "Response")


@dataclass(frozen=True, slots=True)
class Envelope:
    """One message and its routing metadata."""

    env_type: EnvType
    message: Message
    id: str | None = None
    timestamp: int | None = None
    req_id: str | None = None
    master_req_id: str | None = None
    return_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def msg_type(self) -> str:
        """The wire name of the carried message."""
        return self.message.msg_type

    @property
    def is_peer(self) -> bool:
        """Whether this comes from another node rather than an operator.

        Ask and Response only travel between nodes; a Tell is a peer's when it
        names its sender in ``returnId`` and its type is one nodes exchange
        (``from_peers``). Everything else is an operator's, so adding a
        ``returnId`` to an operator message cannot skip the token check. Peer
        messages are authenticated with the grid key, operator messages with
        the node's operator tokens.
        """
        if self.env_type != "Tell":
            return True
        return self.return_id is not None and self.message.from_peers

    def to_wire(self) -> dict[str, Any]:
        """The camelCase dict of the whole envelope."""
        wire: dict[str, Any] = {"envType": self.env_type, "msgType": self.msg_type, "msg": self.message.to_wire()}
        for key, value in (
            ("id", self.id),
            ("timestamp", self.timestamp),
            ("reqId", self.req_id),
            ("masterReqId", self.master_req_id),
            ("returnId", self.return_id),
        ):
            if value is not None:
                wire[key] = value
        return wire

    def reply(self, message: Message, return_id: str) -> "Envelope":
        """The Response to this Ask, carrying ``message``."""
        return Envelope("Response", message, req_id=self.req_id, master_req_id=self.master_req_id, return_id=return_id)


def tell(message: Message, return_id: str | None = None, **meta: Any) -> Envelope:
    """A Tell envelope around ``message``."""
    return Envelope("Tell", message, return_id=return_id, **meta)


def ask(message: Message, req_id: str, return_id: str, **meta: Any) -> Envelope:
    """An Ask envelope around ``message``."""
    return Envelope("Ask", message, req_id=req_id, return_id=return_id, **meta)


__all__ = ["ENV_TYPES", "EnvType", "Envelope", "ask", "replace", "tell"]
