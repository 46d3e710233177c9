"""The dispatch feature: a node's demand-response glue (I/O half of protocol/ and nodes/ dispatch).

What it does, in the node actor's thread:

- keeps the node's :class:`~protocol.dispatch.DispatchBook` (durable in
  SQLite) and spreads it between siblings (:mod:`.replication`); every
  dispatch is verified against the trusted operator keys before it is merged,
  and a rejection is logged and audited;
- takes ``Dispatch`` from operators (signing an unsigned one when the node
  holds an operator key) and ``Acknowledge`` from the node's owner;
- sheds load while a dispatch binds it (the :meth:`curtailment_w` hook; window
  edges are timers, and every heartbeat checks again), answers by itself
  under its ack policy, and notifies its people (:mod:`.notifications`);
- evaluates its event rules at every heartbeat, with the price and grid net
  of its own view, and issues a signed dispatch when one fires;
- appends every dispatch, modification, acknowledgement, rejection and
  notification it sees or sends to the hash-chained audit log.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from nodes.dispatch import RuleEngine, binding, curtailment_w, pending_acks
from protocol.dispatch import (
    Acknowledge,
    Dispatch,
    DispatchDigest,
    DispatchRejected,
    DispatchUpdate,
    Membership,
    sign_dispatch,
)
from protocol.dispatch_book import admit, DispatchBook, merge_ack, merge_dispatch, merge_member
from protocol.envelopes import Envelope
from protocol.errors import BadMessage, Conflict, Forbidden, NotFound

from ..node import report
from ..node.commands import Outcome
from ..node.feature import Feature, MessageHandler, QueryHandler
from ..notify import Channel
from ..notify.email import EmailChannel
from ..notify.webhook import WebhookChannel
from . import views
from .config import DispatchSettings
from .notifications import Notifier
from .replication import Replicator
from .store import AuditLog, DispatchStore

if TYPE_CHECKING:
    from grid.node.actor import NodeActor

log = logging.getLogger("grid.dispatch")

#: Window edges further away than this are left to the heartbeat check.
EDGE_HORIZON_MS = 24 * 3_600_000
#: Timers fire a little after an edge, so the edge is surely past when they run.
EDGE_SLACK_S = 0.01

F = TypeVar("F", bound=Callable[..., Any])


def committing(method: F) -> F:
    """Write the staged book and audit records when ``method`` returns or raises.

    Every way into the feature (a message, a timer, a heartbeat) goes through
    one such method, so what a node answers for is on disk before it answers.
    """

    @functools.wraps(method)
    def wrapper(self: "DispatchFeature", *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        finally:
            self.commit()

    return wrapper  # type: ignore[return-value]


class DispatchFeature(Feature):
    """Dispatches, acknowledgements, rules, notifications and the audit log of one node."""

    name = "dispatch"

    def __init__(self, settings: DispatchSettings) -> None:
        self.settings = settings
        self.book = DispatchBook()
        self.rules = RuleEngine(settings.rules)
        self.rejections = 0
        self.binding_ids: tuple[str, ...] = ()
        self._edges: set[int] = set()

    # ---------------------------------------------------------------- lifecycle
    def attach(self, node: "NodeActor") -> None:
        super().attach(node)
        self.me = node.config.id

    @committing
    def start(self) -> None:
        db = self.node.store.db
        self.store = DispatchStore(db)
        self.audit = AuditLog(db)
        self.book = self.store.load_book()
        self.replica = Replicator(self.node, lambda: self.book, self.settings.digest_every)
        self.notifier = Notifier(self.node, self.store, self._audit, self._channels(), self.commit)
        self._publish_membership()
        for d in self.book.dispatches.values():
            self._schedule_edges(d)
        # Pull what was issued while this node was away.
        self.replica.offer(sorted(self.node.core.siblings))
        self._settle()

    def _channels(self) -> dict[str, Channel]:
        channels: dict[str, Channel] = {}
        if self.settings.webhook is not None:
            channels["webhook"] = WebhookChannel.from_settings(self.settings.webhook, self.node.scheduler)
        if self.settings.email is not None:
            channels["email"] = EmailChannel.from_settings(self.settings.email, self.node.scheduler)
        return channels

    def stop(self) -> None:
        notifier = getattr(self, "notifier", None)  # absent if start() failed
        if notifier is not None:
            notifier.close()

    def handlers(self) -> dict[str, MessageHandler]:
        return {
            "Dispatch": self._on_dispatch,
            "Acknowledge": self._on_acknowledge,
            "DispatchUpdate": self._on_update,
            "DispatchDigest": self._on_digest,
        }

    def queries(self) -> dict[str, QueryHandler]:
        return {"list": self._list, "show": self._show, "audit": self._audit_query}

    @committing
    def on_heartbeat(self, now: float) -> None:
        self._run_rules()
        self._settle()
        self.replica.on_heartbeat()

    def curtailment_w(self, consumption_w: int) -> int:
        now = self.node.scheduler.wall_ms()
        return curtailment_w(self.book, self.me, self.settings.enrolments, now, consumption_w)

    def state(self) -> dict[str, Any]:
        return views.state_block(self)

    def commit(self) -> None:
        """Write what changed to the node's database."""
        self.store.flush()
        self.audit.flush()

    # ---------------------------------------------------------------- operator messages
    @committing
    def _on_dispatch(self, env: Envelope) -> Outcome:
        d = self._signed(env.message)  # type: ignore[arg-type]
        held = self.book.dispatches.get(d.dispatch_id)
        if held == d:
            return Outcome(200, {"status": "unchanged", **views.receipt(d)})
        if held is not None and d.modification_number <= held.modification_number:
            raise Conflict(f"dispatch {d.dispatch_id} is at modification {held.modification_number}; "
                           f"send modificationNumber {held.modification_number + 1}",
                           code="stale_modification")  # fmt: skip
        self._take_dispatch(d, source=None, origin="operator")
        self._settle()
        return Outcome(202, {"status": "accepted", **views.receipt(d)})

    def _signed(self, d: Dispatch) -> Dispatch:
        """``d`` as issued: signed by this node's operator key when it came unsigned."""
        if d.signature:
            return d
        own = self.settings.operator_id
        if self.settings.seed is None or d.issuer not in (None, own):
            why = f"dispatch {d.dispatch_id!r} is unsigned and this node holds no key of operator {d.issuer!r}"
            self._reject(d, DispatchRejected("bad_signature", why), "operator")
        return sign_dispatch(d.model_copy(update={"issuer": own}), self.settings.seed)  # type: ignore[arg-type]

    @committing
    def _on_acknowledge(self, env: Envelope) -> Outcome:
        a: Acknowledge = env.message  # type: ignore[assignment]
        if a.node_id != self.me:
            raise Forbidden(f"this is node {self.me}; it answers only for itself", code="not_this_node")
        d = self.book.dispatches.get(a.dispatch_id)
        if d is None:
            raise NotFound(f"unknown dispatch {a.dispatch_id!r}", code="unknown_dispatch")
        if a.modification_number != d.modification_number:
            raise Conflict(f"dispatch {d.dispatch_id} is at modification {d.modification_number}",
                           code="stale_modification")  # fmt: skip
        a = self._stamped(a)
        self._take_ack(a, source=None)
        self._settle()
        return Outcome(202, {"status": "accepted", "dispatchId": a.dispatch_id, "response": a.response, "at": a.at})

    def _stamped(self, a: Acknowledge) -> Acknowledge:
        """``a`` timed by this node's clock, after any earlier answer of the node."""
        held = self.book.ack_of(a.dispatch_id, self.me)
        at = max(self.node.scheduler.wall_ms(), held.at + 1 if held else 0)
        return a.model_copy(update={"at": at})

    # ---------------------------------------------------------------- peer messages
    @committing
    def _on_update(self, env: Envelope) -> Outcome:
        if env.return_id is None:
            raise BadMessage("DispatchUpdate comes from peers and needs returnId", code="missing_return_id")
        update: DispatchUpdate = env.message  # type: ignore[assignment]
        new = rejected = 0
        for d in update.dispatches:
            try:
                new += self._take_dispatch(d, source=env.return_id, origin=f"peer {env.return_id}")
            except DispatchRejected:
                rejected += 1
        # Others' answers change nothing here; a dispatch, or an answer of this
        # node's own (from before a restart), may change what binds it.
        settle = new > 0 or any(a.node_id == self.me for a in update.acks)
        for a in update.acks:
            new += self._take_ack(a, source=env.return_id)
        for m in update.members:
            new += self._take_member(m, source=env.return_id)
        if settle:
            self._settle()
        # 202 even with rejections: the honest rest of the batch is in, and a
        # refusal would make the sender's transport count a failed link.
        return Outcome(202, {"status": "accepted", "new": new, "rejected": rejected})

    def _on_digest(self, env: Envelope) -> Outcome:
        if env.return_id is None or env.return_id not in self.node.core.siblings:
            raise Forbidden("DispatchDigest is exchanged between siblings", code="not_a_sibling")
        sent = self.replica.answer(env.return_id, env.message)  # type: ignore[arg-type]
        return Outcome(202, {"status": "accepted", "sent": sent})

    # ---------------------------------------------------------------- merging
    def _take_dispatch(self, d: Dispatch, source: str | None, origin: str) -> bool:
        """Verify and merge ``d``; True when it was new. Raises DispatchRejected."""
        if merge_dispatch(self.book, d) is self.book:
            return False  # held already, or older: nothing to verify
        try:
            book = admit(self.book, d, self.settings.operators)
        except DispatchRejected as exc:
            self._reject(d, exc, origin)
        held = self.book.dispatches.get(d.dispatch_id)
        self.book = book
        self.store.save_dispatch(d)
        kind = "dispatch" if held is None else "cancellation" if d.status == "cancelled" else "modification"
        self._audit(kind, d.dispatch_id, {"from": origin, "dispatch": d.to_wire()})
        log.info("%s: %s %s #%d (%s) from %s", self.node.config.name, kind, d.dispatch_id, d.modification_number,
                 d.status, origin)  # fmt: skip
        self.replica.push(d, source)
        self._schedule_edges(d)
        self._publish({"what": kind, "dispatch": d.to_wire()})
        self._notify(d, held, kind)
        return True

    def _notify(self, d: Dispatch, held: Dispatch | None, kind: str) -> None:
        """Tell this node's people of a version meant for them that still matters."""
        if not views.addressed_here(self, d) or (held is not None and held.status == "cancelled"):
            return
        if held is None and views.phase(d, self.node.scheduler.wall_ms()) in ("cancelled", "ended"):
            return  # learnt only after it was over (the node was away): nothing to do
        enrolment = self.settings.enrolment(d.program_id)
        self.notifier.notify(d, kind, enrolment.channels if enrolment else ("events",))

    def _reject(self, d: Dispatch, exc: DispatchRejected, origin: str) -> NoReturn:
        """Log and audit a refused dispatch, then raise ``exc``."""
        self.rejections += 1
        log.warning("%s: rejected dispatch %s from %s: %s (%s)", self.node.config.name, d.dispatch_id, origin,
                    exc.code, exc.detail)  # fmt: skip
        self._audit("rejection", d.dispatch_id, {"from": origin, "code": exc.code, "detail": str(exc.detail),
                                                 "dispatch": d.to_wire()})  # fmt: skip
        self._publish({"what": "rejection", "code": exc.code, "dispatch": d.to_wire()})
        raise exc

    def _take_ack(self, a: Acknowledge, source: str | None) -> bool:
        book = merge_ack(self.book, a)
        if book is self.book:
            return False
        self.book = book
        self.store.save_ack(a)
        self._audit("ack", a.dispatch_id, {"from": f"peer {source}" if source else "self", "ack": a.to_wire()})
        self.replica.push(a, source)
        self._publish({"what": "ack", "ack": a.to_wire()})
        return True

    def _take_member(self, m: Membership, source: str | None) -> bool:
        book = merge_member(self.book, m)
        if book is self.book:
            return False
        self.book = book
        self.store.save_member(m)
        self.replica.push(m, source)
        return True

    def _publish_membership(self) -> None:
        programs = self.settings.program_ids
        held = self.book.members.get(self.me)
        if (held is None and not programs) or (held is not None and held.programs == programs):
            return
        at = max(self.node.scheduler.wall_ms(), held.at + 1 if held else 0)
        self._take_member(Membership(node_id=self.me, programs=programs, at=at), source=None)

    # ---------------------------------------------------------------- acting
    def _settle(self) -> None:
        """Answer what the policy answers, and re-apply curtailment (a window may have moved)."""
        now = self.node.scheduler.wall_ms()
        s = self.settings
        for a in pending_acks(self.book, self.me, s.ack_policy, now, s.enrolments):
            self._take_ack(self._stamped(a), source=None)
        active = tuple(d.dispatch_id for d in binding(self.book, self.me, s.enrolments, now))
        if active != self.binding_ids:
            log.info("%s: dispatches binding now: %s", self.node.config.name, ", ".join(active) or "none")
            self._publish({"what": "binding", "active": list(active)})
            self.binding_ids = active
        self.node.refresh_reading()

    def _schedule_edges(self, d: Dispatch) -> None:
        now = self.node.scheduler.wall_ms()
        for edge in (d.start_time, d.end_time):
            if edge is not None and now < edge <= now + EDGE_HORIZON_MS and edge not in self._edges:
                self._edges.add(edge)
                self.node.call_later((edge - now) / 1000 + EDGE_SLACK_S, self._on_edge, edge)

    @committing
    def _on_edge(self, edge: int) -> None:
        self._edges.discard(edge)
        self._settle()

    def _run_rules(self) -> None:
        if not self.settings.rules:
            return
        core = self.node.core
        now = self.node.scheduler.wall_ms()
        self.rules, requests = self.rules.observe(now, report.market(core).price, core.net_w)
        seed, issuer = self.settings.seed, self.settings.operator_id
        assert seed is not None and issuer is not None  # config refuses rules without a key
        for request in requests:
            d = sign_dispatch(request.to_dispatch(issuer), seed)
            log.info("%s: rule %s fired: issuing %s", self.node.config.name, request.rule_id, d.dispatch_id)
            if d.dispatch_id not in self.book.dispatches:
                self._take_dispatch(d, source=None, origin=f"rule {request.rule_id}")

    # ---------------------------------------------------------------- reads
    def _list(self, params: dict[str, Any]) -> Any:
        return views.listing(self)

    def _show(self, params: dict[str, Any]) -> Any:
        return views.detail(self, str(params.get("dispatch_id", "")))

    def _audit_query(self, params: dict[str, Any]) -> Any:
        return views.audit_page(self.audit, params)

    # ---------------------------------------------------------------- helpers
    def _audit(self, kind: str, subject: str, payload: dict[str, Any]) -> None:
        self.audit.append(self.node.scheduler.wall_ms(), kind, subject, payload)

    def _publish(self, data: dict[str, Any]) -> None:
        # Always, not only while someone listens: the hub keeps recent events
        # for clients that connect or reconnect later.
        self.node.events.publish("dispatch", {"node": self.me, **data})
