"""The node's SQLite store: what a node must not lose across restarts.

Holds the incarnation (bumped on every start, so a restarted node outranks its
previous life), the siblings, and the last acknowledged energy reading. WAL
mode with ``synchronous=NORMAL`` survives a killed process (not a power cut,
which costs at most the last transaction). A store is used by one thread at a
time: the node actor's.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS siblings (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, address TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class SiblingRecord:
    """A stored link."""

    id: str
    name: str
    address: str


class NodeStore:
    """One node's database; ``path=None`` keeps it in memory (nothing survives)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    # ---------------------------------------------------------------- meta
    def get(self, key: str, default: str | None = None) -> str | None:
        """A stored value, or ``default``."""
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def put(self, key: str, value: str) -> None:
        """Store a value durably."""
        self.db.execute(
            "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def next_incarnation(self, floor: int = 0) -> int:
        """Bump and return the incarnation: above every previous one and ``floor``."""
        incarnation = max(int(self.get("incarnation", "0") or 0) + 1, floor)
        self.put("incarnation", str(incarnation))
        return incarnation

    def save_energy(self, production_w: int, consumption_w: int) -> None:
        """Remember the last acknowledged reading."""
        self.put("energy", f"{production_w},{consumption_w}")

    def load_energy(self) -> tuple[int, int]:
        """The last acknowledged reading, (0, 0) when none."""
        raw = self.get("energy")
        if not raw:
            return 0, 0
        production, consumption = raw.split(",")
        return int(production), int(consumption)

    # ---------------------------------------------------------------- siblings
    def save_sibling(self, sibling: SiblingRecord) -> None:
        """Add or update a sibling."""
        self.db.execute(
            "INSERT INTO siblings(id, name, address) VALUES(?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET name = excluded.name, address = excluded.address",
            (sibling.id, sibling.name, sibling.address),
        )

    def remove_sibling(self, sibling_id: str) -> None:
        """Forget a sibling."""
        self.db.execute("DELETE FROM siblings WHERE id = ?", (sibling_id,))

    def siblings(self) -> list[SiblingRecord]:
        """Every stored sibling, by id."""
        rows = self.db.execute("SELECT id, name, address FROM siblings ORDER BY id").fetchall()
        return [SiblingRecord(*row) for row in rows]
