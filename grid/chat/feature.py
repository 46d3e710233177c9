"""The chat feature: support chat between nodes, routed peer to peer.

The I/O half of :mod:`protocol.chat` (messages, one conversation's order and
receipts) and :mod:`nodes.chatroute` (next hop, per-hop relay state machine).
What it does, in the node actor's thread:

- takes ``Chat``, ``ChatReceipt`` (read marks) and ``ChatTyping`` from this
  node's operator, stamps them as this node's and hands them to the router;
- carries out the router's effects: relays to the next hop or straight to the
  target, acknowledgements back to the previous hop, deliveries here;
- keeps every conversation in the node's SQLite file (:mod:`.store`) and
  answers each delivered chat with a cumulative ``delivered`` receipt;
- end to end: a chat the target has not confirmed is sent again (a new relay)
  with back-off, at once when the view shows the target back, and after a
  restart of this node; the target delivers each chat once and in order;
- publishes ``chat``, ``chat_receipt`` and ``chat_typing`` events. They carry
  no text: chats are read through ``GET /chats/{peer}``, which needs the
  ``owner`` role, while the event stream is as open as the node's reads.
"""

from __future__ import annotations

import logging
import random
import secrets
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from nodes.chatroute import AckTo, Deliver, Effect, Router, Topology, Transmit
from protocol.chat import MAX_ACK_IDS, Chat, ChatAck, ChatItem, ChatReceipt, ChatRelay, ChatTyping, Conversation, relay
from protocol.envelopes import Envelope, tell
from protocol.errors import BadMessage, Conflict, Forbidden, NotFound

from ..node.commands import Outcome
from ..node.feature import Feature, MessageHandler, QueryHandler
from . import views
from .config import ChatSettings
from .resend import Comebacks, Mark, Resends, Unconfirmed
from .store import ChatStore

if TYPE_CHECKING:
    from grid.node.actor import NodeActor

log = logging.getLogger("grid.chat")

#: How long a "typing" signal counts without a refresh.
TYPING_SHOW_S = 6.0


