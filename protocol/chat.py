"""Support chat between nodes: message shapes and the rules of one conversation.

Rules (theory of operation):
- An operator sends :class:`Chat`, :class:`ChatReceipt` (a read mark) and
  :class:`ChatTyping` to its *own* node (role ``owner``). The node fills in
  what only it may say: ``from`` (itself; an operator speaks for no other
  node), the sending time, and for a chat its ``epoch`` and ``seq``.
- Between nodes every one of them travels inside a :class:`ChatRelay`
  (``from_peers``): hop by hop along siblings, or straight to the target's
  address. Each hop answers with a :class:`ChatAck` naming the relay ids it
  took; ``route`` lists the nodes the relay went through (origin first) and
  ``ttl`` how many more hops it may take, so a relay can neither loop nor
  wander (:mod:`nodes.chatroute` owns the forwarding rules).
- Order: a node numbers its chats to each peer 1, 2, 3, ... (``seq``) within
  its ``epoch`` (fixed for the life of its database). The receiving node
  delivers them in that order, holding back any that arrive early, and drops
  any it has delivered already, so a chat is shown exactly once however many
  copies retries and alternative routes bring (:class:`Conversation`).
- Receipts are cumulative: ``delivered`` and ``read`` say "every chat of yours
  up to this ``seq``". Merging keeps the maximum, so a lost, repeated or late
  receipt can never move a status backwards.
- Typing signals are ephemeral: the newest ``at`` wins, nothing is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from .base import Message
from .limits import MAX_TEXT_LEN, Counter, EpochMillis, NodeId

#: Most hops a relay may take (and so the longest route it can carry).
MAX_HOPS = 32
#: Most relay ids one ChatAck may name.
MAX_ACK_IDS = 256
#: Most chats a conversation holds back while waiting for an earlier one.
MAX_HELD = 256

#: The text of one chat: 1 to MAX_TEXT_LEN characters, not only white space.
ChatText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT_LEN)]

Verdict = Literal["new", "held", "duplicate", "stale", "overflow"]


class Chat(Message):
    """One chat message from node ``from`` to node ``to``.

    From an operator only ``to`` and ``text`` are needed (``chatId`` is
    optional, for idempotent retries); the node assigns the rest.
    """

    msg_type = "Chat"
    chat_id: NodeId | None = None
    sender: NodeId | None = Field(default=None, alias="from")
    to: NodeId
    text: ChatText
    sent: EpochMillis | None = None
    epoch: Counter = 0
    seq: Counter = 0

    @field_validator("text")
    @classmethod
    def _not_blank(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("text must not be blank")
        return text


class ChatReceipt(Message):
    """How far node ``from`` has got with the chats node ``to`` sent it.

    ``delivered`` and ``read`` are cumulative sequence numbers in ``to``'s
    ``epoch``. From an operator it is a read mark: ``to`` is the peer, and
    either ``chatId`` (read up to that chat), ``read`` (up to that seq) or
    neither (everything delivered so far).
    """

    msg_type = "ChatReceipt"
    sender: NodeId | None = Field(default=None, alias="from")
    to: NodeId
    chat_id: NodeId | None = None
    epoch: Counter = 0
    delivered: Counter = 0
    read: Counter = 0
    at: EpochMillis = 0


class ChatTyping(Message):
    """Node ``from``'s operator is (or stopped) typing to node ``to``."""

    msg_type = "ChatTyping"
    sender: NodeId | None = Field(default=None, alias="from")
    to: NodeId
    typing: bool = True
    at: EpochMillis = 0


ChatItem = Chat | ChatReceipt | ChatTyping
Kind = Literal["chat", "receipt", "typing"]


class ChatRelay(Message):
    """A chat, receipt or typing signal on its way between nodes (exactly one of the three).

    ``relayId`` names this copy for per-hop acknowledgement and de-duplication
    (a hop-level resend keeps it; an end-to-end resend gets a new one).
    ``route`` is every node it went through, origin first, sender last.
    """

    msg_type = "ChatRelay"
    from_peers = True
    relay_id: NodeId
    ttl: Annotated[int, Field(ge=0, le=MAX_HOPS)]
    route: Annotated[tuple[NodeId, ...], Field(min_length=1, max_length=MAX_HOPS + 1)]
    chat: Chat | None = None
    receipt: ChatReceipt | None = None
    typing: ChatTyping | None = None

    @model_validator(mode="after")
    def _one_complete_item(self) -> "ChatRelay":
        items = [item for item in (self.chat, self.receipt, self.typing) if item is not None]
        if len(items) != 1:
            raise ValueError("a relay carries exactly one of chat, receipt, typing")
        item = items[0]
        if item.sender != self.route[0]:
            raise ValueError("the item's from must be the route's first node")
        if item.to == item.sender:
            raise ValueError("from and to must differ")
        if isinstance(item, Chat) and (item.chat_id is None or item.seq < 1 or item.sent is None):
            raise ValueError("a relayed chat carries chatId, seq >= 1 and sent")
        if len(set(self.route)) != len(self.route):
            raise ValueError("a route visits each node once")
        return self

    @property
    def item(self) -> ChatItem:
        """The chat, receipt or typing signal carried."""
        return self.chat or self.receipt or self.typing  # type: ignore[return-value]

    @property
    def kind(self) -> Kind:
        """``chat``, ``receipt`` or ``typing``."""
        return "chat" if self.chat else "receipt" if self.receipt else "typing"

    @property
    def origin(self) -> str:
        """The node that sent the item."""
        return self.route[0]

    @property
    def target(self) -> str:
        """The node the item is for."""
        return self.item.to


