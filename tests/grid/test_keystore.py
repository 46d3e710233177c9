"""The keyring in SQLite: what a starting node ends up holding, and what the file keeps."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from grid.security.keystore import KeyStore, StoredKeys, merge, read_stored
from protocol.keyring import Keyring, KeyringError

S1, S2, S3 = b"secret-one-0123456789", b"secret-two-0123456789", b"secret-three-012345678"


def keyring(*keys: tuple[str, bytes], active: str | None = None) -> Keyring:
    ring = Keyring()
    for key_id, secret in keys:
        ring.install(key_id, secret)
    if active:
        ring.use(active)
    return ring


def test_first_start_takes_the_configured_keyring() -> None:
    configured = keyring(("k1", S1), ("k2", S2))
    merged, skipped = merge(StoredKeys(), configured)
    assert (merged.ids(), merged.active_id, skipped) == (("k1", "k2"), "k1", [])


def test_the_store_keeps_its_active_key_and_its_removals() -> None:
    stored = StoredKeys(secrets={"k2": S2}, active="k2", removed={"k1"})
    merged, skipped = merge(stored, keyring(("k1", S1), ("k3", S3)))
    assert (merged.ids(), merged.active_id, skipped) == (("k2", "k3"), "k2", ["k1"])


def test_one_id_with_two_secrets_stops_the_node() -> None:
    with pytest.raises(KeyringError) as refused:
        merge(StoredKeys(secrets={"k1": S1}, active="k1"), keyring(("k1", S2)))
    assert refused.value.code == "key_conflict"


def test_saved_keyring_reads_back_and_removed_secrets_are_erased(tmp_path: Path) -> None:
    path = tmp_path / "node.sqlite3"
    db = sqlite3.connect(str(path), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")  # as the node store opens it
    store = KeyStore(db)
    store.save(keyring(("k1", S1), ("k2", S2), active="k2"), removed={"k0"})
    assert S1 in path.read_bytes() + _wal(path)
    store.save(keyring(("k2", S2)), removed={"k0", "k1"})
    stored = read_stored(path)
    assert (stored.secrets, stored.active, stored.removed) == ({"k2": S2}, "k2", {"k0", "k1"})
    assert S1 not in path.read_bytes() + _wal(path)  # no copy in free pages or in the log, node still running
    db.close()


def _wal(path: Path) -> bytes:
    wal = path.with_name(path.name + "-wal")
    return wal.read_bytes() if wal.exists() else b""


def test_a_missing_file_is_a_first_start(tmp_path: Path) -> None:
    assert read_stored(tmp_path / "nothing.sqlite3").empty and read_stored(None).empty
