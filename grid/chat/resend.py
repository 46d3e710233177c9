"""End to end: which of this node's chats await their target's receipt, and which targets came back.

Per-hop retries (:mod:`nodes.chatroute`) end when a relay is acknowledged or
given up; a chat is done only when its target's receipt says ``delivered``.
Until then it is sent again, as a new relay, after ``resend_s`` (doubling up
to :data:`RESEND_CAP_S`), and at once when the view shows its target back:
live again, or live in a new incarnation (it restarted). The target drops
the copies it has already delivered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from protocol.chat import Chat

from .config import RESEND_CAP_S

#: What the view says of a target: (incarnation, live); (-1, False) when it does not know it.
Mark = tuple[int, bool]
UNSEEN: Mark = (-1, False)


@dataclass
class Unconfirmed:
    """One of this node's chats its target has not confirmed yet, and when to send it again."""

    chat: Chat
    due: float
    tries: int = 0


class Resends:
    """This node's unconfirmed chats, by (peer, chat id)."""

    def __init__(self, resend_s: float) -> None:
        self.resend_s = resend_s
        self.pending: dict[tuple[str, str], Unconfirmed] = {}

    def add(self, chat: Chat, now: float) -> Unconfirmed:
        """Track a chat until its target confirms it; it is due at once."""
        pending = self.pending[(chat.to, chat.chat_id or "")] = Unconfirmed(chat, due=now)
        return pending

    def sent(self, pending: Unconfirmed, now: float) -> None:
        """``pending`` is (re)sent now: next time after the back-off."""
        pending.tries += 1
        pending.due = now + min(RESEND_CAP_S, self.resend_s * 2 ** (pending.tries - 1))

    def confirmed(self, peer: str, through_seq: int) -> None:
        """``peer`` delivered this node's chats up to ``through_seq``."""
        for key, pending in list(self.pending.items()):
            if key[0] == peer and pending.chat.seq <= through_seq:
                del self.pending[key]

    def due(self, now: float) -> list[Unconfirmed]:
        """Chats to send again now, in their order."""
        return sorted((p for p in self.pending.values() if p.due <= now), key=lambda p: p.chat.seq)

    def to(self, targets: Iterable[str]) -> list[Unconfirmed]:
        """Chats for these targets, in their order."""
        wanted = set(targets)
        return sorted((p for p in self.pending.values() if p.chat.to in wanted), key=lambda p: p.chat.seq)

    def targets(self) -> set[str]:
        """Peers with unconfirmed chats."""
        return {peer for peer, _ in self.pending}

    def count(self, peer: str | None = None) -> int:
        """How many chats (to ``peer``, or to anyone) are unconfirmed."""
        return len(self.pending) if peer is None else sum(1 for key in self.pending if key[0] == peer)


class Comebacks:
    """Remembers how the view showed each target, to tell when one comes back."""

    def __init__(self, mark_of: Callable[[str], Mark]) -> None:
        self.mark_of = mark_of
        self._marks: dict[str, Mark] = {}

    def look(self, target: str, unseen: bool = False) -> None:
        """Remember how ``target`` looks now (``unseen``: as if unknown, so any sighting is a return)."""
        self._marks[target] = UNSEEN if unseen else self.mark_of(target)

    def first_look(self, target: str) -> None:
        """Remember ``target`` unless it is already watched."""
        if target not in self._marks:
            self.look(target)

    def back(self, changed: Iterable[str], watched: set[str]) -> set[str]:
        """Watched targets among ``changed`` that are newly live, or live in a new incarnation."""
        found = set()
        for target in watched.intersection(changed):  # a burst changes many; few are watched
            mark, before = self.mark_of(target), self._marks.get(target)
            self._marks[target] = mark
            if mark[1] and before is not None and mark != before:
                found.add(target)
        return found
