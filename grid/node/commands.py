"""What the node actor receives: one small value type per kind of work."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from protocol.envelopes import Envelope

from ..runtime import Reply


@dataclass(frozen=True, slots=True)
class Inbound:
    """A decoded envelope from the network; ``reply`` gets an :class:`Outcome`."""

    envelope: Envelope
    reply: Reply | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer to a request: an HTTP status and a JSON body or an envelope."""

    status: int
    body: dict[str, Any] | None = None
    envelope: Envelope | None = None


@dataclass(frozen=True, slots=True)
class AskResult:
    """The answer (or failure) of an Ask this node sent."""

    req_id: str
    envelope: Envelope | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryFailed:
    """A message to ``address`` could not be delivered."""

    sibling_id: str
    address: str
    reason: str


@dataclass(frozen=True, slots=True)
class Query:
    """Read-only request: ``state``, ``grid``, ``digest`` or ``<feature>.<query>``."""

    what: str
    reply: Reply
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Call:
    """Run ``fn(*args)`` in the actor's thread (timers of features)."""

    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class Flush:
    """The coalescing window is over: push pending entries."""


@dataclass(frozen=True, slots=True)
class Tick:
    """A periodic duty is due: ``heartbeat`` or ``sync``."""

    duty: str


@dataclass(frozen=True, slots=True)
class Leave:
    """Graceful stop: publish the tombstone, then reply."""

    reply: Reply | None = None
