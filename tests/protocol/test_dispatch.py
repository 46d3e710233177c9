"""Dispatch messages, operator signatures, replication and acknowledgement status."""

from __future__ import annotations

import ast
import json
import math
from itertools import permutations
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from protocol.dispatch import (
    Acknowledge,
    cancelled,
    canonical_bytes,
    Dispatch,
    DispatchDigest,
    DispatchRejected,
    DispatchUpdate,
    Enrolment,
    key_id,
    modified,
    Program,
    public_key_from_seed,
    Response,
    sign_dispatch,
    verify_dispatch,
)
from protocol.dispatch_book import (
    ack_status,
    admit,
    admit_update,
    digest,
    DispatchBook,
    merge_ack,
    merge_books,
    merge_dispatch,
    missing,
    to_update,
)
from protocol.errors import NotFound

SEED_A = bytes(range(32))
SEED_B = bytes(range(32, 64))
OPERATORS = {"op-a": public_key_from_seed(SEED_A), "op-b": public_key_from_seed(SEED_B)}
HOUR = 3_600_000


def make_dispatch(**changes: object) -> Dispatch:
    fields: dict[str, Any] = {
        "dispatch_id": "d1",
        "program_id": "p1",
        "event_type": "curtail",
        "start_time": 10 * HOUR,
        "end_time": 11 * HOUR,
        "targets": ("n2", "n1"),
        "curtailment_kw": 2.5,
        "message": "Please shed load, merci \u00e9t\u00e9",
        "issuer": "op-a",
    }
    fields.update(changes)
    return Dispatch.model_validate(fields)


def signed(**changes: object) -> Dispatch:
    return sign_dispatch(make_dispatch(**changes), SEED_A)


def ack(
    node_id: str = "n1", *, dispatch_id: str = "d1", number: int = 0, response: Response = "ack", at: int = 1
) -> Acknowledge:
    return Acknowledge(dispatch_id=dispatch_id, modification_number=number, node_id=node_id, response=response, at=at)


# --- messages ------------------------------------------------------------------


def test_wire_shape_is_camel_case_and_round_trips() -> None:
    d = signed()
    wire = d.to_wire()
    assert Dispatch.msg_type == "Dispatch" and Acknowledge.msg_type == "Acknowledge"
    camel = {"dispatchId", "programId", "eventType", "startTime", "endTime", "curtailmentKw", "modificationNumber"}
    assert camel <= set(wire)
    again = Dispatch.model_validate(json.loads(json.dumps(wire)))
    assert again == d
    verify_dispatch(again, OPERATORS)


def test_targets_are_sorted_and_unique_and_ids_normalised() -> None:
    d = make_dispatch(targets=["n2", "n1", "n2", 7], dispatch_id=42)
    assert d.targets == ("7", "n1", "n2")
    assert d.dispatch_id == "42"


@pytest.mark.parametrize(
    "changes",
    [
        {"end_time": 10 * HOUR},
        {"end_time": 9 * HOUR},
        {"curtailment_kw": math.nan},
        {"curtailment_kw": -1},
        {"message": "x" * 5000},
        {"targets": ["bad id"]},
        {"event_type": "party"},
        {"status": "paused"},
        {"modification_number": -1},
        {"start_time": -5},
        {"signature": "zz"},
        {"unknown": 1},
    ],
)
def test_invalid_dispatches_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        make_dispatch(**changes)


def test_open_ended_dispatch_has_no_end_on_the_wire() -> None:
    d = make_dispatch(end_time=None)
    assert "endTime" not in d.to_wire()
    assert b'"endTime":null' in canonical_bytes(d)


def test_program_and_enrolment() -> None:
    program = Program.model_validate({"programId": 5, "name": "Easy Nights"})
    enrolment = Enrolment.model_validate({"programId": "5", "channels": ["events", "webhook", "email"], "offeredKw": 3})
    assert program.program_id == enrolment.program_id == "5"
    assert enrolment.to_wire() == {"programId": "5", "channels": ["events", "webhook", "email"], "offeredKw": 3.0}
    with pytest.raises(ValidationError):
        Enrolment.model_validate({"programId": "5", "channels": ["pigeon"]})


