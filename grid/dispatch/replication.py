"""Spreading the dispatch book between siblings: pushes of what changed, digests to repair.

Its own anti-entropy, beside the gossip of entries (not inside them):

- Push: every item (dispatch version, acknowledgement, membership) that
  changed this node's book is queued; after the node's flush window each
  sibling gets one ``DispatchUpdate`` with the queued items, except those it
  sent us itself. A receiver forwards only what was new to it, so a flood
  stops where everyone has the item, and a burst of acks costs one message
  per link per window, not one per ack.
- Pull: every ``digest_every`` heartbeats the node offers its
  ``DispatchDigest`` to one random sibling, and to every sibling when it
  starts. The answer carries what the digest shows to be missing, so a node
  that was down gets every dispatch it missed. A digest that shows the sender
  holds something we lack is answered with our own digest too, marked as a
  reply (never answered with another digest). A new link gets a digest at the
  next heartbeat, so two parts of the grid that were joined catch up at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Union

from protocol.dispatch import Acknowledge, Dispatch, DispatchDigest, DispatchUpdate, Membership
from protocol.dispatch_book import digest, DispatchBook, missing, wants
from protocol.gossip import Send

if TYPE_CHECKING:
    from grid.node.actor import NodeActor

Item = Union[Dispatch, Acknowledge, Membership]
#: Items per DispatchUpdate: a few hundred keep a message far below the body limit.
MAX_ITEMS = 200


class Replicator:
    """The outbox and digest exchange of one node's dispatch book."""

    def __init__(self, node: "NodeActor", book: Callable[[], DispatchBook], digest_every: int) -> None:
        self.node = node
        self._book = book
        self.digest_every = digest_every
        self._outbox: list[tuple[Item, str | None]] = []
        self._flush_due = False
        self._beats = 0
        self._known: set[str] = set(node.core.siblings)

    # ---------------------------------------------------------------- push
    def push(self, item: Item, source: str | None) -> None:
        """Queue ``item`` for every sibling but ``source`` (who sent it to us)."""
        self._outbox.append((item, source))
        if not self._flush_due:
            self._flush_due = True
            self.node.call_later(max(0.0, self.node.config.flush_window_s), self.flush)

    def flush(self) -> None:
        """Send the queued items, one update (or a few) per sibling."""
        self._flush_due = False
        outbox, self._outbox = self._outbox, []
        if not outbox:
            return
        sends = []
        for sibling_id in sorted(self.node.core.siblings):
            items = [item for item, source in outbox if source != sibling_id]
            sends.extend(Send(sibling_id, update) for update in updates(items))
        self.node.emit(sends)

    # ---------------------------------------------------------------- pull
    def on_heartbeat(self) -> None:
        """Offer the digest to new siblings, and to a random one every ``digest_every`` beats."""
        self._beats += 1
        siblings = sorted(self.node.core.siblings)
        fresh = [s for s in siblings if s not in self._known]
        self._known = set(siblings)
        if self._beats % self.digest_every == 0 and siblings:
            fresh.append(self.node.rng.choice(siblings))
        self.offer(dict.fromkeys(fresh))

    def offer(self, sibling_ids: Iterable[str], reply: bool = False) -> None:
        """Send our digest to ``sibling_ids``."""
        ids = list(sibling_ids)
        if ids:
            mine = digest(self._book(), reply=reply)
            self.node.emit([Send(sibling_id, mine) for sibling_id in ids])

    def answer(self, sender: str, theirs: DispatchDigest) -> int:
        """Send ``sender`` what its digest lacks; returns how many items went."""
        book = self._book()
        lacking = missing(book, theirs)
        items: list[Item] = [*lacking.dispatches.values(), *lacking.acks.values(), *lacking.members.values()]
        self.node.emit([Send(sender, update) for update in updates(items)])
        if not theirs.reply and wants(book, theirs):
            self.offer([sender], reply=True)
        return len(items)


def updates(items: list[Item]) -> Iterator[DispatchUpdate]:
    """``items`` as ``DispatchUpdate`` batches of at most :data:`MAX_ITEMS`."""
    for start in range(0, len(items), MAX_ITEMS):
        chunk = items[start : start + MAX_ITEMS]
        # Items of our own book, validated when they came in: no need to check them again.
        yield DispatchUpdate.model_construct(
            dispatches=tuple(i for i in chunk if isinstance(i, Dispatch)),
            acks=tuple(i for i in chunk if isinstance(i, Acknowledge)),
            members=tuple(i for i in chunk if isinstance(i, Membership)),
        )
