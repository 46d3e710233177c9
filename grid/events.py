"""A node's live event stream: what the dashboard, webhooks and tests listen to.

The actor publishes (on the loop, or from a thread of its own); subscribers are
asyncio queues on the event loop. The hub keeps the last events in a ring
buffer so a client that reconnects with ``Last-Event-ID`` misses nothing
recent. A slow subscriber loses its oldest queued events, never blocks the
actor.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    """One published event: a sequence number, a kind and JSON-ready data."""

    id: int
    kind: str
    data: dict[str, Any]


class _Subscriber:
    __slots__ = ("loop", "queue")

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[Event] = asyncio.Queue(size)

    def offer(self, event: Event) -> None:
        if self.queue.full():
            self.queue.get_nowait()  # drop the oldest: a slow reader must not grow memory
        self.queue.put_nowait(event)


class EventHub:
    """Publish from any thread; subscribe from the event loop."""

    def __init__(self, keep: int = 500, queue_size: int = 1000) -> None:
        self._recent: deque[Event] = deque(maxlen=keep)
        self._subscribers: set[_Subscriber] = set()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._queue_size = queue_size

    @property
    def listening(self) -> bool:
        """Whether anyone subscribes right now (lets publishers skip costly payloads)."""
        return bool(self._subscribers)

    def publish(self, kind: str, data: dict[str, Any]) -> Event:
        """Record an event and hand it to every subscriber."""
        with self._lock:
            event = Event(next(self._ids), kind, data)
            self._recent.append(event)
            subscribers = list(self._subscribers)
        for sub in subscribers:
            try:
                sub.loop.call_soon_threadsafe(sub.offer, event)
            except RuntimeError:
                self._subscribers.discard(sub)  # its loop is closed
        return event

    def recent(self, after_id: int = 0, kinds: frozenset[str] | None = None) -> list[Event]:
        """Events kept in memory with an id above ``after_id``, optionally of some kinds."""
        with self._lock:
            events = list(self._recent)
        return [e for e in events if e.id > after_id and (kinds is None or e.kind in kinds)]

    def subscribe(self) -> _Subscriber:
        """A new subscription on the running loop; call :meth:`unsubscribe` when done."""
        sub = _Subscriber(asyncio.get_running_loop(), self._queue_size)
        with self._lock:
            self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: _Subscriber) -> None:
        """End a subscription."""
        with self._lock:
            self._subscribers.discard(sub)