# --- signatures -------------------------------------------------------------------


def test_sign_verify_round_trip() -> None:
    d = signed()
    assert len(d.signature) == 128
    verify_dispatch(d, OPERATORS)


def test_canonical_bytes_are_sorted_compact_utf8_without_signature() -> None:
    d = signed()
    raw = canonical_bytes(d)
    assert raw == canonical_bytes(make_dispatch())
    parsed = json.loads(raw.decode("utf-8"))
    assert "signature" not in parsed and parsed["msgType"] == "Dispatch"
    assert list(parsed) == sorted(parsed)
    assert "\u00e9t\u00e9".encode() in raw  # raw UTF-8, not \\u escapes


def test_canonical_bytes_are_pinned() -> None:
    # Changing this form invalidates every signature ever issued: pin it.
    d = Dispatch(dispatch_id="d", program_id="p", event_type="shed", start_time=1, issuer="op", message="\u00e9 x")
    assert canonical_bytes(d) == (
        '{"curtailmentKw":0.0,"dispatchId":"d","endTime":null,"eventType":"shed","issuer":"op",'
        '"message":"\u00e9 x","modificationNumber":0,"msgType":"Dispatch","programId":"p","startTime":1,'
        '"status":"active","targets":[]}'
    ).encode("utf-8")


def test_key_helpers_are_deterministic() -> None:
    assert public_key_from_seed(SEED_A) == public_key_from_seed(SEED_A) != public_key_from_seed(SEED_B)
    assert len(public_key_from_seed(SEED_A)) == 32
    assert len(key_id(public_key_from_seed(SEED_A))) == 16
    with pytest.raises(ValueError):
        public_key_from_seed(b"short")
    with pytest.raises(ValueError):
        sign_dispatch(make_dispatch(), b"x" * 31)


def test_forged_with_wrong_key_is_rejected() -> None:
    forged = sign_dispatch(make_dispatch(issuer="op-a"), SEED_B)
    with pytest.raises(DispatchRejected) as info:
        verify_dispatch(forged, OPERATORS)
    assert info.value.code == "bad_signature"


def test_unsigned_is_rejected() -> None:
    with pytest.raises(DispatchRejected) as info:
        verify_dispatch(make_dispatch(), OPERATORS)
    assert info.value.code == "bad_signature"


def test_unknown_operator_is_rejected() -> None:
    d = sign_dispatch(make_dispatch(issuer="mallory"), SEED_A)
    with pytest.raises(DispatchRejected) as info:
        verify_dispatch(d, OPERATORS)
    assert info.value.code == "unknown_operator"
    assert info.value.status == 403
    assert info.value.to_json()["error"] == "unknown_operator"


ALTERATIONS = {
    "dispatch_id": "d2",
    "program_id": "p2",
    "event_type": "shed",
    "start_time": 10 * HOUR + 1,
    "end_time": None,
    "targets": ("n1",),
    "curtailment_kw": 2.6,
    "message": "Please shed load",
    "modification_number": 1,
    "status": "cancelled",
    "issuer": "op-b",  # a known operator: the signature, not the lookup, must fail
}


def test_alterations_cover_every_signed_field() -> None:
    assert set(ALTERATIONS) == set(Dispatch.model_fields) - {"signature"}


@pytest.mark.parametrize("name", sorted(ALTERATIONS))
def test_altering_any_field_breaks_the_signature(name: str) -> None:
    original = signed()
    altered = original.model_copy(update={name: ALTERATIONS[name]})
    assert altered != original
    with pytest.raises(DispatchRejected) as info:
        verify_dispatch(altered, OPERATORS)
    assert info.value.code == "bad_signature"


