"""The node actor: one pykka actor owns one node's state and gossip core.

Everything that changes a node happens here, one message at a time: inbound
envelopes, timer ticks, delivery failures. The actor never blocks on another
actor or on the network: it hands envelopes to the transport and learns of
failures through messages to itself.
"""

from __future__ import annotations

import itertools
import logging
import random
from typing import Any, Callable

import pykka

from nodes.market import manual_offer
from protocol.entry import Entry, kw_to_watts
from protocol.envelopes import Envelope, tell
from protocol.errors import BadMessage, Conflict, Forbidden, GridError, NotFound, Overloaded
from protocol.gossip import GossipCore, Send
from protocol.messages import SyncGrid, UpdateEnergy, UpdateNet

from ..runtime import LoopActor, Reply, Scheduler
from ..store import NodeStore
from ..transport.base import Transport
from . import report
from ..events import EventHub
from .commands import AskResult, Call, DeliveryFailed, Flush, Inbound, Leave, Outcome, Query, Tick
from .config import NodeConfig
from .feature import Feature, MessageHandler, QueryHandler
from .linking import Linker

log = logging.getLogger("grid.node")

#: Called in the actor's thread with the node's gossip core (read only) and the
#: origins whose entry just changed. Must be quick: it runs on the hot path.
Observer = Callable[[GossipCore, list[str]], None]


