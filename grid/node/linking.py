"""Sibling links: the AddSibling handshake, RemoveSibling, and link health.

The handshake of the original protocol, kept verbatim: an operator Tells A
``AddSibling(B)``; A Asks B ``AddSibling(A)``; B adds A and Responds with its
own details; A adds B. Links are always bidirectional, adding an existing
sibling is a no-op, and a node refuses to link to itself. What cannot be
judged at once (an unreachable address) is reported in ``links`` of /state.
"""

from __future__ import annotations

import itertools
import logging
from typing import TYPE_CHECKING, Any, Callable

from protocol.envelopes import Envelope, ask, tell
from protocol.errors import Conflict, Forbidden, GridError, NotFound
from protocol.gossip import Sibling
from protocol.messages import AddSibling, RemoveSibling

from ..store import SiblingRecord
from .commands import AskResult, DeliveryFailed, Outcome

if TYPE_CHECKING:
    from .actor import NodeActor

log = logging.getLogger("grid.node")


class Linker:
    """Owns the actor's link handshakes and their status."""

    def __init__(self, actor: "NodeActor") -> None:
        self.actor = actor
        self.pending: dict[str, AddSibling] = {}
        self.links: dict[str, dict[str, Any]] = {}
        self._req_ids = itertools.count(1)
        self.handlers: dict[str, Callable[[Envelope], Outcome]] = {
            "AddSibling": self.add_sibling,
            "RemoveSibling": self.remove_sibling,
        }

    @property
    def core(self):  # type: ignore[no-untyped-def]
        return self.actor.core

    def _me(self) -> AddSibling:
        cfg = self.actor.config
        return AddSibling(sibling_name=cfg.name, sibling_address=cfg.address, sibling_id=cfg.id)

    def _status(self, address: str, status: str, **detail: Any) -> None:
        self.links[address] = {"status": status, **detail}

    # ------------------------------------------------------------------ AddSibling
    def add_sibling(self, env: Envelope) -> Outcome:
        msg: AddSibling = env.message  # type: ignore[assignment]
        if env.env_type == "Tell":
            return self._start(msg)
        if env.env_type == "Ask":
            return self._accept(env, msg)
        return self._complete_response(env)

    def _refuse_self(self, msg: AddSibling) -> None:
        cfg = self.actor.config
        if msg.sibling_id == cfg.id or msg.sibling_address == cfg.address:
            raise Conflict(f"{msg.sibling_name} ({msg.sibling_address}, id {msg.sibling_id}) is this node itself",
                           code="self_link")  # fmt: skip

    def _start(self, msg: AddSibling) -> Outcome:
        """Operator asked us to link: Ask the other node."""
        self._refuse_self(msg)
        known = self.core.siblings.get(msg.sibling_id)
        if known is not None and known.address == msg.sibling_address:
            return Outcome(200, {"status": "already linked", "sibling": msg.sibling_id})
        req_id = f"{self.actor.config.id}.{self.core.me.incarnation}.{next(self._req_ids)}"
        self.pending[req_id] = msg
        self._status(msg.sibling_address, "pending", id=msg.sibling_id, name=msg.sibling_name)
        envelope = ask(self._me(), req_id=req_id, return_id=self.actor.config.id)
        self.actor.transport.ask(msg.sibling_address, envelope, self._reporter(req_id))
        return Outcome(202, {"status": "linking", "sibling": msg.sibling_id, "reqId": req_id})

    def _reporter(self, req_id: str) -> Callable[[Envelope | None, str | None], None]:
        return lambda envelope, error: self.actor._tell_self(AskResult(req_id, envelope, error))

    def _accept(self, env: Envelope, msg: AddSibling) -> Outcome:
        """Another node Asked to link: add it and Respond with our details."""
        self._refuse_self(msg)
        self._link(msg)
        return Outcome(200, envelope=env.reply(self._me(), return_id=self.actor.config.id))

    def _complete_response(self, env: Envelope) -> Outcome:
        """A Response posted to /messaging, as the original protocol did."""
        if env.req_id not in self.pending:
            raise Conflict(f"no AddSibling request {env.req_id!r} is waiting for a response", code="unexpected_response")
        self.answered(AskResult(env.req_id, env, None))
        return Outcome(202, {"status": "linked"})

    def answered(self, result: AskResult) -> None:
        """The other side of a handshake answered (or could not be reached)."""
        asked = self.pending.pop(result.req_id, None)
        if asked is None:
            return  # answered twice (Response posted and returned): the first one counted
        if result.envelope is None or not isinstance(result.envelope.message, AddSibling):
            reason = result.error or "the answer was not an AddSibling response"
            self._status(asked.sibling_address, "failed", id=asked.sibling_id, name=asked.sibling_name, error=reason)
            log.warning("%s: could not link to %s at %s: %s", self.actor.config.name, asked.sibling_name,
                        asked.sibling_address, reason)  # fmt: skip
            return
        peer: AddSibling = result.envelope.message
        if peer.sibling_id != asked.sibling_id:
            log.warning("%s: %s answered with id %s, not %s; using its own word", self.actor.config.name,
                        asked.sibling_address, peer.sibling_id, asked.sibling_id)  # fmt: skip
        try:
            self._refuse_self(peer)
        except GridError as exc:
            self._status(asked.sibling_address, "failed", error=str(exc.detail))
            return
        # Reach it where we asked: that address is the one known to work from here.
        self._link(peer.model_copy(update={"sibling_address": asked.sibling_address}))

    def _link(self, peer: AddSibling) -> None:
        sibling = Sibling(peer.sibling_id, peer.sibling_name, peer.sibling_address)
        old = self.core.siblings.get(sibling.id)
        self.actor.store.save_sibling(SiblingRecord(sibling.id, sibling.name, sibling.address))
        self._status(sibling.address, "linked", id=sibling.id, name=sibling.name)
        if old is not None and old.address != sibling.address:
            self.core.siblings[sibling.id] = sibling  # moved: keep the link, new address
            return
        sends = self.core.add_sibling(sibling, self.actor.scheduler.now())
        if sends:
            log.info("%s: linked with %s (%s)", self.actor.config.name, sibling.name, sibling.address)
        self.actor.emit(sends)

    def restore(self, record: SiblingRecord) -> None:
        """Re-link a stored sibling after a restart."""
        sibling = Sibling(record.id, record.name, record.address)
        self._status(record.address, "linked", id=record.id, name=record.name)
        self.actor.emit(self.core.add_sibling(sibling, self.actor.scheduler.now()))

    def link_failed(self, failure: DeliveryFailed) -> None:
        """Record that a linked sibling is currently unreachable."""
        if failure.sibling_id in self.core.siblings:
            sibling = self.core.siblings[failure.sibling_id]
            self._status(failure.address, "unreachable", id=sibling.id, name=sibling.name, error=failure.reason)

    # ------------------------------------------------------------------ RemoveSibling
    def remove_sibling(self, env: Envelope) -> Outcome:
        msg: RemoveSibling = env.message  # type: ignore[assignment]
        me = self.actor.config.id
        if env.is_peer:
            # A sibling unlinking itself from us names itself, like AddSibling's Ask does;
            # only that sibling may say so.
            if msg.sibling_id != env.return_id or env.return_id not in self.core.siblings:
                raise Forbidden("a peer may only remove its own link", code="not_a_sibling")
            self._unlink(env.return_id)
            return Outcome(202, {"status": "unlinked", "sibling": env.return_id})
        sibling = self.core.siblings.get(msg.sibling_id)
        if sibling is None:
            raise NotFound(f"{msg.sibling_id} is not a sibling of {me}", code="not_a_sibling")
        envelope = tell(RemoveSibling(sibling_id=me), return_id=me)
        self.actor.transport.send(sibling.address, envelope, lambda reason: None)
        self._unlink(sibling.id)
        return Outcome(202, {"status": "unlinked", "sibling": sibling.id})

    def _unlink(self, sibling_id: str) -> None:
        sibling = self.core.siblings.get(sibling_id)
        if sibling is None:
            return
        self.core.remove_sibling(sibling_id, self.actor.scheduler.now())
        self.actor.store.remove_sibling(sibling_id)
        self.links.pop(sibling.address, None)
        log.info("%s: unlinked from %s", self.actor.config.name, sibling.name)
