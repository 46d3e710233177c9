"""The grid keyring in the node's SQLite store: it survives restarts and rotations.

Table ``grid_keys``: one row per key id the node has known, with its secret
while installed, whether it is the active (signing) key, and a ``removed``
mark once rotation removed it. The secret of a removed key is erased; only
the mark stays, so a ``--grid-key`` still on the command line does not bring
a retired key back at the next start.

How the keyring of a starting node is decided (:func:`merge`):

- keys in the store stay installed, with the stored active key;
- configured keys (flags, TOML) are added unless the store marks them removed;
- the same id with another secret in store and config stops the node
  (``key_conflict``): one of the two is a mistake, and guessing is worse;
- with nothing stored yet, the configured keyring is taken as it is.

Secrets are stored as given, not encrypted: HMAC needs the secret itself,
and a key to encrypt it with would have to sit next to it on the same disk.
Protect the data directory instead (owner-only permissions; see
docs/reliability.md).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from protocol.keyring import Keyring, KeyringError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS grid_keys (
    id TEXT PRIMARY KEY,
    secret BLOB,
    active INTEGER NOT NULL DEFAULT 0,
    removed INTEGER NOT NULL DEFAULT 0
);
"""


@dataclass
class StoredKeys:
    """What the table holds: installed secrets, the active id, removed ids."""

    secrets: dict[str, bytes] = field(default_factory=dict)
    active: str | None = None
    removed: set[str] = field(default_factory=set)

    @property
    def empty(self) -> bool:
        """Nothing was ever stored (a first start)."""
        return not self.secrets and not self.removed


class KeyStore:
    """Reads and writes the ``grid_keys`` table of one SQLite connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        db.executescript(_SCHEMA)

    def load(self) -> StoredKeys:
        """Everything stored."""
        stored = StoredKeys()
        for key_id, secret, active, removed in self.db.execute("SELECT id, secret, active, removed FROM grid_keys"):
            if removed:
                stored.removed.add(key_id)
                continue
            stored.secrets[key_id] = bytes(secret)
            if active:
                stored.active = key_id
        return stored

    def save(self, keyring: Keyring, removed: set[str]) -> None:
        """Replace the table with ``keyring`` and the removal marks, in one transaction.

        Old rows are overwritten with zeros (``secure_delete``) and the write-ahead
        log is truncated afterwards, so a removed secret leaves no copy in
        free pages or in the ``-wal`` file. Rotations are rare; this is cheap.
        """
        rows = [(key_id, keyring.secret(key_id), int(key_id == keyring.active_id), 0) for key_id in keyring.ids()]
        rows += [(key_id, None, 0, 1) for key_id in sorted(removed - set(keyring.ids()))]
        (secure,) = self.db.execute("PRAGMA secure_delete").fetchone()
        self.db.execute("PRAGMA secure_delete = ON")
        try:
            with _transaction(self.db):
                self.db.execute("DELETE FROM grid_keys")
                self.db.executemany("INSERT INTO grid_keys(id, secret, active, removed) VALUES(?, ?, ?, ?)", rows)
        finally:
            self.db.execute(f"PRAGMA secure_delete = {int(secure)}")
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


class _transaction:
    """BEGIN ... COMMIT (ROLLBACK on error) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")


def read_stored(path: Path | None) -> StoredKeys:
    """The keys stored at ``path`` (a node's SQLite file), read with a short-lived connection.

    Used before the node actor opens the store, so the HTTP layer checks
    signatures from the very first request. A missing file means a first start.
    """
    if path is None or not path.exists():
        return StoredKeys()
    db = sqlite3.connect(str(path), isolation_level=None)
    try:
        return KeyStore(db).load()
    finally:
        db.close()


def merge(stored: StoredKeys, configured: Keyring) -> tuple[Keyring, list[str]]:
    """The starting keyring (see the module rules) and the configured ids left out as removed."""
    if stored.empty:
        return configured, []
    keyring = Keyring()
    for key_id, secret in sorted(stored.secrets.items()):
        keyring.install(key_id, secret)
    skipped = []
    for key_id in configured.ids():
        if key_id in stored.removed:
            skipped.append(key_id)
            continue
        secret = configured.secret(key_id)
        assert secret is not None
        keyring.install(key_id, secret)  # raises key_conflict on a different secret
    active = stored.active or configured.active_id
    if active is not None and active in keyring.ids():
        keyring.use(active)
    return keyring, skipped


__all__ = ["KeyStore", "KeyringError", "StoredKeys", "merge", "read_stored"]
