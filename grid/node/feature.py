"""Features: parts of a node beyond gossip (models, metering, dispatch, chat, ...).

A feature is a plain object living inside the node actor, so it runs one
message at a time like the rest of the node and never needs a lock. It hooks
into the actor through the methods below; each has a do-nothing default so a
feature implements only what it needs. Its pure logic lives in ``protocol/``
or ``nodes/``; the feature is the glue.

What a feature may use of its node (``self.node``, set by :meth:`attach`):

- ``node.core``: the :class:`~protocol.gossip.GossipCore` (read; change the own
  entry only through ``node.update_self(**fields)``, and its energy only through
  ``node.set_reading(production_w, consumption_w, **fields)``, which applies
  every feature's curtailment);
- ``node.store.db``: the node's SQLite connection (create your own tables);
- ``node.config``, ``node.scheduler``, ``node.events`` (an EventHub);
- ``node.emit(sends)``, ``node.send_to(address, envelope)``: talk to peers;
- ``node.call_later(delay, fn, *args)``: run ``fn`` later in the actor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from protocol.envelopes import Envelope

from ..transport.base import Transport
from .commands import Outcome

if TYPE_CHECKING:
    from .actor import NodeActor

#: Answers an inbound envelope of one message type.
MessageHandler = Callable[[Envelope], Outcome]
#: Answers a read request with JSON-ready data; gets the request's parameters.
QueryHandler = Callable[[dict[str, Any]], Any]


class Feature:
    """Base class of node features; override what you need."""

    #: Unique short name; also the key of the feature's block in /state.
    name: str = "feature"

    def attach(self, node: "NodeActor") -> None:
        """Called once, in the actor, before any other hook."""
        self.node = node

    def wrap_transport(self, transport: Transport) -> Transport:
        """Put something in front of the node's transport (counting, tracing); called once
        before the node sends anything. Return ``transport`` itself to leave it alone."""
        return transport

    def start(self) -> None:
        """The node is up (store open, siblings restored)."""

    def stop(self) -> None:
        """The node is stopping; release what you hold."""

    def handlers(self) -> dict[str, MessageHandler]:
        """Message types this feature answers, by msgType."""
        return {}

    def queries(self) -> dict[str, QueryHandler]:
        """Read requests this feature answers, by name (HTTP routes ask for them)."""
        return {}

    def on_heartbeat(self, now: float) -> None:
        """Called at every heartbeat tick."""

    def on_view_change(self, changed: list[str]) -> None:
        """Entries of ``changed`` origins arrived from peers."""

    def state(self) -> dict[str, Any] | None:
        """A block to add to /state under :attr:`name` (None: nothing to show)."""
        return None

    def curtailment_w(self, consumption_w: int) -> int:
        """Watts this feature sheds from the node's metered consumption right now.

        The node publishes ``consumption - sum of curtailments`` (never below 0).
        A feature whose curtailment changes calls ``node.refresh_reading()``.
        """
        return 0


class Raw:
    """A query answer that is not JSON (CSV export, PNG chart): bytes and a media type."""

    __slots__ = ("body", "content_type")

    def __init__(self, body: bytes, content_type: str) -> None:
        self.body = body
        self.content_type = content_type
