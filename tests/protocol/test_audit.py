"""The hash-chained audit log: intact chains verify, tampering is located."""

from __future__ import annotations

import json
import math
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.audit import GENESIS_HASH, AuditRecord, chain_record, record_hash, verify_chain


def make_chain(n: int) -> list[AuditRecord]:
    records: list[AuditRecord] = []
    for i in range(n):
        prev = records[-1] if records else None
        payload = {"dispatchId": f"d{i}", "curtailmentKw": i * 0.5, "targets": ["n1", "n2"], "note": "\u00e9t\u00e9"}
        records.append(chain_record(prev, 1_000 * i, "dispatch.issued", f"d{i}", payload))
    return records


def test_intact_chain_verifies() -> None:
    records = make_chain(6)
    assert [r.seq for r in records] == [1, 2, 3, 4, 5, 6]
    assert records[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in pairwise(records))
    assert verify_chain(records) is None
    assert verify_chain([]) is None


def test_hash_covers_prev_hash_and_every_field() -> None:
    r = make_chain(1)[0]
    assert r.hash == record_hash(r.seq, r.at_ms, r.kind, r.subject, r.payload, r.prev_hash)
    assert len(r.hash) == 64


@pytest.mark.parametrize(
    "change",
    [
        {"payload": {"dispatchId": "d2", "curtailmentKw": 900.0}},
        {"at_ms": 1},
        {"kind": "dispatch.cancelled"},
        {"subject": "d9"},
        {"hash": "f" * 64},
        {"prev_hash": "e" * 64},
    ],
)
def test_altered_record_is_named(change: dict) -> None:
    records = make_chain(5)
    records[2] = records[2].model_copy(update=change)
    assert verify_chain(records) == 3


def test_altered_and_rehashed_record_is_caught_at_the_next_link() -> None:
    records = make_chain(5)
    r = records[2]
    payload = {**r.payload, "curtailmentKw": 0.0}
    forged_hash = record_hash(r.seq, r.at_ms, r.kind, r.subject, payload, r.prev_hash)
    records[2] = r.model_copy(update={"payload": payload, "hash": forged_hash})
    assert verify_chain(records) == 4


def test_payload_mutated_in_place_is_caught() -> None:
    records = make_chain(3)
    records[1].payload["curtailmentKw"] = math.nan  # frozen model, mutable dict: still detected
    assert verify_chain(records) == 2


def test_removed_record_is_named_by_the_gap() -> None:
    records = make_chain(5)
    assert verify_chain(records[:2] + records[3:]) == 4
    assert verify_chain(records[1:]) == 2  # the first record removed


def test_reordered_records_are_named() -> None:
    records = make_chain(5)
    assert verify_chain([records[0], records[2], records[1], *records[3:]]) == 3


def test_duplicated_record_is_named() -> None:
    records = make_chain(3)
    assert verify_chain([records[0], records[1], records[1], records[2]]) == 2


def test_incremental_verification_after_a_trusted_record() -> None:
    records = make_chain(6)
    assert verify_chain(records[3:], after=records[2]) is None
    assert verify_chain(records[4:], after=records[2]) == 5


def test_records_survive_a_round_trip_through_json() -> None:
    records = make_chain(4)
    wire = json.loads(json.dumps([r.model_dump(by_alias=True, mode="json") for r in records]))
    assert "atMs" in wire[0] and "prevHash" in wire[0]
    assert verify_chain([AuditRecord.model_validate(r) for r in wire]) is None


def test_payload_that_cannot_be_hashed_stably_is_refused() -> None:
    with pytest.raises(ValueError):
        chain_record(None, 0, "k", "s", {"x": math.inf})
    with pytest.raises(TypeError):
        chain_record(None, 0, "k", "s", {"x": object()})


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 12), st.data())
def test_first_tampered_record_is_always_the_one_named(n: int, data: st.DataObject) -> None:
    records = make_chain(n)
    victims = sorted(data.draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=3)))
    for i in victims:
        records[i] = records[i].model_copy(update={"payload": {"tampered": i}})
    assert verify_chain(records) == victims[0] + 1
