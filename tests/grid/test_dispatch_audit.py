"""The audit log in SQLite, and ``grid audit verify`` on a real node's data directory."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grid.cli import app
from grid.dispatch.store import AuditLog, DispatchStore, verify_db
from protocol.audit import record_hash
from protocol.dispatch import Acknowledge, Membership

from .dispatch_support import ask, call, make_dispatch, start_grid, table
from .inproc import wait_for


def log_with(n: int) -> tuple[sqlite3.Connection, AuditLog]:
    db = sqlite3.connect(":memory:", isolation_level=None)
    audit = AuditLog(db)
    for i in range(1, n + 1):
        audit.append(1000 + i, "ack", f"d{i}", {"n": i, "text": "été"})
    audit.flush()
    return db, audit


def tamper(db: sqlite3.Connection, sql: str, *args: object) -> None:
    """Change the log as an attacker with the file would: drop the guards first."""
    db.executescript("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;")
    db.execute(sql, args)


def test_an_untouched_log_verifies_and_pages() -> None:
    db, audit = log_with(5)
    verdict = verify_db(db)
    assert verdict.ok and verdict.records == 5 and verdict.head_hash == audit.head.hash  # type: ignore[union-attr]
    assert [r["seq"] for r in audit.records(after=2, limit=2)] == [3, 4]
    assert audit.count() == 5 and audit.records(kind="nothing") == []


def test_the_log_reopens_at_its_head() -> None:
    db, audit = log_with(3)
    again = AuditLog(db)
    assert again.head == audit.head
    assert again.append(2000, "rejection", "x", {}).seq == 4
    assert again.count() == 4 and verify_db(db).ok  # reading writes what was staged first


def test_updates_and_deletes_are_refused_by_the_database() -> None:
    db, _ = log_with(2)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE audit_log SET subject = 'x' WHERE seq = 1")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM audit_log WHERE seq = 2")


@pytest.mark.parametrize(
    ("sql", "args", "first_bad"),
    [
        ("UPDATE audit_log SET payload = ? WHERE seq = 3", ('{"n":99,"text":"été"}',), 3),
        ("UPDATE audit_log SET kind = 'dispatch' WHERE seq = 2", (), 2),
        ("UPDATE audit_log SET at_ms = at_ms + 1 WHERE seq = 4", (), 4),
        ("UPDATE audit_log SET hash = ? WHERE seq = 3", ("0" * 64,), 3),
        ("DELETE FROM audit_log WHERE seq = 2", (), 3),
        ("UPDATE audit_log SET payload = 'not json' WHERE seq = 5", (), 5),
    ],
)
def test_the_first_altered_record_is_named(sql: str, args: tuple[object, ...], first_bad: int) -> None:
    db, _ = log_with(6)
    tamper(db, sql, *args)
    verdict = verify_db(db)
    assert not verdict.ok and verdict.first_bad == first_bad


def test_a_rewritten_record_with_a_matching_hash_is_caught_at_its_successor() -> None:
    db, _ = log_with(4)
    row = db.execute("SELECT seq, at_ms, kind, subject, prev_hash FROM audit_log WHERE seq = 2").fetchone()
    forged = {"n": 2, "text": "rewritten"}
    tamper(db, "UPDATE audit_log SET payload = ?, hash = ? WHERE seq = 2",
           json.dumps(forged), record_hash(row[0], row[1], row[2], row[3], forged, row[4]))  # fmt: skip
    assert verify_db(db).first_bad == 3


def test_the_book_is_stored_and_loaded() -> None:
    db = sqlite3.connect(":memory:", isolation_level=None)
    store = DispatchStore(db)
    d = make_dispatch()
    store.save_dispatch(d)
    store.save_ack(Acknowledge(dispatch_id="d1", modification_number=0, node_id="n1", response="ack", at=5))
    store.save_member(Membership(node_id="n1", programs=("p1",), at=3))
    store.save_dispatch(d.model_copy(update={"modification_number": 1}))  # a newer version replaces it
    assert DispatchStore(db).load_book().dispatches == {}  # staged, not written yet
    store.flush()
    book = DispatchStore(db).load_book()
    assert book.dispatches["d1"].modification_number == 1
    assert book.ack_of("d1", "n1").at == 5 and book.members["n1"].programs == ("p1",)  # type: ignore[union-attr]


async def test_grid_audit_verify_on_a_node_data_directory(tmp_path: Path) -> None:
    dirs = {"1": tmp_path / "n1", "2": tmp_path / "n2"}
    grid = await start_grid({"1": table(issuer=True), "2": table()}, [("1", "2")], data_dirs=dirs)
    try:
        assert (await call(grid.services["1"], make_dispatch())).status == 202
        await wait_for(lambda: _records(grid, "2", 4))
    finally:
        await grid.close()
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify", "--data-dir", str(dirs["2"])])
    assert ok.exit_code == 0 and "intact" in ok.output

    db = sqlite3.connect(dirs["2"] / "node.sqlite3", isolation_level=None)
    seq = db.execute("SELECT seq FROM audit_log WHERE kind = 'dispatch'").fetchone()[0]
    payload = json.loads(db.execute("SELECT payload FROM audit_log WHERE seq = ?", (seq,)).fetchone()[0])
    payload["dispatch"]["curtailmentKw"] = 0.1  # pretend less was asked
    tamper(db, "UPDATE audit_log SET payload = ? WHERE seq = ?", json.dumps(payload), seq)
    db.close()
    bad = runner.invoke(app, ["audit", "verify", "--data-dir", str(dirs["2"])])
    assert bad.exit_code == 1 and f"first bad record is seq {seq}" in bad.output

    missing = runner.invoke(app, ["audit", "verify", "--data-dir", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2


async def _records(grid, node_id: str, count: int) -> bool:  # type: ignore[no-untyped-def]
    return (await ask(grid.services[node_id], "dispatch.audit"))["count"] >= count