class NodeActor(pykka.ThreadingActor):
    """One grid node: its entry, its view of the grid, its siblings."""

    use_daemon_thread = True

    def __init__(
        self,
        config: NodeConfig,
        transport: Transport,
        scheduler: Scheduler,
        observers: list[Observer] | None = None,
        dev_mode: bool = True,
        features: list[Feature] | None = None,
        events: EventHub | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.transport = transport
        self.scheduler = scheduler
        self.observers = list(observers or [])
        self.dev_mode = dev_mode
        self.features = list(features or [])
        self.events = events or EventHub()
        self.handlers: dict[str, MessageHandler] = {}
        self.feature_queries: dict[str, QueryHandler] = {}
        self._flush_due = False
        self._last_summary: tuple[Any, ...] | None = None
        self._rounds = itertools.count(1)
        #: A reading applied but not yet stored, and the answers that wait for it (see _save_reading).
        self._unsaved_reading: tuple[int, int] | None = None
        self._held_replies: list[tuple[Reply, Outcome]] = []

    # ------------------------------------------------------------------ lifecycle
    def on_start(self) -> None:
        cfg = self.config
        self.store = NodeStore(cfg.store_path)
        incarnation = self.store.next_incarnation(floor=self.scheduler.wall_ms() // 1000 if not cfg.data_dir else 0)
        self.reading = self.store.load_energy()
        production_w, consumption_w = self.reading
        me = Entry(
            origin=cfg.id, incarnation=incarnation, version=0, name=cfg.name, address=cfg.address,
            kind=cfg.kind, production_w=production_w, consumption_w=consumption_w,
        )  # fmt: skip
        self.core = GossipCore(me, self.scheduler.now(), cfg.gossip)
        self.rng = random.Random(f"{cfg.id}/{incarnation}")
        self.linker = Linker(self)
        self._attach_features()
        for record in self.store.siblings():
            self.linker.restore(record)
        for feature in self.features:
            feature.start()
        log.info("%s (id %s) up at %s, incarnation %d, %d siblings", cfg.name, cfg.id, cfg.address,
                 incarnation, len(self.core.siblings))  # fmt: skip
        self._schedule("heartbeat", self.rng.uniform(0.5, 1.0) * cfg.gossip.heartbeat_s)
        self._schedule("sync", self.rng.uniform(0.5, 1.0) * cfg.gossip.sync_interval_s)
        self._after_change([])

    def _attach_features(self) -> None:
        # Hooks on the path of every message: call only the features that override them.
        self._view_watchers = [f for f in self.features if _overrides(f, "on_view_change")]
        self._curtailers = [f for f in self.features if _overrides(f, "curtailment_w")]
        self.handlers = dict(self.linker.handlers)
        for feature in self.features:
            feature.attach(self)
            self.transport = feature.wrap_transport(self.transport)
            for msg_type, handler in feature.handlers().items():
                if msg_type in self.handlers:
                    raise ValueError(f"{msg_type} is handled twice (feature {feature.name})")
                self.handlers[msg_type] = handler
            for name, query in feature.queries().items():
                self.feature_queries[f"{feature.name}.{name}"] = query

    def on_stop(self) -> None:
        if self._unsaved_reading is not None:
            self._save_reading(self._unsaved_reading)
        for feature in self.features:
            feature.stop()
        self.store.close()

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        log.error("%s stopped by an internal error: %r", self.config.name, exception_value)
        self._refuse_held("the node stopped before storing the reading")
        self.store.close()

    # ------------------------------------------------------------------ dispatch
    def on_receive(self, message: Any) -> Any:
        self._receive(message)
        if self._unsaved_reading is not None and not self.more_mail_in_batch():
            self._save_reading(self._unsaved_reading)
        return None

    def more_mail_in_batch(self) -> bool:
        """Whether another message is handled right after this one, in the same run.

        A thread of its own handles mail as it comes: every message is a batch.
        """
        return False

    def _receive(self, message: Any) -> None:
        changed: list[str] = []
        if isinstance(message, Inbound):
            changed = self._inbound(message)
        elif isinstance(message, Flush):
            self._flush_due = False
            self.emit(self.core.flush(self.scheduler.now()))
        elif isinstance(message, Tick):
            self._tick(message.duty)
        elif isinstance(message, DeliveryFailed):
            self._delivery_failed(message)
        elif isinstance(message, AskResult):
            self.linker.answered(message)
        elif isinstance(message, Call):
            message.fn(*message.args)
        elif isinstance(message, Query):
            message.reply.send(self._query(message))
            return
        elif isinstance(message, Leave):
            self._leave(message)
            return
        self._after_change(changed)

    def _inbound(self, inbound: Inbound) -> list[str]:
        changed: list[str] = []
        try:
            outcome, changed = self._route(inbound.envelope)
        except GridError as exc:
            outcome = Outcome(exc.status, exc.to_json())
        if inbound.reply is not None:
            if self._unsaved_reading is not None:  # answered once the reading is stored
                self._held_replies.append((inbound.reply, outcome))
            else:
                inbound.reply.send(outcome)
        return changed

    def _save_reading(self, reading: tuple[int, int]) -> None:
        """Store the last reading applied, then send the answers that waited for it.

        A group commit: the readings of one batch of messages cost one SQLite
        transaction (the last reading is all the store keeps), and no 202 goes
        out before the reading it acknowledges is stored. A failed write
        answers 503 and stops the actor, as any internal error does.
        """
        self._unsaved_reading = None
        try:
            self.store.save_energy(*reading)
        except Exception:
            self._refuse_held("the reading could not be stored")
            raise
        held, self._held_replies = self._held_replies, []
        for reply, outcome in held:
            reply.send(outcome)

    def _refuse_held(self, detail: str) -> None:
        held, self._held_replies = self._held_replies, []
        for reply, _ in held:
            reply.send(Outcome(503, Overloaded(detail, code="storage_failed").to_json()))

    def _route(self, env: Envelope) -> tuple[Outcome, list[str]]:
        msg = env.message
        if env.env_type == "Ask" and msg.msg_type != "AddSibling" and env.return_id not in self.core.siblings:
            raise Forbidden(f"only siblings may Ask {msg.msg_type}", code="not_a_sibling")
        if env.env_type == "Response" and msg.msg_type != "AddSibling":
            raise Conflict(f"no {msg.msg_type} request is waiting for a response", code="unexpected_response")
        if env.is_peer and not msg.from_peers and msg.msg_type != "AddSibling":
            # One rule for every operator-only type (readings, controls, dispatches, chats, keys):
            # another node may not send it, not even as an Ask.
            raise Forbidden(f"{msg.msg_type} comes from an operator, never from another node", code="not_a_peer_message")
        if isinstance(msg, UpdateNet):
            return self._update_net(env, msg)
        if isinstance(msg, SyncGrid):
            return self._sync_grid(env, msg), []
        if isinstance(msg, UpdateEnergy):
            return self._update_energy(env, msg), [self.core.origin]
        handler = self.handlers.get(msg.msg_type)
        if handler is not None:
            return handler(env), []
        raise BadMessage(f"{msg.msg_type} is not handled by this node", code="unsupported")

    # ------------------------------------------------------------------ messages
    def _update_net(self, env: Envelope, msg: UpdateNet) -> tuple[Outcome, list[str]]:
        if env.return_id is None:
            raise BadMessage("UpdateNet comes from peers and needs returnId", code="missing_return_id")
        changed = self.core.receive_update(env.return_id, msg, self.scheduler.now())
        return Outcome(202, {"status": "accepted", "new": len(changed)}), changed

    def _sync_grid(self, env: Envelope, msg: SyncGrid) -> Outcome:
        now = self.scheduler.now()
        if msg.digest is not None and env.return_id is not None:
            if env.return_id not in self.core.siblings:
                raise Forbidden(f"{env.return_id} is not a sibling", code="not_a_sibling")
            self.emit(self.core.receive_digest(env.return_id, msg, now))
            return Outcome(202, {"status": "accepted"})
        round_id = msg.round or f"{self.core.origin}.{self.core.me.incarnation}.{next(self._rounds)}"
        self.emit(self.core.join_round(round_id))
        return Outcome(202, {"status": "syncing", "round": round_id, "siblings": len(self.core.siblings)})

    def _update_energy(self, env: Envelope, msg: UpdateEnergy) -> Outcome:
        if self.config.kind != "manual":
            # Its model publishes the readings; a typed one would be overwritten at the next step.
            raise Conflict(f"a {self.config.kind} node takes its values from its model", code="model_node")
        production_w, consumption_w = kw_to_watts(msg.production), kw_to_watts(msg.consumption)
        self._unsaved_reading = (production_w, consumption_w)  # stored before the answer goes out
        self.set_reading(production_w, consumption_w, offer=manual_offer(production_w, consumption_w))
        return Outcome(202, {"status": "accepted", "net": self.core.me.net_w / 1000})

    # ------------------------------------------------------------------ timers
    def _schedule(self, duty: str, delay: float) -> None:
        self.scheduler.call_later(delay, self._tell_self, Tick(duty))

    def _tell_self(self, message: Any) -> None:
        try:
            self.actor_ref.tell(message)
        except pykka.ActorDeadError:
            pass  # stopped meanwhile

    def _tick(self, duty: str) -> None:
        now = self.scheduler.now()
        gossip = self.config.gossip
        if duty == "heartbeat":
            self._expire(now)
            # Publish the view digest with the refresh: others can then tell who
            # computes the price from the same view, at no extra message.
            self.core.heartbeat(now, view_digest=self.core.view_digest())
            for feature in self.features:
                feature.on_heartbeat(now)
            self._schedule("heartbeat", gossip.heartbeat_s * self.rng.uniform(0.9, 1.1))
        elif duty == "sync":
            self.emit(self.core.sync_targets(self.rng))
            self._schedule("sync", gossip.sync_interval_s * self.rng.uniform(0.8, 1.2))

    def _expire(self, now: float) -> None:
        for origin in self.core.expire(now):
            log.info("%s: %s is stale (no news for %.1f s)", self.config.name, origin, self.config.gossip.ttl_s)

    # ------------------------------------------------------------------ sending
    def emit(self, sends: list[Send]) -> None:
        """Hand each effect to the transport, addressed to the sibling's endpoint."""
        for send in sends:
            sibling = self.core.siblings.get(send.to)
            if sibling is None:
                continue  # unlinked meanwhile
            envelope = tell(send.message, return_id=self.core.origin)
            self.transport.send(sibling.address, envelope, self._failure_reporter(send.to, sibling.address))

    def send_to(self, address: str, envelope: Envelope, on_fail: Callable[[str], None] | None = None) -> None:
        """Send one envelope to any node address (features: routing, replies)."""
        self.transport.send(address, envelope, on_fail or (lambda reason: None))

    def set_reading(self, production_w: int, consumption_w: int, **fields: Any) -> None:
        """Publish a meter reading (and any other entry fields), after curtailment.

        ``consumption_w`` is what the meter or model says; the entry carries it
        minus what features (dispatch) shed now. The raw reading is kept so a
        change of curtailment can be re-applied by :meth:`refresh_reading`.
        """
        self.reading = (production_w, consumption_w)
        shed = sum(feature.curtailment_w(consumption_w) for feature in self._curtailers)
        published = max(0, consumption_w - shed)
        me = self.core.me
        if (me.production_w, me.consumption_w) != (production_w, published) or fields:
            self.update_self(production_w=production_w, consumption_w=published, **fields)

    def refresh_reading(self) -> None:
        """Re-apply curtailments to the last reading (a dispatch window opened or closed)."""
        self.set_reading(*self.reading)

    def update_self(self, **fields: Any) -> None:
        """Change this node's own entry (features: model readings, offers)."""
        self.core.update_self(self.scheduler.now(), **fields)

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` in this actor's thread after ``delay`` seconds."""
        self.scheduler.call_later(delay, self._tell_self, Call(fn, args))

    def _failure_reporter(self, sibling_id: str, address: str) -> Callable[[str], None]:
        return lambda reason: self._tell_self(DeliveryFailed(sibling_id, address, reason))

    def _delivery_failed(self, failure: DeliveryFailed) -> None:
        log.debug("%s: delivery to %s failed: %s", self.config.name, failure.sibling_id, failure.reason)
        self.core.delivery_failed(failure.sibling_id)
        self.linker.link_failed(failure)

    def _after_change(self, changed: list[str]) -> None:
        if changed:
            for observer in self.observers:
                observer(self.core, changed)
            if len(changed) > 1 or changed[0] != self.core.origin:  # news from peers, not our own reading
                for feature in self._view_watchers:
                    feature.on_view_change(changed)
        if self.core.pending and not self._flush_due:
            self._flush_due = True
            window = self.config.flush_window_s
            if window <= 0:
                self._tell_self(Flush())
            else:
                self.scheduler.call_later(window, self._tell_self, Flush())
        if log.isEnabledFor(logging.INFO) or self.events.listening:
            self._report_change()

    def _report_change(self) -> None:
        """One log line and one ``state`` event per change of what this node believes."""
        me, tally = self.core.me, report.counts(self.core)
        summary = (me.production_w, me.consumption_w, self.core.net_w, tally["live"], tally["stale"])
        if summary == self._last_summary:
            return
        self._last_summary = summary
        log.info("%s: production %.3f kW, consumption %.3f kW | gridnet %.3f kW (%d live, %d stale)",
                 self.config.name, me.production_w / 1000, me.consumption_w / 1000, self.core.net_w / 1000,
                 tally["live"], tally["stale"])  # fmt: skip
        if self.events.listening:
            self.events.publish("state", self.state())

    # ------------------------------------------------------------------ reads
    def _query(self, query: Query) -> Any:
        """Answer a read; errors travel back as GridErrors for the HTTP layer."""
        try:
            if query.what in ("state", "grid"):
                # Judge liveness now, not at the last heartbeat: a node silent for
                # longer than the TTL shows as stale in any report read after that.
                self._expire(self.scheduler.now())
            if query.what == "state":
                return self.state()
            if query.what == "grid":
                return report.grid(self.core, self.scheduler.now())
            if query.what == "digest":
                return self.core.digest()
            handler = self.feature_queries.get(query.what)
            if handler is None:
                # A route of a feature this node does not run.
                raise NotFound(f"this node does not serve {query.what!r}", code="not_served")
            return handler(query.params)
        except GridError as exc:
            return exc

    def state(self) -> dict[str, Any]:
        """The body of /state: the core report plus every feature's block."""
        body = report.state(self.core, self.linker.links, self.dev_mode)
        for feature in self.features:
            block = feature.state()
            if block is not None:
                body[feature.name] = block
        return body

    def _leave(self, message: Leave) -> None:
        self.core.leave(self.scheduler.now())
        self.emit(self.core.flush(self.scheduler.now()))
        log.info("%s left the grid", self.config.name)
        if message.reply is not None:
            message.reply.send(True)


def _overrides(feature: Feature, hook: str) -> bool:
    """Whether ``feature`` does something in ``hook`` (the base class's does nothing)."""
    return getattr(type(feature), hook) is not getattr(Feature, hook)


class LoopNodeActor(LoopActor, NodeActor):
    """A node actor hosted on the event loop (see :class:`grid.runtime.LoopActor`).

    What node services run: no thread per node, and no hop between the HTTP
    handler and the node. The plain :class:`NodeActor` keeps a thread of its
    own, for tests that drive a node from their own thread without a loop.
    """