class ChatFeature(Feature):
    """Conversations, relaying and receipts of one node."""

    name = "chat"

    def __init__(self, settings: ChatSettings) -> None:
        self.settings = settings
        self.conversations: dict[str, Conversation] = {}
        self.unconfirmed = Resends(settings.resend_s)
        self.comebacks = Comebacks(self._mark)
        self.typing: dict[str, tuple[bool, int, float]] = {}  # peer -> (typing, at ms, counts until)
        self._routes: dict[tuple[str, int, int], tuple[str, ...]] = {}  # (peer, epoch, seq) of held chats -> route
        self._topo: Topology | None = None
        self._armed: float | None = None
        #: Copies of chats delivered here already, dropped (retries and second routes make them).
        self.duplicates = 0

    # ---------------------------------------------------------------- lifecycle
    def attach(self, node: "NodeActor") -> None:
        super().attach(node)
        self.me = node.config.id
        seed = f"{self.me}/chat/{node.core.me.incarnation}"
        self.router = Router(self.me, self.settings.router, random.Random(seed))

    def start(self) -> None:
        self.store = ChatStore(self.node.store)
        self.epoch = self.store.epoch(self.node.scheduler.wall_ms())
        self.conversations = self.store.conversations()
        now = self.node.scheduler.now()
        for conv in self.conversations.values():
            for chat in self.store.unconfirmed(self.me, conv.peer, self.epoch, conv.out_delivered):
                # Sent when the view shows the target (on_view_change), or at the next heartbeat.
                self.unconfirmed.add(chat, now)
                self.comebacks.look(conv.peer, unseen=True)  # its first sighting counts as a return

    def handlers(self) -> dict[str, MessageHandler]:
        return {
            "Chat": self._on_chat,
            "ChatReceipt": self._on_read_mark,
            "ChatTyping": self._on_typing,
            "ChatRelay": self._on_relay,
            "ChatAck": self._on_ack,
        }

    def queries(self) -> dict[str, QueryHandler]:
        return {"list": lambda params: views.listing(self), "show": lambda params: views.conversation(self, params)}

    def on_heartbeat(self, now: float) -> None:
        self._topo = None  # entries may have gone stale
        for target in self._watched():
            self.comebacks.look(target)
        if self.router.outbox:  # an idle node builds no topology
            self._run(self.router.tick(now, self.topology()))
        for pending in self.unconfirmed.due(now):
            self._resend(pending, now)

    def on_view_change(self, changed: list[str]) -> None:
        self._topo = None
        back = self.comebacks.back(changed, self._watched())
        if not back:
            return
        now = self.node.scheduler.now()
        log.info("%s: chat targets %s are back; resending", self.node.config.name, sorted(back))
        self._run(self.router.wake(back, now, self.topology()))
        for pending in self.unconfirmed.to(back):
            self._resend(pending, now)

    def state(self) -> dict[str, Any]:
        return {
            "conversations": len(self.conversations),
            "unread": sum(conv.unread for conv in self.conversations.values()),
            "unconfirmed": self.unconfirmed.count(),
            "relaying": len(self.router.outbox),
            "duplicates": self.duplicates,
            "direct": self.settings.router.direct,
            "support": self.settings.support,
        }

    # ---------------------------------------------------------------- operator messages
    def _on_chat(self, env: Envelope) -> Outcome:
        chat: Chat = env.message  # type: ignore[assignment]
        self._speaks_for_itself(chat.sender)
        peer = self._peer(chat.to)
        if chat.chat_id is not None and (held := self.store.find(peer, "out", chat.chat_id)) is not None:
            return Outcome(200, {"status": "unchanged", "chatId": chat.chat_id, "seq": held["seq"], "to": peer})
        conv = self._conversation(peer)
        seq = conv.next_seq()
        chat_id = chat.chat_id or self._new_chat_id(peer, seq)
        now_ms = self.node.scheduler.wall_ms()
        chat = chat.model_copy(update={"sender": self.me, "chat_id": chat_id, "sent": now_ms, "epoch": self.epoch,
                                       "seq": seq})  # fmt: skip
        with self.store.transaction():
            self.store.add(peer, "out", chat, now_ms)
            self.store.save(conv)
        self._publish_chat(peer, "out", chat)
        self.comebacks.look(peer)
        pending = self.unconfirmed.add(chat, self.node.scheduler.now())
        self._resend(pending, pending.due)
        live = self.node.core.is_live(peer)
        return Outcome(202, {"status": "accepted" if live else "queued", "chatId": chat_id, "seq": seq, "to": peer})

    def _on_read_mark(self, env: Envelope) -> Outcome:
        mark: ChatReceipt = env.message  # type: ignore[assignment]
        self._speaks_for_itself(mark.sender)
        if mark.delivered or mark.epoch:
            raise BadMessage("an operator marks chats read (chatId or read); the node says what was delivered",
                             code="node_field")  # fmt: skip
        conv = self.conversations.get(mark.to)
        if conv is None or conv.in_epoch == 0:
            raise NotFound(f"no chat from {mark.to} here", code="unknown_conversation")
        through = mark.read or conv.in_delivered
        if mark.chat_id is not None:
            held = self.store.find(mark.to, "in", mark.chat_id)
            if held is None or held["epoch"] != conv.in_epoch:
                raise NotFound(f"no chat {mark.chat_id!r} from {mark.to} here", code="unknown_chat")
            through = held["seq"]
        moved = conv.mark_read(through)
        answer = {"status": "accepted" if moved else "unchanged", "peer": conv.peer, "read": conv.in_read,
                  "unread": conv.unread}  # fmt: skip
        if moved:
            self.store.save(conv)
            self.node.events.publish("chat_receipt", {"peer": conv.peer, "direction": "in", "delivered":
                                                      conv.in_delivered, "read": conv.in_read, "unread": conv.unread})  # fmt: skip
            self._send_receipt(conv)
        return Outcome(202 if moved else 200, answer)

    def _on_typing(self, env: Envelope) -> Outcome:
        signal: ChatTyping = env.message  # type: ignore[assignment]
        self._speaks_for_itself(signal.sender)
        peer = self._peer(signal.to)
        item = signal.model_copy(update={"sender": self.me, "at": self.node.scheduler.wall_ms()})
        self.comebacks.first_look(peer)
        sent = self._originate(item, key=f"typing:{peer}")
        return Outcome(202, {"status": "accepted" if sent else "not_sent", "to": peer, "typing": signal.typing})

    def _speaks_for_itself(self, sender: str | None) -> None:
        if sender not in (None, self.me):
            raise Forbidden(f"this is node {self.me}; it speaks only for itself", code="not_this_node")

    def _peer(self, peer: str) -> str:
        if peer == self.me:
            raise Conflict("a node does not chat with itself", code="chat_to_self")
        if peer not in self.node.core.view and peer not in self.conversations:
            raise NotFound(f"node {peer!r} is not in this node's view", code="unknown_node")
        return peer

    def _new_chat_id(self, peer: str, seq: int) -> str:
        chat_id = f"{self.epoch}-{seq}"
        if self.store.find(peer, "out", chat_id) is not None:  # an operator chose this id before
            chat_id = f"{chat_id}-{secrets.token_hex(4)}"
        return chat_id

    # ---------------------------------------------------------------- peer messages
    def _on_relay(self, env: Envelope) -> Outcome:
        got: ChatRelay = env.message  # type: ignore[assignment]
        if env.env_type != "Tell" or env.return_id is None:
            raise BadMessage("ChatRelay is a Tell between nodes and needs returnId", code="missing_return_id")
        if got.route[-1] != env.return_id:
            raise BadMessage("the route must end with the node that sends it", code="route_mismatch")
        now = self.node.scheduler.now()
        self.comebacks.first_look(got.target)
        self._run(self.router.receive(env.return_id, got, now, self.topology()))
        return Outcome(202, {"status": "accepted"})

    def _on_ack(self, env: Envelope) -> Outcome:
        ack: ChatAck = env.message  # type: ignore[assignment]
        if env.env_type != "Tell" or env.return_id is None:
            raise BadMessage("ChatAck is a Tell between nodes and needs returnId", code="missing_return_id")
        self.router.acked(ack.relay_ids)
        return Outcome(202, {"status": "accepted"})

    # ---------------------------------------------------------------- routing effects
    def topology(self) -> Topology:
        """The live topology of this node's view (cached until the view changes)."""
        core = self.node.core
        if self._topo is None or self._topo.siblings != frozenset(s for s in core.siblings if core.is_live(s)):
            listed = {entry.origin: entry.siblings for entry in core.live_entries()}
            self._topo = Topology.from_view(self.me, listed, core.siblings)
        return self._topo

    def _originate(self, item: ChatItem, key: str) -> bool:
        """Hand a new relay of ``item`` to the router; True when it left at once."""
        effects = self.router.originate(relay(secrets.token_hex(8), item), self.node.scheduler.now(),
                                        self.topology(), key)  # fmt: skip
        self._run(effects)
        return any(isinstance(effect, Transmit) for effect in effects)

    def _run(self, effects: list[Effect]) -> None:
        acks: dict[str, list[str]] = defaultdict(list)
        for effect in effects:
            if isinstance(effect, Transmit):
                self._transmit(effect)
            elif isinstance(effect, AckTo):
                acks[effect.to].extend(effect.relay_ids)
            elif isinstance(effect, Deliver):
                self._deliver(effect.relay)
            else:
                log.debug("%s: dropped %s relay %s: %s", self.node.config.name, effect.relay.kind,
                          effect.relay.relay_id, effect.reason)  # fmt: skip
        for to, relay_ids in acks.items():
            address = self._address_of(to)
            for start in range(0, len(relay_ids), MAX_ACK_IDS) if address else ():
                ack = ChatAck(relay_ids=tuple(relay_ids[start : start + MAX_ACK_IDS]))
                self.node.send_to(address, tell(ack, return_id=self.me))  # type: ignore[arg-type]
        self._arm()

    def _transmit(self, effect: Transmit) -> None:
        relay_id, attempt = effect.relay.relay_id, effect.attempt

        def failed(reason: str) -> None:  # from the transport, on any thread
            self.node.call_later(0, self._failed, relay_id, attempt, reason)

        address = self._address_of(effect.to)
        if address is None:
            failed("no address")
            return
        self.node.send_to(address, tell(effect.relay, return_id=self.me), failed)

    def _failed(self, relay_id: str, attempt: int, reason: str) -> None:
        log.debug("%s: chat relay %s attempt %d failed: %s", self.node.config.name, relay_id, attempt, reason)
        self._run(self.router.failed(relay_id, attempt, self.node.scheduler.now(), self.topology()))

    def _address_of(self, node_id: str) -> str | None:
        sibling = self.node.core.siblings.get(node_id)
        if sibling is not None:
            return sibling.address
        entry = self.node.core.view.get(node_id)
        return entry.address if entry is not None else None

    def _arm(self) -> None:
        """Keep one timer at the router's next due time."""
        due = self.router.next_due()
        if due is None or (self._armed is not None and self._armed <= due):
            return
        self._armed = due
        self.node.call_later(max(0.0, due - self.node.scheduler.now()), self._fire, due)

    def _fire(self, due: float) -> None:
        if self._armed == due:
            self._armed = None
        self._run(self.router.tick(self.node.scheduler.now(), self.topology()))

    # ---------------------------------------------------------------- deliveries
    def _deliver(self, arrived: ChatRelay) -> None:
        if arrived.chat is not None:
            self._deliver_chat(arrived.origin, arrived.chat, arrived.route)
        elif arrived.receipt is not None:
            self._take_receipt(arrived.origin, arrived.receipt)
        elif arrived.typing is not None:
            self._take_typing(arrived.origin, arrived.typing)

    def _deliver_chat(self, peer: str, chat: Chat, route: tuple[str, ...]) -> None:
        conv = self._conversation(peer)
        before = (conv.in_epoch, conv.in_delivered)
        ready, verdict = conv.accept(chat)
        if verdict == "held":
            self._routes[(peer, chat.epoch, chat.seq)] = (*route, self.me)
        if (conv.in_epoch, conv.in_delivered) != before:
            now_ms = self.node.scheduler.wall_ms()
            with self.store.transaction():
                for c in ready:
                    hops = (*route, self.me) if c is chat else self._routes.pop((peer, c.epoch, c.seq), ())
                    self.store.add(peer, "in", c, now_ms, hops)
                self.store.save(conv)
            self._routes = {k: v for k, v in self._routes.items() if k[0] != peer or k[1] == conv.in_epoch}
            for c in ready:
                self._publish_chat(peer, "in", c)
            if self.typing.get(peer, (False,))[0]:  # a chat ends the typing that wrote it
                self._take_typing(peer, ChatTyping(sender=peer, to=self.me, typing=False, at=ready[-1].sent or 0))
        self.duplicates += verdict == "duplicate"
        if verdict in ("new", "duplicate"):
            self._send_receipt(conv)  # again for a duplicate: the sender missed the first one

    def _send_receipt(self, conv: Conversation) -> None:
        receipt = ChatReceipt(sender=self.me, to=conv.peer, epoch=conv.in_epoch, delivered=conv.in_delivered,
                              read=conv.in_read, at=self.node.scheduler.wall_ms())  # fmt: skip
        self._originate(receipt, key=f"receipt:{conv.peer}")

    def _take_receipt(self, peer: str, receipt: ChatReceipt) -> None:
        conv = self.conversations.get(peer)
        if conv is None or not conv.take_receipt(receipt, self.epoch):
            return
        self.store.save(conv)
        self.unconfirmed.confirmed(peer, conv.out_delivered)
        self.node.events.publish("chat_receipt", {"peer": peer, "direction": "out", "delivered": conv.out_delivered,
                                                  "read": conv.out_read})  # fmt: skip

    def _take_typing(self, peer: str, signal: ChatTyping) -> None:
        held = self.typing.get(peer)
        if held is not None and signal.at < held[1]:
            return  # an older signal overtaken by a newer one
        self.typing[peer] = (signal.typing, signal.at, self.node.scheduler.now() + TYPING_SHOW_S)
        self.node.events.publish("chat_typing", {"peer": peer, "typing": signal.typing, "at": signal.at})

    def typing_now(self, peer: str) -> bool:
        """Whether ``peer``'s operator is typing to this node, as last signalled."""
        held = self.typing.get(peer)
        return held is not None and held[0] and held[2] > self.node.scheduler.now()

    # ---------------------------------------------------------------- end to end
    def _resend(self, pending: Unconfirmed, now: float) -> None:
        """Send an unconfirmed chat (again), unless a relay of it is still leaving from here."""
        self.unconfirmed.sent(pending, now)
        key = f"chat:{pending.chat.to}:{pending.chat.chat_id}"
        if not self.router.holds(key):
            self._originate(pending.chat, key)

    def _watched(self) -> set[str]:
        """Targets something here waits for: unconfirmed chats, relays in the outbox."""
        return self.unconfirmed.targets() | self.router.waiting_for()

    def _mark(self, target: str) -> Mark:
        entry = self.node.core.view.get(target)
        return (entry.incarnation if entry is not None else -1, self.node.core.is_live(target))

    # ---------------------------------------------------------------- helpers
    def _conversation(self, peer: str) -> Conversation:
        conv = self.conversations.get(peer)
        if conv is None:
            conv = self.conversations[peer] = Conversation(peer)
        return conv

    def _publish_chat(self, peer: str, direction: str, chat: Chat) -> None:
        self.node.events.publish("chat", {"peer": peer, "direction": direction, "chatId": chat.chat_id,
                                          "seq": chat.seq, "from": chat.sender, "to": chat.to, "sent": chat.sent})  # fmt: skip
