"""Demand-response dispatch: message shapes, operator signatures, replication.

Rules (theory of operation):
- An operator issues a :class:`Dispatch` signed with its Ed25519 key. The
  signature covers the canonical bytes of every other field, so any node can
  check a dispatch it got second-hand from a sibling; nodes verify before they
  merge (:func:`admit`).
- A dispatch is replicated state, not a command: every node keeps a
  :class:`DispatchBook`. Per ``dispatch_id`` the higher ``modification_number``
  wins. Two different dispatches with the same number (two operators editing at
  once) are ordered by their signature bytes, then by their canonical bytes, so
  the order is total and every node keeps the same one whatever the arrival order.
- Cancelling is a modification whose ``status`` is ``"cancelled"``; it is never
  a deletion, so a late copy of the old version cannot resurrect the event.
- Acknowledgements are keyed by ``(dispatch_id, node_id)``; the one for the
  higher ``modification_number`` wins, then the later ``at``, then the response
  (``"opt_out"`` over ``"ack"``: when a node said both at the same instant,
  the safe reading is that it does not take part).
- Because every merge keeps the maximum of a total order, merging books is
  commutative, associative and idempotent: loss, duplication and reordering of
  gossip cannot change where replicas converge.
- Anti-entropy: a node sends its :func:`digest`; the other side answers with
  :func:`missing`, the items the digest shows to be absent, older, or different.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import Field, StringConstraints, field_validator, model_validator

from .base import Message
from .errors import Forbidden, NotFound
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


def _canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def canonical_bytes(d: Dispatch) -> bytes:
    """The signed bytes: sorted-key compact UTF-8 JSON of every field but ``signature``.

    Wire (camelCase) names are used and ``null`` is kept for an open end, so the
    bytes are the same before and after a trip over the wire. ``msgType`` is
    included so a signature can never be replayed as another kind of message.
    """
    fields = d.model_dump(by_alias=True, mode="json", exclude={"signature"})
    return _canonical_json({"msgType": Dispatch.msg_type, **fields})


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


# --- the book and its merge ---------------------------------------------------

AckKey = tuple[str, str]


@dataclass(frozen=True)
class DispatchBook:
    """Everything a node knows about dispatches: newest version of each, and acks.

    Treat as immutable: the merge functions return a new book, or the same
    object when nothing was new (so ``new is old`` means "nothing to push").
    ``members``: each node's newest :class:`Membership`, by node id.
    """

    dispatches: Mapping[str, Dispatch] = field(default_factory=dict)
    acks: Mapping[AckKey, Acknowledge] = field(default_factory=dict)
    members: Mapping[str, Membership] = field(default_factory=dict)

    def ack_of(self, dispatch_id: str, node_id: str) -> Acknowledge | None:
        """The newest answer of ``node_id`` to ``dispatch_id``, if any."""
        return self.acks.get((dispatch_id, node_id))


def _ack_order(a: Acknowledge) -> tuple[int, int, str]:
    return (a.modification_number, a.at, a.response)


def _wins(new: Dispatch, old: Dispatch | None) -> bool:
    """Whether ``new`` is later than ``old`` in the total order of versions.

    Number first; then signature bytes (equal-length lowercase hex compares
    like the bytes, and unsigned "" sorts first); then canonical bytes, which
    only differ under equal signatures for unsigned or unverified copies. The
    last key costs a serialisation, so it is reached only when really needed.
    """
    if old is None:
        return True
    if new.modification_number != old.modification_number:
        return new.modification_number > old.modification_number
    if new.signature != old.signature:
        return new.signature > old.signature
    return new != old and canonical_bytes(new) > canonical_bytes(old)


def _ack_wins(new: Acknowledge, old: Acknowledge | None) -> bool:
    return old is None or _ack_order(new) > _ack_order(old)


def merge_dispatch(book: DispatchBook, d: Dispatch) -> DispatchBook:
    """``book`` with ``d`` if it is newer than the version held (no verification)."""
    if not _wins(d, book.dispatches.get(d.dispatch_id)):
        return book
    return replace(book, dispatches={**book.dispatches, d.dispatch_id: d})


def merge_ack(book: DispatchBook, a: Acknowledge) -> DispatchBook:
    """``book`` with ``a`` if it is newer than the answer held for its key.

    Acks for dispatches not yet seen are kept: gossip may deliver them first.
    """
    key = (a.dispatch_id, a.node_id)
    if not _ack_wins(a, book.acks.get(key)):
        return book
    return replace(book, acks={**book.acks, key: a})


def _member_wins(new: Membership, old: Membership | None) -> bool:
    if old is None or new.at != old.at:
        return old is None or new.at > old.at
    return new != old and _canonical_json(new.to_wire()) > _canonical_json(old.to_wire())


def merge_member(book: DispatchBook, m: Membership) -> DispatchBook:
    """``book`` with ``m`` if it is newer (later ``at``) than the node's membership held."""
    if not _member_wins(m, book.members.get(m.node_id)):
        return book
    return replace(book, members={**book.members, m.node_id: m})


