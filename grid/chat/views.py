"""The chat feature's answers to ``GET /chats`` and ``GET /chats/{peer}`` (JSON-ready dicts)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError

from protocol.chat import Conversation
from protocol.errors import BadMessage
from protocol.limits import NodeId

if TYPE_CHECKING:
    from .feature import ChatFeature

#: Chats per page of ``GET /chats/{peer}`` unless ``limit`` says otherwise, and the most it may say.
DEFAULT_LIMIT, MAX_LIMIT = 200, 1000
_node_id = TypeAdapter(NodeId)
_DIGITS = re.compile(r"[0-9]{1,19}")


def listing(feature: "ChatFeature") -> dict[str, Any]:
    """Every conversation, the most recent first, with unread counts and typing state."""
    last = feature.store.last_messages()
    rows = [_summary(feature, conv, last.get(peer)) for peer, conv in feature.conversations.items()]
    rows.sort(key=lambda row: (row["last"] or {}).get("stored", 0), reverse=True)
    return {
        "node": feature.me,
        "support": feature.settings.support,
        "unread": sum(row["unread"] for row in rows),
        "conversations": rows,
    }


def conversation(feature: "ChatFeature", params: dict[str, Any]) -> dict[str, Any]:
    """One conversation: its chats (the last ``limit``, before row ``before``) with their status."""
    peer = _peer(params.get("peer"))
    limit = _int(params.get("limit"), "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    before = _int(params.get("before"), "before", None, 1, 2**62)
    conv = feature.conversations.get(peer) or Conversation(peer)
    messages = [_message(feature, conv, row) for row in feature.store.messages(peer, limit, before)]
    return {**_summary(feature, conv, messages[-1] if messages else None, shaped=True), "messages": messages}


def _summary(feature: "ChatFeature", conv: Conversation, last: dict[str, Any] | None,
             shaped: bool = False) -> dict[str, Any]:  # fmt: skip
    core = feature.node.core
    entry = core.view.get(conv.peer)
    return {
        "peer": conv.peer,
        "name": entry.name if entry is not None else conv.peer,
        "live": core.is_live(conv.peer),
        "unread": conv.unread,
        "typing": feature.typing_now(conv.peer),
        "delivered": conv.out_delivered,
        "read": conv.out_read,
        "unconfirmed": feature.unconfirmed.count(conv.peer),
        "last": last if shaped or last is None else _message(feature, conv, last),
    }


def _message(feature: "ChatFeature", conv: Conversation, row: dict[str, Any]) -> dict[str, Any]:
    outgoing = row["direction"] == "out"
    me, peer = feature.me, conv.peer
    return {
        "id": row["id"],
        "chatId": row["chat_id"],
        "from": me if outgoing else peer,
        "to": peer if outgoing else me,
        "direction": row["direction"],
        "text": row["text"],
        "sent": row["sent_ms"],
        "stored": row["stored_ms"],
        "epoch": row["epoch"],
        "seq": row["seq"],
        "status": _status(feature, conv, row),
        "route": row["route"],
    }


def _status(feature: "ChatFeature", conv: Conversation, row: dict[str, Any]) -> str:
    if row["direction"] == "out":
        return conv.status_of(row["seq"]) if row["epoch"] == feature.epoch else "sent"
    if row["epoch"] != conv.in_epoch:
        return "read"  # the peer's previous database: nothing more will come of it
    return "read" if row["seq"] <= conv.in_read else "delivered"


def _peer(value: Any) -> str:
    try:
        return _node_id.validate_python(value)
    except ValidationError:
        raise BadMessage(f"{value!r} is not a node id", code="bad_peer") from None


def _int(value: Any, name: str, default: int | None, low: int, high: int) -> int | None:
    if value is None or value == "":
        return default
    if not (isinstance(value, str) and _DIGITS.fullmatch(value)) or not low <= int(value) <= high:
        raise BadMessage(f"{name} must be an integer in [{low}, {high}]", code=f"bad_{name}")
    return int(value)
