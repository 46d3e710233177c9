"""Demand-response dispatch: message shapes, operator signatures, modifications.

This module owns what travels: the messages (:class:`Program`,
:class:`Enrolment`, :class:`Dispatch`, :class:`Acknowledge`,
:class:`Membership`, and the anti-entropy pair :class:`DispatchDigest` /
:class:`DispatchUpdate`), the canonical bytes of a dispatch and its Ed25519
signature. How nodes replicate dispatches (the :class:`DispatchBook`, its merge
rules, digests and who answered) is :mod:`protocol.dispatch_book`'s; its
public names are importable from here too.

Rules (theory of operation):
- An operator issues a :class:`Dispatch` signed with its Ed25519 key. The
  signature covers the canonical bytes of every other field, so any node can
  check a dispatch it got second-hand from a sibling; nodes verify before they
  merge (:func:`~protocol.dispatch_book.admit`).
- A change is a new version with the next ``modification_number``
  (:func:`modified`), unsigned until its operator signs it. Cancelling is a
  modification whose ``status`` is ``"cancelled"`` (:func:`cancelled`), never
  a deletion.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from typing import Annotated, Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import Field, StringConstraints, field_validator, model_validator

from .base import Message
from .errors import Forbidden
from .limits import MAX_ENTRIES, Counter, EpochMillis, Kilowatts, Name, NodeId, Text

EventType = Literal["curtail", "shed", "price", "test"]
DispatchStatus = Literal["active", "cancelled"]
Response = Literal["ack", "opt_out"]
Channel = Literal["events", "webhook", "email", "sms"]

#: An Ed25519 signature in lowercase hex (64 bytes), or "" while unsigned.
SignatureHex = Annotated[str, StringConstraints(pattern=r"^([0-9a-f]{128})?$")]
#: A short content fingerprint used in digests (not a security measure).
Tag = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16}$")]
#: How a digest names one version of an item: (modification number, content tag).
Mark = tuple[Counter, Tag]

SEED_BYTES = 32


class Program(Message):
    """A demand-response program nodes can enrol in."""

    msg_type = "Program"
    program_id: NodeId
    name: Name


class Enrolment(Message):
    """A node's enrolment in a program: how to reach it and what it offers to shed."""

    msg_type = "Enrolment"
    program_id: NodeId
    channels: Annotated[tuple[Channel, ...], Field(max_length=8)] = ("events",)
    offered_kw: Kilowatts = 0.0


class Dispatch(Message):
    """A demand-response event issued by an operator (one version of it).

    ``targets`` empty means every node enrolled in ``program_id``; targets are
    kept sorted and unique so equal sets have equal bytes. ``end_time`` absent
    means open-ended: the event runs until it is cancelled. ``issuer`` (the
    operator's key id) may be left out of an unsigned dispatch handed to a node
    that holds an operator key: that node fills it in and signs.
    """

    msg_type = "Dispatch"
    dispatch_id: NodeId
    program_id: NodeId
    event_type: EventType
    start_time: EpochMillis
    end_time: EpochMillis | None = None
    targets: Annotated[tuple[NodeId, ...], Field(max_length=MAX_ENTRIES)] = ()
    curtailment_kw: Kilowatts = 0.0
    message: Text = ""
    modification_number: Counter = 0
    status: DispatchStatus = "active"
    issuer: NodeId | None = None
    signature: SignatureHex = ""

    @field_validator("targets")
    @classmethod
    def _normalise_targets(cls, targets: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted(set(targets)))

    @model_validator(mode="after")
    def _window_is_forward(self) -> Dispatch:
        if self.end_time is not None and self.end_time <= self.start_time:
            raise ValueError("endTime must be after startTime")
        return self


class Acknowledge(Message):
    """A node's answer to one modification of a dispatch.

    ``at`` orders a node's answers; the node that answers stamps it with its
    own clock, so an operator may leave it out.
    """

    msg_type = "Acknowledge"
    dispatch_id: NodeId
    modification_number: Counter
    node_id: NodeId
    response: Response
    at: EpochMillis = 0


class Membership(Message):
    """Which programs a node is enrolled in, as that node last said (``at``).

    Replicated with dispatches so every node knows the audience of a
    program-wide dispatch, and so who has not answered it yet.
    """

    msg_type = "Membership"
    node_id: NodeId
    programs: Annotated[tuple[NodeId, ...], Field(max_length=64)] = ()
    at: EpochMillis

    @field_validator("programs")
    @classmethod
    def _normalise_programs(cls, programs: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted(set(programs)))


RejectionCode = Literal["unknown_operator", "bad_signature"]


class DispatchRejected(Forbidden):
    """A dispatch that is not provably from a known operator (403).

    ``code`` is ``"unknown_operator"`` or ``"bad_signature"``.
    """

    def __init__(self, code: RejectionCode, detail: Any = None) -> None:
        super().__init__(code if detail is None else detail, code=code)


# --- canonical bytes and signatures -------------------------------------------