def enrolled_in(book: DispatchBook, program_id: str) -> tuple[str, ...]:
    """The nodes whose newest membership lists ``program_id``, sorted."""
    return tuple(sorted(node_id for node_id, m in book.members.items() if program_id in m.programs))


def merge_books(mine: DispatchBook, theirs: DispatchBook) -> DispatchBook:
    """The join of two books: per key, the newer item of the two."""
    dispatches = dict(mine.dispatches)
    for dispatch_id, d in theirs.dispatches.items():
        if _wins(d, dispatches.get(dispatch_id)):
            dispatches[dispatch_id] = d
    acks = dict(mine.acks)
    for key, a in theirs.acks.items():
        if _ack_wins(a, acks.get(key)):
            acks[key] = a
    members = dict(mine.members)
    for node_id, m in theirs.members.items():
        if _member_wins(m, members.get(node_id)):
            members[node_id] = m
    return DispatchBook(dispatches, acks, members)


def admit(book: DispatchBook, d: Dispatch, operators: Mapping[str, bytes]) -> DispatchBook:
    """Verify ``d`` against ``operators`` and merge it; raises :class:`DispatchRejected`."""
    verify_dispatch(d, operators)
    return merge_dispatch(book, d)


# --- anti-entropy ---------------------------------------------------------------


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


