"""Bridges between actor threads and the asyncio event loop.

Actors run in pykka threads; HTTP and timers live on one asyncio loop. The
rules (DESIGN section 8): actors never block on actors, and nothing awaits a
pykka future on the loop. Results travel back through :class:`Reply` objects
and timers through a :class:`Scheduler`, both safe to call from any thread.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any, Callable, Protocol


class Reply(Protocol):
    """Where an actor sends the outcome of a request."""

    def send(self, value: Any) -> None:
        """Deliver ``value``; called exactly once, from the actor's thread."""


class LoopReply:
    """Completes an asyncio future on its loop from the actor's thread."""

    __slots__ = ("_loop", "future")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.future: asyncio.Future[Any] = loop.create_future()

    def send(self, value: Any) -> None:
        self._loop.call_soon_threadsafe(_settle, self.future, value)


def _settle(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():  # the waiter may have timed out and gone away
        future.set_result(value)


class CallbackReply:
    """Hands the outcome to a plain callable (in-memory transport, tests)."""

    __slots__ = ("_fn",)

    def __init__(self, fn: Callable[[Any], None]) -> None:
        self._fn = fn

    def send(self, value: Any) -> None:
        self._fn(value)


class Scheduler(Protocol):
    """A clock and one-shot timers, shared by every node of a process."""

    def now(self) -> float:
        """Monotonic seconds."""

    def wall_ms(self) -> int:
        """Wall-clock epoch milliseconds (for timestamps shown to people)."""

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` after ``delay`` seconds; callable from any thread."""


class LoopScheduler:
    """Timers on an asyncio loop: one loop serves every node, idle nodes cost nothing."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def now(self) -> float:
        return time.monotonic()

    def wall_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> None:
        if self.loop.is_closed():
            return
        try:
            self.loop.call_soon_threadsafe(self.loop.call_later, delay, _guarded, fn, args)
        except RuntimeError:
            pass  # the loop is shutting down; timers no longer matter


def _guarded(fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        fn(*args)
    except Exception:  # a stopped actor must not break the loop's other timers
        pass


#: GIL switch interval for processes running many node actors (see below).
MANY_ACTORS_SWITCH_INTERVAL_S = 0.05


def tune_for_many_actors(interval_s: float = MANY_ACTORS_SWITCH_INTERVAL_S) -> float:
    """Lengthen the GIL switch interval; returns the previous one.

    With hundreds of actor threads runnable at once (a burst in a large
    in-process grid), every thread waiting for the GIL wakes each switch
    interval (5 ms by default) to ask for it, and those wake-ups cost more
    than the work. Handing the GIL over every 50 ms instead cut a 1,000-node
    burst several times over (docs/benchmarks.md). A process that serves one
    node has one busy actor thread and gains nothing, so only the in-process
    grid runners call this.
    """
    previous = sys.getswitchinterval()
    sys.setswitchinterval(interval_s)
    return previous
