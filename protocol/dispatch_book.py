"""The replicated dispatch book: merge rules, anti-entropy, who answered.

Every node keeps a :class:`DispatchBook` of the dispatches, acknowledgements
and memberships it knows. The messages and their signatures are
:mod:`protocol.dispatch`'s (which re-exports this module's public names).

Rules (theory of operation):
- A dispatch is replicated state, not a command. Per ``dispatch_id`` the
  higher ``modification_number`` wins. Two different dispatches with the same
  number (two operators editing at once) are ordered by their signature bytes,
  then by their canonical bytes, so the order is total and every node keeps the
  same one whatever the arrival order.
- Nodes verify a dispatch's signature before they merge it (:func:`admit`).
- Cancelling is a modification whose ``status`` is ``"cancelled"``; it is never
  a deletion, so a late copy of the old version cannot resurrect the event.
- Acknowledgements are keyed by ``(dispatch_id, node_id)``; the one for the
  higher ``modification_number`` wins, then the later ``at``, then the response
  (``"opt_out"`` over ``"ack"``: when a node said both at the same instant,
  the safe reading is that it does not take part).
- Memberships are keyed by node id; the later ``at`` wins, then the canonical
  bytes.
- Because every merge keeps the maximum of a total order, merging books is
  commutative, associative and idempotent: loss, duplication and reordering of
  gossip cannot change where replicas converge.
- Anti-entropy: a node sends its :func:`digest`; the other side answers with
  :func:`missing`, the items the digest shows to be absent, older, or different.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from .dispatch import (
    Acknowledge,
    Dispatch,
    DispatchDigest,
    DispatchRejected,
    DispatchUpdate,
    Mark,
    Membership,
    canonical_bytes,
    canonical_json,
    verify_dispatch,
)
from .errors import NotFound

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
    return new != old and canonical_json(new.to_wire()) > canonical_json(old.to_wire())


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
    return (a.modification_number, _tag(canonical_json(a.to_wire())))


@_memo
def member_mark(m: Membership) -> Mark:
    """The digest mark of one membership."""
    return (m.at, _tag(canonical_json(m.to_wire())))


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