def canonical_json(value: Any) -> bytes:
    """Sorted-key compact UTF-8 JSON: equal values give equal bytes on every node."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def canonical_bytes(d: Dispatch) -> bytes:
    """The signed bytes: sorted-key compact UTF-8 JSON of every field but ``signature``.

    Wire (camelCase) names are used and ``null`` is kept for an open end, so the
    bytes are the same before and after a trip over the wire. ``msgType`` is
    included so a signature can never be replayed as another kind of message.
    """
    fields = d.model_dump(by_alias=True, mode="json", exclude={"signature"})
    return canonical_json({"msgType": Dispatch.msg_type, **fields})


def public_key_from_seed(seed: bytes) -> bytes:
    """The raw 32-byte Ed25519 public key for a 32-byte private seed."""
    key = Ed25519PrivateKey.from_private_bytes(_checked_seed(seed))
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public_key: bytes) -> str:
    """A stable operator key id derived from a public key (16 hex digits)."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def sign_dispatch(d: Dispatch, private_key: bytes) -> Dispatch:
    """``d`` with its signature set by the operator's 32-byte private seed."""
    key = Ed25519PrivateKey.from_private_bytes(_checked_seed(private_key))
    return d.model_copy(update={"signature": key.sign(canonical_bytes(d)).hex()})


def verify_dispatch(d: Dispatch, operators: Mapping[str, bytes]) -> None:
    """Raise :class:`DispatchRejected` unless ``d`` is signed by its issuer.

    ``operators`` maps operator key ids to raw 32-byte public keys; a key of
    another length is a configuration error (``ValueError``), not a rejection.
    """
    public = operators.get(d.issuer) if d.issuer is not None else None
    if public is None:
        raise DispatchRejected("unknown_operator", f"unknown operator {d.issuer!r}")
    if not d.signature:
        raise DispatchRejected("bad_signature", f"dispatch {d.dispatch_id!r} is unsigned")
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(bytes.fromhex(d.signature), canonical_bytes(d))
    except InvalidSignature:
        raise DispatchRejected("bad_signature", f"bad signature on dispatch {d.dispatch_id!r}") from None


def _checked_seed(seed: bytes) -> bytes:
    if len(seed) != SEED_BYTES:
        raise ValueError(f"an Ed25519 seed is {SEED_BYTES} bytes, got {len(seed)}")
    return seed


# --- modifications ------------------------------------------------------------


def modified(d: Dispatch, **changes: Any) -> Dispatch:
    """The next modification of ``d`` with ``changes`` applied, unsigned and validated."""
    fields = {**d.model_dump(), **changes, "modification_number": d.modification_number + 1, "signature": ""}
    return Dispatch.model_validate(fields)


def cancelled(d: Dispatch) -> Dispatch:
    """The modification of ``d`` that cancels it (unsigned)."""
    return modified(d, status="cancelled")


def in_window(d: Dispatch, now_ms: int) -> bool:
    """Whether ``now_ms`` is in ``[start_time, end_time)``; open-ended never ends."""
    return d.start_time <= now_ms and (d.end_time is None or now_ms < d.end_time)


def has_ended(d: Dispatch, now_ms: int) -> bool:
    """Whether the window of ``d`` is over (an open-ended dispatch never is)."""
    return d.end_time is not None and now_ms >= d.end_time


def addressed(d: Dispatch, node_id: str, programs: Collection[str]) -> bool:
    """Whether ``d`` is meant for ``node_id``, enrolled in ``programs``."""
    return node_id in d.targets if d.targets else d.program_id in programs


# --- anti-entropy messages (built and answered in protocol/dispatch_book.py) ----

_NodeMarks = Annotated[dict[NodeId, Mark], Field(max_length=MAX_ENTRIES)]


class DispatchDigest(Message):
    """What a node holds: dispatch id -> mark, and dispatch id -> node id -> ack mark.

    A mark is ``[modificationNumber, tag]``; the tag fingerprints the content so
    two different versions with the same number are still told apart.
    ``members`` marks memberships by node id (``[at, tag]``). ``reply`` marks a
    digest sent back in answer, which is answered with items only, never with
    another digest (so two digests cannot chase each other).
    """

    msg_type = "DispatchDigest"
    from_peers = True
    dispatches: Annotated[dict[NodeId, Mark], Field(default_factory=dict, max_length=MAX_ENTRIES)]
    acks: Annotated[dict[NodeId, _NodeMarks], Field(default_factory=dict, max_length=MAX_ENTRIES)]
    members: Annotated[dict[NodeId, Mark], Field(default_factory=dict, max_length=MAX_ENTRIES)]
    reply: bool = False


class DispatchUpdate(Message):
    """A batch of dispatches and acknowledgements the receiver is not known to have."""

    msg_type = "DispatchUpdate"
    from_peers = True
    dispatches: Annotated[tuple[Dispatch, ...], Field(max_length=MAX_ENTRIES)] = ()
    acks: Annotated[tuple[Acknowledge, ...], Field(max_length=MAX_ENTRIES)] = ()
    members: Annotated[tuple[Membership, ...], Field(max_length=MAX_ENTRIES)] = ()