class ChatAck(Message):
    """A hop took these relays (delivered, forwarded, or already had them)."""

    msg_type = "ChatAck"
    from_peers = True
    relay_ids: Annotated[tuple[NodeId, ...], Field(min_length=1, max_length=MAX_ACK_IDS)]


def relay(relay_id: str, item: ChatItem, max_hops: int = MAX_HOPS) -> ChatRelay:
    """A new relay of ``item`` leaving its origin (``item.sender``)."""
    field_name = "chat" if isinstance(item, Chat) else "receipt" if isinstance(item, ChatReceipt) else "typing"
    return ChatRelay.model_validate(
        {"relay_id": relay_id, "ttl": max_hops, "route": (item.sender,), field_name: item}
    )


def forwarded(relay_: ChatRelay, via: str) -> ChatRelay:
    """``relay_`` as node ``via`` passes it on: one hop more in its route, one less to go."""
    return relay_.model_copy(update={"route": (*relay_.route, via), "ttl": relay_.ttl - 1})


@dataclass
class Conversation:
    """What one node knows of its conversation with one peer (both directions).

    Incoming (the peer's chats): ``in_epoch``, the highest seq delivered in
    order (``in_delivered``) and read by this node's operator (``in_read``),
    plus chats held back until the gap before them fills. Outgoing (this
    node's chats): the last seq used (``out_seq``) and how far the peer said
    it delivered and read them.
    """

    peer: str
    in_epoch: int = 0
    in_delivered: int = 0
    in_read: int = 0
    out_seq: int = 0
    out_delivered: int = 0
    out_read: int = 0
    held: dict[int, Chat] = field(default_factory=dict)

    @property
    def unread(self) -> int:
        """The peer's chats delivered here and not yet read."""
        return self.in_delivered - self.in_read

    def accept(self, chat: Chat) -> tuple[list[Chat], Verdict]:
        """Take one of the peer's chats; returns the chats now deliverable, in order.

        A newer epoch means the peer lost its database and counts from 1
        again: what was held for the old epoch is dropped. A chat of an older
        epoch, or one already delivered, is dropped (``stale``, ``duplicate``).
        """
        if chat.epoch < self.in_epoch:
            return [], "stale"
        if chat.epoch > self.in_epoch:
            self.in_epoch, self.in_delivered, self.in_read, self.held = chat.epoch, 0, 0, {}
        if chat.seq <= self.in_delivered or chat.seq in self.held:
            return [], "duplicate"
        if chat.seq != self.in_delivered + 1:
            if len(self.held) >= MAX_HELD:
                return [], "overflow"  # the sender retries later
            self.held[chat.seq] = chat
            return [], "held"
        ready = [chat]
        self.in_delivered = chat.seq
        while self.in_delivered + 1 in self.held:
            ready.append(self.held.pop(self.in_delivered + 1))
            self.in_delivered += 1
        return ready, "new"

    def mark_read(self, through: int) -> bool:
        """The operator read the peer's chats up to ``through`` (clamped to what was delivered)."""
        through = min(through, self.in_delivered)
        if through <= self.in_read:
            return False
        self.in_read = through
        return True

    def next_seq(self) -> int:
        """Number the next outgoing chat."""
        self.out_seq += 1
        return self.out_seq

    def take_receipt(self, receipt: ChatReceipt, my_epoch: int) -> bool:
        """Merge the peer's receipt for this node's chats; True when a status moved.

        Receipts of another epoch (this node's previous database) are ignored,
        and no receipt can claim more than this node has sent.
        """
        if receipt.epoch != my_epoch:
            return False
        read = min(receipt.read, self.out_seq)
        delivered = max(min(receipt.delivered, self.out_seq), read)  # read implies delivered
        moved = delivered > self.out_delivered or read > self.out_read
        self.out_delivered = max(self.out_delivered, delivered)
        self.out_read = max(self.out_read, read)
        return moved

    def status_of(self, seq: int) -> Literal["sent", "delivered", "read"]:
        """Where one outgoing chat stands."""
        if seq <= self.out_read:
            return "read"
        return "delivered" if seq <= self.out_delivered else "sent"


__all__ = [
    "MAX_ACK_IDS",
    "MAX_HELD",
    "MAX_HOPS",
    "Chat",
    "ChatAck",
    "ChatItem",
    "ChatReceipt",
    "ChatRelay",
    "ChatTyping",
    "Conversation",
    "forwarded",
    "relay",
]
