"""Conversations in the node's SQLite file: each participant keeps its own copy.

- ``chat_peers``: one row per conversation, the counters of
  :class:`protocol.chat.Conversation` (how far each direction was delivered
  and read, the last seq used), so a restarted node neither shows a chat
  twice nor renumbers its own.
- ``chat_messages``: every chat sent or delivered here, in the order it
  happened here (``id``); ``(peer, direction, chat_id)`` is unique, a last
  guard against a duplicate.
- the node's ``meta`` table keeps ``chat.epoch``: fixed when the database is
  created, so a node whose database is lost starts a new epoch and its peers
  count its chats from 1 again.

Used from the node actor's thread only.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from typing import Any

from protocol.chat import Chat, Conversation

from ..store import NodeStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS chat_peers (
    peer TEXT PRIMARY KEY, in_epoch INTEGER NOT NULL, in_delivered INTEGER NOT NULL, in_read INTEGER NOT NULL,
    out_seq INTEGER NOT NULL, out_delivered INTEGER NOT NULL, out_read INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS chat_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, peer TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('in', 'out')), chat_id TEXT NOT NULL,
    epoch INTEGER NOT NULL, seq INTEGER NOT NULL, text TEXT NOT NULL, sent_ms INTEGER NOT NULL,
    stored_ms INTEGER NOT NULL, route TEXT NOT NULL DEFAULT '[]', UNIQUE (peer, direction, chat_id)
);
CREATE INDEX IF NOT EXISTS chat_messages_by_peer ON chat_messages(peer, id);
"""

_PEER_COLUMNS = ("in_epoch", "in_delivered", "in_read", "out_seq", "out_delivered", "out_read")
MESSAGE_COLUMNS = ("id", "peer", "direction", "chat_id", "epoch", "seq", "text", "sent_ms", "stored_ms", "route")


class ChatStore:
    """The chat tables of one node's database."""

    def __init__(self, store: NodeStore) -> None:
        self.store = store
        self.db: sqlite3.Connection = store.db
        self.db.executescript(_SCHEMA)

    def epoch(self, now_ms: int) -> int:
        """This database's chat epoch, fixed at its first use."""
        held = self.store.get("chat.epoch")
        if held is None:
            self.store.put("chat.epoch", str(now_ms))
            return now_ms
        return int(held)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes: a message and its conversation's counters land together."""
        self.db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # ---------------------------------------------------------------- conversations
    def conversations(self) -> dict[str, Conversation]:
        """Every stored conversation, by peer."""
        rows = self.db.execute(f"SELECT peer, {', '.join(_PEER_COLUMNS)} FROM chat_peers")
        return {row[0]: Conversation(row[0], *row[1:]) for row in rows}

    def save(self, conv: Conversation) -> None:
        """Write one conversation's counters."""
        values = [getattr(conv, column) for column in _PEER_COLUMNS]
        updates = ", ".join(f"{column} = excluded.{column}" for column in _PEER_COLUMNS)
        self.db.execute(
            f"INSERT INTO chat_peers(peer, {', '.join(_PEER_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?)"
            f" ON CONFLICT(peer) DO UPDATE SET {updates}",
            (conv.peer, *values),
        )

    # ---------------------------------------------------------------- messages
    def add(self, peer: str, direction: str, chat: Chat, now_ms: int, route: tuple[str, ...] = ()) -> bool:
        """Keep one chat; False when it was held already."""
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO chat_messages(peer, direction, chat_id, epoch, seq, text, sent_ms, stored_ms, route)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (peer, direction, chat.chat_id, chat.epoch, chat.seq, chat.text, chat.sent or 0, now_ms,
             json.dumps(list(route))),
        )  # fmt: skip
        return cursor.rowcount == 1

    def find(self, peer: str, direction: str, chat_id: str) -> dict[str, Any] | None:
        """One chat by id, or None."""
        row = self.db.execute(
            f"SELECT {', '.join(MESSAGE_COLUMNS)} FROM chat_messages WHERE peer = ? AND direction = ? AND chat_id = ?",
            (peer, direction, chat_id),
        ).fetchone()
        return _row(row) if row else None

    def messages(self, peer: str, limit: int, before: int | None = None) -> list[dict[str, Any]]:
        """The last ``limit`` chats with ``peer`` (before row ``before``), oldest first."""
        where, args = ("AND id < ?", (before,)) if before is not None else ("", ())
        rows = self.db.execute(
            f"SELECT {', '.join(MESSAGE_COLUMNS)} FROM chat_messages WHERE peer = ? {where} ORDER BY id DESC LIMIT ?",
            (peer, *args, limit),
        ).fetchall()
        return [_row(row) for row in reversed(rows)]

    def last_messages(self) -> dict[str, dict[str, Any]]:
        """The newest chat of every conversation, by peer."""
        rows = self.db.execute(
            f"SELECT {', '.join('m.' + c for c in MESSAGE_COLUMNS)} FROM chat_messages m"
            " JOIN (SELECT peer, MAX(id) AS last FROM chat_messages GROUP BY peer) l ON m.id = l.last"
        )
        return {row[1]: _row(row) for row in rows}

    def unconfirmed(self, me: str, peer: str, epoch: int, after_seq: int) -> list[Chat]:
        """Node ``me``'s chats to ``peer`` the peer has not confirmed (seq above ``after_seq``)."""
        rows = self.db.execute(
            "SELECT chat_id, epoch, seq, text, sent_ms FROM chat_messages"
            " WHERE peer = ? AND direction = 'out' AND epoch = ? AND seq > ? ORDER BY seq",
            (peer, epoch, after_seq),
        )
        return [Chat(chat_id=chat_id, sender=me, to=peer, text=text, epoch=e, seq=seq, sent=sent)
                for chat_id, e, seq, text, sent in rows]  # fmt: skip


def _row(row: tuple[Any, ...]) -> dict[str, Any]:
    record = dict(zip(MESSAGE_COLUMNS, row))
    record["route"] = json.loads(record["route"])
    return record
