"""Durable dispatch state in the node's SQLite file: the book, notifications, the audit log.

- ``dispatch_items``: the newest version of every dispatch, acknowledgement
  and membership the node holds, as wire JSON, so a restarted node comes back
  with its book (and pulls only what it missed).
- ``dispatch_notifications``: one row per notification sent, with its status.
- ``audit_log``: the hash-chained log of :mod:`protocol.audit`. Triggers refuse
  UPDATE and DELETE, so the log is append-only unless someone edits the file
  on purpose, which ``grid audit verify`` then detects.

Like the node's own store, this is used from the node actor's thread only
(``grid audit verify`` opens the file on its own, read-only).

Writes are staged and written by :meth:`DispatchStore.flush` and
:meth:`AuditLog.flush`, one multi-row statement per table, which the feature
calls before it answers a message. A batch of a hundred acknowledgements is
then two statements, not two hundred: each statement releases the GIL, and
with many nodes in one process getting it back is what costs.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from protocol.audit import AuditRecord, chain_record, verify_chain
from protocol.dispatch import Acknowledge, Dispatch, Membership
from protocol.dispatch_book import DispatchBook, merge_ack, merge_dispatch, merge_member

_SCHEMA = """
CREATE TABLE IF NOT EXISTS dispatch_items (
    kind TEXT NOT NULL, key TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (kind, key)
);
CREATE TABLE IF NOT EXISTS dispatch_notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT, dispatch_id TEXT NOT NULL, modification_number INTEGER NOT NULL,
    channel TEXT NOT NULL, target TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL,
    last_error TEXT, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_log (
    seq INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL,
    payload TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""

_AUDIT_COLUMNS = "seq, at_ms, kind, subject, payload, prev_hash, hash"
#: Rows per multi-row INSERT: far below SQLite's limit on bound parameters.
_ROWS_PER_STATEMENT = 400


def _insert_rows(db: sqlite3.Connection, head: str, width: int, rows: list[tuple[Any, ...]], tail: str = "") -> None:
    """``head VALUES (?, ...), (?, ...) tail`` for ``rows``, a few hundred per statement."""
    one = "(" + ", ".join("?" * width) + ")"
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        chunk = rows[start : start + _ROWS_PER_STATEMENT]
        db.execute(f"{head} VALUES {', '.join([one] * len(chunk))} {tail}", [v for row in chunk for v in row])


class DispatchStore:
    """The dispatch tables of one node's database connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        db.executescript(_SCHEMA)
        self._staged: dict[tuple[str, str], str] = {}

    # ---------------------------------------------------------------- book
    def save_dispatch(self, d: Dispatch) -> None:
        """Keep ``d`` as the version of its dispatch."""
        self._put("dispatch", d.dispatch_id, d.to_wire())

    def save_ack(self, a: Acknowledge) -> None:
        """Keep ``a`` as its node's answer to its dispatch."""
        self._put("ack", f"{a.dispatch_id}/{a.node_id}", a.to_wire())

    def save_member(self, m: Membership) -> None:
        """Keep ``m`` as its node's membership."""
        self._put("member", m.node_id, m.to_wire())

    def _put(self, kind: str, key: str, body: dict[str, Any]) -> None:
        self._staged[(kind, key)] = json.dumps(body, separators=(",", ":"))  # a later version replaces it

    def flush(self) -> None:
        """Write what was saved since the last flush."""
        if self._staged:
            rows = [(kind, key, body) for (kind, key), body in self._staged.items()]
            self._staged = {}
            _insert_rows(self.db, "INSERT INTO dispatch_items(kind, key, body)", 3, rows,
                         "ON CONFLICT(kind, key) DO UPDATE SET body = excluded.body")  # fmt: skip

    def load_book(self) -> DispatchBook:
        """The book as stored (items were verified when they were admitted)."""
        self.flush()
        book = DispatchBook()
        for kind, body in self.db.execute("SELECT kind, body FROM dispatch_items ORDER BY kind, key"):
            data = json.loads(body)
            if kind == "dispatch":
                book = merge_dispatch(book, Dispatch.model_validate(data))
            elif kind == "ack":
                book = merge_ack(book, Acknowledge.model_validate(data))
            elif kind == "member":
                book = merge_member(book, Membership.model_validate(data))
        return book

    # ---------------------------------------------------------------- notifications
    def add_notification(self, dispatch_id: str, number: int, channel: str, target: str, now_ms: int) -> int:
        """Record a notification as pending; returns its id."""
        cursor = self.db.execute(
            "INSERT INTO dispatch_notifications(dispatch_id, modification_number, channel, target, status, attempts,"
            " created_ms, updated_ms) VALUES(?, ?, ?, ?, 'pending', 0, ?, ?)",
            (dispatch_id, number, channel, target, now_ms, now_ms),
        )
        return int(cursor.lastrowid or 0)

    def set_notification(self, row_id: int, status: str, attempts: int, error: str | None, now_ms: int) -> None:
        """Record where a notification stands."""
        self.db.execute(
            "UPDATE dispatch_notifications SET status = ?, attempts = ?, last_error = ?, updated_ms = ? WHERE id = ?",
            (status, attempts, error, now_ms, row_id),
        )

    def notifications(self, dispatch_id: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """Notifications, newest first, of one dispatch or of all."""
        where, args = ("WHERE dispatch_id = ?", (dispatch_id,)) if dispatch_id else ("", ())
        rows = self.db.execute(
            "SELECT id, dispatch_id, modification_number, channel, target, status, attempts, last_error,"
            f" created_ms, updated_ms FROM dispatch_notifications {where} ORDER BY id DESC LIMIT ?",
            (*args, limit),
        )
        names = ("id", "dispatch_id", "modification_number", "channel", "target", "status", "attempts",
                 "last_error", "created_ms", "updated_ms")  # fmt: skip
        return [dict(zip(names, row)) for row in rows]


class AuditLog:
    """Appends hash-chained records to ``audit_log``; remembers the head."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        db.executescript(_SCHEMA)
        row = db.execute(f"SELECT {_AUDIT_COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
        self.head: AuditRecord | None = _record(row) if row else None
        self._staged: list[AuditRecord] = []

    def append(self, at_ms: int, kind: str, subject: str, payload: dict[str, Any]) -> AuditRecord:
        """Chain one record (written at the next :meth:`flush`)."""
        record = chain_record(self.head, at_ms, kind, subject, payload)
        self._staged.append(record)
        self.head = record
        return record

    def flush(self) -> None:
        """Write the records appended since the last flush, in order."""
        if self._staged:
            rows = [(r.seq, r.at_ms, r.kind, r.subject, _dumps(r.payload), r.prev_hash, r.hash) for r in self._staged]
            self._staged = []
            _insert_rows(self.db, f"INSERT INTO audit_log({_AUDIT_COLUMNS})", 7, rows)

    def records(self, after: int = 0, limit: int = 100, kind: str | None = None) -> list[dict[str, Any]]:
        """Stored records with ``seq > after``, oldest first, as JSON-ready dicts."""
        self.flush()
        where, args = ("AND kind = ?", (kind,)) if kind else ("", ())
        rows = self.db.execute(
            f"SELECT {_AUDIT_COLUMNS} FROM audit_log WHERE seq > ? {where} ORDER BY seq LIMIT ?",
            (after, *args, limit),
        )
        return [_row_json(row) for row in rows]

    def count(self) -> int:
        """How many records the log holds."""
        self.flush()
        return int(self.db.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0])


def _dumps(payload: dict[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _row_json(row: tuple[Any, ...]) -> dict[str, Any]:
    seq, at_ms, kind, subject, payload, prev_hash, digest = row
    return {"seq": seq, "at_ms": at_ms, "kind": kind, "subject": subject, "payload": json.loads(payload),
            "prev_hash": prev_hash, "hash": digest}  # fmt: skip


def _record(row: tuple[Any, ...]) -> AuditRecord:
    """A stored row as an :class:`AuditRecord`; raises ValueError when it cannot be one."""
    try:
        return AuditRecord.model_validate(_row_json(row))
    except (ValidationError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"record {row[0]} is malformed: {exc}") from None


# ---------------------------------------------------------------- verification (read-only)


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking a stored audit log."""

    records: int
    first_bad: int | None
    head_hash: str | None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        """Whether every record verified."""
        return self.first_bad is None


def _rows(db: sqlite3.Connection) -> Iterator[tuple[Any, ...]]:
    yield from db.execute(f"SELECT {_AUDIT_COLUMNS} FROM audit_log ORDER BY seq")


def verify_db(db: sqlite3.Connection) -> Verdict:
    """Check the chain in ``db`` record by record; names the first record that fails."""
    prev: AuditRecord | None = None
    count = 0
    for row in _rows(db):
        count += 1
        try:
            record = _record(row)
        except ValueError as exc:
            return Verdict(count, int(row[0]), None, str(exc))
        bad = verify_chain([record], after=prev)
        if bad is not None:
            return Verdict(count, bad, None, f"record {bad} does not match its hash or its predecessor")
        prev = record
    return Verdict(count, None, prev.hash if prev else None)


def verify_file(path: Path) -> Verdict:
    """Verify the audit log of a node's SQLite file, opened read-only."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such database")
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        try:
            return verify_db(db)
        except sqlite3.OperationalError as exc:  # no audit_log table: not a dispatch node's store
            raise FileNotFoundError(f"{path}: no audit log ({exc})") from None
    finally:
        db.close()