def test_altered_signature_is_rejected() -> None:
    d = signed()
    flipped = ("0" if d.signature[0] != "0" else "1") + d.signature[1:]
    with pytest.raises(DispatchRejected):
        verify_dispatch(d.model_copy(update={"signature": flipped}), OPERATORS)


# --- modifications and merge -------------------------------------------------------


def test_modification_wins_by_number_in_either_order() -> None:
    first = signed()
    second = sign_dispatch(modified(first, curtailment_kw=5.0), SEED_A)
    assert second.modification_number == 1 and second.curtailment_kw == 5.0
    for order in permutations([first, second]):
        book = DispatchBook()
        for d in order:
            book = merge_dispatch(book, d)
        assert book.dispatches["d1"] == second


def test_stale_news_returns_the_same_book() -> None:
    book = merge_dispatch(DispatchBook(), signed(modification_number=3))
    assert merge_dispatch(book, signed(modification_number=2)) is book
    assert merge_dispatch(book, signed(modification_number=3)) is book


def test_cancel_is_a_modification_and_old_copies_do_not_resurrect() -> None:
    first = signed()
    cancel = sign_dispatch(cancelled(first), SEED_A)
    assert cancel.status == "cancelled" and cancel.modification_number == 1
    book = merge_dispatch(merge_dispatch(DispatchBook(), cancel), first)
    assert book.dispatches["d1"].status == "cancelled"


def test_equal_numbers_tie_break_by_signature_bytes() -> None:
    one = sign_dispatch(make_dispatch(modification_number=1, curtailment_kw=1.0), SEED_A)
    two = sign_dispatch(make_dispatch(modification_number=1, curtailment_kw=9.0), SEED_A)
    winner = max(one, two, key=lambda d: bytes.fromhex(d.signature))
    assert merge_dispatch(merge_dispatch(DispatchBook(), one), two).dispatches["d1"] == winner
    assert merge_dispatch(merge_dispatch(DispatchBook(), two), one).dispatches["d1"] == winner


def test_admit_verifies_before_merging() -> None:
    book = admit(DispatchBook(), signed(), OPERATORS)
    forged = sign_dispatch(modified(signed(), curtailment_kw=900.0), SEED_B)
    with pytest.raises(DispatchRejected):
        admit(book, forged, OPERATORS)
    batch = DispatchUpdate(dispatches=(forged, signed(dispatch_id="d9")), acks=(ack(),))
    after, rejected = admit_update(book, batch, OPERATORS)
    assert [r.code for r in rejected] == ["bad_signature"]
    assert set(after.dispatches) == {"d1", "d9"} and after.dispatches["d1"].curtailment_kw == 2.5
    assert after.ack_of("d1", "n1") == ack()


def test_ack_merge_keeps_highest_modification_then_latest() -> None:
    newer_mod = ack(number=2, at=5)
    later_old_mod = ack(number=1, at=99)
    book = merge_ack(merge_ack(DispatchBook(), newer_mod), later_old_mod)
    assert book.ack_of("d1", "n1") == newer_mod
    book = merge_ack(book, ack(number=2, at=6, response="opt_out"))
    assert book.ack_of("d1", "n1") == ack(number=2, at=6, response="opt_out")
    for first, second in permutations([ack(at=3, response="opt_out"), ack(at=3)]):
        tie = merge_ack(merge_ack(DispatchBook(), first), second)
        assert tie.ack_of("d1", "n1") == ack(at=3, response="opt_out")


# --- convergence properties (riak_dt style) ------------------------------------------

_ids = st.sampled_from(["d1", "d2", "d3"])
_nodes = st.sampled_from(["n1", "n2", "n3"])
_signatures = st.one_of(st.just(""), st.binary(min_size=64, max_size=64).map(bytes.hex))

dispatches = st.builds(
    make_dispatch,
    dispatch_id=_ids,
    modification_number=st.integers(0, 3),
    curtailment_kw=st.sampled_from([0.0, 1.5, 2.0]),
    status=st.sampled_from(["active", "cancelled"]),
    end_time=st.sampled_from([None, 11 * HOUR]),
    signature=_signatures,
)
acks = st.builds(
    ack,
    _nodes,
    dispatch_id=_ids,
    number=st.integers(0, 3),
    response=st.sampled_from(["ack", "opt_out"]),
    at=st.integers(0, 3),
)
items = st.lists(st.one_of(dispatches, acks), max_size=12)