def _tag(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


#: Marks are pure functions of immutable items; a digest is built from them
#: every few heartbeats, so each item's mark is computed once, not every time.
_memo = functools.lru_cache(maxsize=1 << 16)


@_memo
def dispatch_mark(d: Dispatch) -> Mark:
    """The digest mark of one dispatch version."""
    return (d.modification_number, _tag(canonical_bytes(d) + d.signature.encode()))


@_memo
def ack_mark(a: Acknowledge) -> Mark:
    """The digest mark of one acknowledgement."""
    return (a.modification_number, _tag(_canonical_json(a.to_wire())))


@_memo
def member_mark(m: Membership) -> Mark:
    """The digest mark of one membership."""
    return (m.at, _tag(_canonical_json(m.to_wire())))


def digest(book: DispatchBook, reply: bool = False) -> DispatchDigest:
    """The digest of ``book`` to offer a sibling (``reply``: in answer to theirs)."""
    acks: dict[str, dict[str, Mark]] = {}
    for (dispatch_id, node_id), a in book.acks.items():
        acks.setdefault(dispatch_id, {})[node_id] = ack_mark(a)
    marks = {dispatch_id: dispatch_mark(d) for dispatch_id, d in book.dispatches.items()}
    members = {node_id: member_mark(m) for node_id, m in book.members.items()}
    # Built from our own book: nothing to validate, and validating every id
    # of a large digest would cost more than computing it.
    return DispatchDigest.model_construct(dispatches=marks, acks=acks, members=members, reply=reply)


def _lacks(theirs: Mark | None, ours: Mark) -> bool:
    # Equal numbers with different tags: send ours; if it loses there, the
    # receiver drops it and sends the winner back in its own answer.
    return theirs is None or theirs[0] < ours[0] or (theirs[0] == ours[0] and theirs[1] != ours[1])


def missing(book: DispatchBook, theirs: DispatchDigest) -> DispatchBook:
    """The part of ``book`` the owner of ``theirs`` lacks or holds an older version of."""
    dispatches = {
        dispatch_id: d
        for dispatch_id, d in book.dispatches.items()
        if _lacks(theirs.dispatches.get(dispatch_id), dispatch_mark(d))
    }
    acks = {key: a for key, a in book.acks.items() if _lacks(theirs.acks.get(key[0], {}).get(key[1]), ack_mark(a))}
    members = {k: m for k, m in book.members.items() if _lacks(theirs.members.get(k), member_mark(m))}
    return DispatchBook(dispatches, acks, members)


def wants(book: DispatchBook, theirs: DispatchDigest) -> bool:
    """Whether the owner of ``theirs`` holds something ``book`` lacks or holds older.

    Equal numbers with different tags count too: one of the two is the winner,
    and only an exchange both ways settles which.
    """
    mine = digest(book)
    if any(_lacks(mine.dispatches.get(k), mark) for k, mark in theirs.dispatches.items()):
        return True
    if any(_lacks(mine.members.get(k), mark) for k, mark in theirs.members.items()):
        return True
    return any(
        _lacks(mine.acks.get(dispatch_id, {}).get(node_id), mark)
        for dispatch_id, marks in theirs.acks.items()
        for node_id, mark in marks.items()
    )


def to_update(book: DispatchBook) -> DispatchUpdate:
    """``book`` as a wire batch, in a deterministic order."""
    dispatches = tuple(book.dispatches[k] for k in sorted(book.dispatches))
    members = tuple(book.members[k] for k in sorted(book.members))
    return DispatchUpdate(dispatches=dispatches, acks=tuple(book.acks[k] for k in sorted(book.acks)), members=members)


def admit_update(
    book: DispatchBook, update: DispatchUpdate, operators: Mapping[str, bytes]
) -> tuple[DispatchBook, tuple[DispatchRejected, ...]]:
    """Merge a received batch: verified dispatches, all acks and memberships; collect rejections.

    One forged dispatch must not keep the honest rest of a batch out.
    """
    rejected: list[DispatchRejected] = []
    for d in update.dispatches:
        try:
            book = admit(book, d, operators)
        except DispatchRejected as exc:
            rejected.append(exc)
    for a in update.acks:
        book = merge_ack(book, a)
    for m in update.members:
        book = merge_member(book, m)
    return book, tuple(rejected)


# --- who answered ---------------------------------------------------------------


@dataclass(frozen=True)
class AckStatus:
    """Who, among a dispatch's audience, answered its current modification, and how.

    An answer to an older modification does not count: the node has not seen
    (or not answered) what is asked of it now, so it is ``pending``.
    """

    dispatch_id: str
    modification_number: int
    acknowledged: tuple[str, ...]
    opted_out: tuple[str, ...]
    pending: tuple[str, ...]


def audience(d: Dispatch, enrolled: Iterable[str] = ()) -> frozenset[str]:
    """The nodes ``d`` is meant for: its explicit targets, else the ``enrolled`` nodes."""
    return frozenset(d.targets) if d.targets else frozenset(enrolled)


def _answer(d: Dispatch, a: Acknowledge | None) -> str:
    if a is None or a.modification_number < d.modification_number:
        return "pending"
    return a.response


def ack_status(book: DispatchBook, dispatch_id: str, enrolled: Iterable[str] = ()) -> AckStatus:
    """Answers to ``dispatch_id`` from its audience; ``enrolled`` are the program's nodes.

    Raises :class:`~protocol.errors.NotFound` for a dispatch the book lacks.
    """
    d = book.dispatches.get(dispatch_id)
    if d is None:
        raise NotFound(f"unknown dispatch {dispatch_id!r}")
    answered: dict[str, list[str]] = {"ack": [], "opt_out": [], "pending": []}
    for node_id in sorted(audience(d, enrolled)):
        answered[_answer(d, book.ack_of(dispatch_id, node_id))].append(node_id)
    return AckStatus(
        dispatch_id=dispatch_id,
        modification_number=d.modification_number,
        acknowledged=tuple(answered["ack"]),
        opted_out=tuple(answered["opt_out"]),
        pending=tuple(answered["pending"]),
    )
