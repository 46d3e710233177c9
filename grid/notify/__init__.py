"""Notification channels: how a node tells people about alerts and dispatches.

A channel (``webhook.WebhookChannel``; e-mail and others alike) takes a
JSON-ready event with :meth:`Channel.deliver` and answers at once with a
:class:`Delivery` it keeps up to date as attempts are made on the event loop:
``pending`` until it is ``delivered`` or has ``failed`` for good. Every
channel keeps its recent deliveries in a :class:`DeliveryLog`, which is what
``/state`` blocks and status endpoints show. The lifecycle and retries the
channels share are :class:`channel.RetryingChannel`'s.

Rules:
- ``deliver`` is callable from any thread (the actors, the loop, worker threads) and never
  blocks; the work happens on the event loop.
- A delivery ends exactly once; ``on_done`` is then called on the event loop
  (hop to an actor with ``node.call_later(0, ...)`` before touching its state).
- A delivery ``key`` is the sender's idempotency key, sent along with every
  attempt, so a receiver can drop repeats (a retried POST that did arrive, or a
  redelivery after a node restart).
"""

from __future__ import annotations

import threading
import uuid
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Literal, Protocol

DeliveryStatus = Literal["pending", "delivered", "failed"]
STATUSES: tuple[DeliveryStatus, ...] = ("pending", "delivered", "failed")


@dataclass
class Delivery:
    """One event handed to one channel, and how its delivery is going.

    ``attempts`` counts tries so far; ``last_error`` says why the last one
    failed (None after a success). Times are wall-clock epoch milliseconds.
    """

    key: str
    channel: str
    target: str
    kind: str
    created_ms: int
    status: DeliveryStatus = "pending"
    attempts: int = 0
    last_error: str | None = None
    updated_ms: int = 0

    def to_json(self) -> dict[str, Any]:
        """JSON-ready fields (the event body itself is not repeated)."""
        return asdict(self)


#: Called once when a delivery ends (delivered or failed), on the event loop.
DoneCallback = Callable[[Delivery], None]


class Channel(Protocol):
    """What every notification channel offers."""

    name: str

    def deliver(
        self, event: dict[str, Any], *, key: str | None = None, on_done: DoneCallback | None = None
    ) -> Delivery:
        """Start delivering ``event``; returns its (pending) delivery at once."""

    def deliveries(self) -> list[dict[str, Any]]:
        """Recent deliveries, newest first, as JSON-ready dicts."""


def new_key() -> str:
    """A fresh idempotency key for an event that has none of its own."""
    return uuid.uuid4().hex


@dataclass
class DeliveryLog:
    """The last ``keep`` deliveries of a channel; safe to use from any thread."""

    keep: int = 200
    _items: deque[Delivery] = field(init=False)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)
    _counts: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self._items = deque(maxlen=self.keep)
        self._counts = dict.fromkeys(STATUSES, 0)

    def add(self, delivery: Delivery) -> None:
        """Record a new (pending) delivery."""
        with self._lock:
            self._items.append(delivery)
            self._counts[delivery.status] += 1

    def update(self, delivery: Delivery, now_ms: int, **changes: Any) -> None:
        """Change a delivery's fields under the lock, so readers see it whole."""
        with self._lock:
            before = delivery.status
            for name, value in changes.items():
                setattr(delivery, name, value)
            delivery.updated_ms = now_ms
            self._counts[before] -= 1
            self._counts[delivery.status] += 1

    def snapshot(self) -> list[dict[str, Any]]:
        """Kept deliveries, newest first."""
        with self._lock:
            return [item.to_json() for item in reversed(self._items)]

    def counts(self) -> dict[str, int]:
        """How many deliveries are in each status (since start, not only those kept)."""
        with self._lock:
            return dict(self._counts)


__all__ = ["Channel", "Delivery", "DeliveryLog", "DeliveryStatus", "DoneCallback", "STATUSES", "new_key"]