def book_of(things: list[Dispatch | Acknowledge]) -> DispatchBook:
    book = DispatchBook()
    for thing in things:
        book = merge_dispatch(book, thing) if isinstance(thing, Dispatch) else merge_ack(book, thing)
    return book


@settings(max_examples=100, deadline=None)
@given(items, items, items)
def test_book_merge_is_commutative_associative_idempotent(a: list, b: list, c: list) -> None:
    x, y, z = book_of(a), book_of(b), book_of(c)
    assert merge_books(x, y) == merge_books(y, x)
    assert merge_books(merge_books(x, y), z) == merge_books(x, merge_books(y, z))
    assert merge_books(x, x) == x
    assert merge_books(x, DispatchBook()) == x


@settings(max_examples=100, deadline=None)
@given(items, st.randoms(use_true_random=False))
def test_any_delivery_order_with_duplicates_converges(things: list, rng) -> None:
    shuffled = things + things[: len(things) // 2]
    rng.shuffle(shuffled)
    assert book_of(shuffled) == book_of(things)


@settings(max_examples=100, deadline=None)
@given(items, items)
def test_missing_sends_exactly_what_the_other_side_needs(a: list, b: list) -> None:
    mine, theirs = book_of(a), book_of(b)
    wire = DispatchDigest.model_validate(json.loads(json.dumps(digest(theirs).to_wire())))
    delta = missing(mine, wire)
    assert merge_books(theirs, delta) == merge_books(mine, theirs)
    assert missing(mine, digest(mine)) == DispatchBook()
    shipped = DispatchUpdate.model_validate(json.loads(json.dumps(to_update(delta).to_wire())))
    assert book_of([*shipped.dispatches, *shipped.acks]) == delta


# --- acknowledgement status --------------------------------------------------------------


def test_ack_status_for_explicit_targets() -> None:
    book = merge_dispatch(DispatchBook(), signed(targets=("n1", "n2", "n3")))
    book = merge_ack(book, ack("n1"))
    book = merge_ack(book, ack("n2", response="opt_out"))
    book = merge_ack(book, ack("n9"))  # not a target: not listed
    status = ack_status(book, "d1", enrolled=["n4"])
    assert (status.acknowledged, status.opted_out, status.pending) == (("n1",), ("n2",), ("n3",))


def test_ack_status_for_enrolled_nodes_when_no_targets() -> None:
    book = merge_dispatch(DispatchBook(), signed(targets=()))
    book = merge_ack(book, ack("n2"))
    status = ack_status(book, "d1", enrolled=["n3", "n2", "n1"])
    assert status.acknowledged == ("n2",) and status.pending == ("n1", "n3")


def test_answer_to_an_older_modification_is_pending() -> None:
    book = merge_dispatch(DispatchBook(), signed(modification_number=1))
    book = merge_ack(book, ack("n1", number=0))
    book = merge_ack(book, ack("n2", number=1))
    status = ack_status(book, "d1")
    assert status.modification_number == 1
    assert status.acknowledged == ("n2",) and status.pending == ("n1",)


def test_ack_status_of_unknown_dispatch() -> None:
    with pytest.raises(NotFound):
        ack_status(DispatchBook(), "nope")


# --- purity ---------------------------------------------------------------------------------

FORBIDDEN = {"aiohttp", "pykka", "typer", "asyncio", "threading", "socket", "time", "random", "sqlite3"}
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("module", ["protocol/dispatch.py", "protocol/audit.py", "nodes/dispatch.py"])
def test_dispatch_modules_do_no_io(module: str) -> None:
    tree = ast.parse((ROOT / module).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id != "open", f"{module} opens a file"
    assert not imported & FORBIDDEN
