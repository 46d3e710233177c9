"""An append-only, hash-chained audit log, as pure values.

Rules:
- Records are numbered from 1 (so a verification result is never a falsy 0);
  the first record links to :data:`GENESIS_HASH`.
- ``hash = sha256(prev_hash || canonical JSON of seq, at_ms, kind, subject,
  payload, prev_hash)``; canonical JSON is sorted keys, no whitespace, UTF-8.
- Altering a record breaks its own hash; rewriting its hash too breaks the
  link from the next record; removing or reordering records breaks the
  sequence. Truncating the tail leaves a valid shorter chain: anchor the head
  hash elsewhere (or pass the last trusted record as ``after``) to catch that.
- Storing the records is the I/O half's job (``grid/``); nothing here reads a
  clock or a file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints
from pydantic.alias_generators import to_camel

from .limits import MAX_NAME_LEN, Counter, EpochMillis, Name

#: The ``prev_hash`` of the first record.
GENESIS_HASH = "0" * 64

Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class AuditRecord(BaseModel):
    """One link of the chain: what happened (``kind``) to what (``subject``), when."""

    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True)

    seq: Counter
    at_ms: EpochMillis
    kind: Name
    subject: Name
    payload: dict[str, Any]
    prev_hash: Sha256Hex
    hash: Sha256Hex


def _canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def record_hash(seq: int, at_ms: int, kind: str, subject: str, payload: dict[str, Any], prev_hash: str) -> str:
    """The hash a record with these fields must carry (hex sha256).

    Raises ``ValueError``/``TypeError`` for a payload that is not plain JSON
    (NaN, infinities, or non-JSON types), which could not be hashed stably.
    """
    body = {"seq": seq, "at_ms": at_ms, "kind": kind, "subject": subject, "payload": payload, "prev_hash": prev_hash}
    return hashlib.sha256(prev_hash.encode() + _canonical_json(body)).hexdigest()


def chain_record(prev: AuditRecord | None, at_ms: int, kind: str, subject: str, payload: dict[str, Any]) -> AuditRecord:
    """The record that follows ``prev`` (or starts the chain when ``prev`` is None)."""
    seq = 1 if prev is None else prev.seq + 1
    prev_hash = GENESIS_HASH if prev is None else prev.hash
    digest = record_hash(seq, at_ms, kind, subject, payload, prev_hash)
    if not (0 < len(kind) <= MAX_NAME_LEN and 0 < len(subject) <= MAX_NAME_LEN):
        raise ValueError(f"an audit record needs a kind and a subject of 1-{MAX_NAME_LEN} characters")
    # Every field is computed here (and the payload proved to be plain JSON by
    # hashing it), so the record is built without validating it again: the log
    # grows by one record per acknowledgement seen, which adds up.
    return AuditRecord.model_construct(
        seq=seq, at_ms=at_ms, kind=kind, subject=subject, payload=payload, prev_hash=prev_hash, hash=digest
    )


def _intact(record: AuditRecord, prev: AuditRecord | None) -> bool:
    expected_seq = 1 if prev is None else prev.seq + 1
    expected_link = GENESIS_HASH if prev is None else prev.hash
    if record.seq != expected_seq or record.prev_hash != expected_link:
        return False
    try:
        fields = (record.seq, record.at_ms, record.kind, record.subject, record.payload, record.prev_hash)
        return record_hash(*fields) == record.hash
    except (TypeError, ValueError):  # a payload tampered into something unhashable
        return False


def verify_chain(records: Iterable[AuditRecord], after: AuditRecord | None = None) -> int | None:
    """The ``seq`` of the first record that does not verify, or None when intact.

    ``records`` must start at seq 1, or right after ``after`` (a record already
    trusted, e.g. the last one checked), so a log can be verified incrementally.
    A removed record is reported as the record after the gap; a rewritten one
    as itself, or as its successor when its hash was rewritten to match.
    """
    prev = after
    for record in records:
        if not _intact(record, prev):
            return record.seq
        prev = record
    return None
