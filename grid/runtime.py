"""Bridges between node actors and the asyncio event loop.

HTTP and timers live on one asyncio loop. Node actors are pykka actors that
either run on that loop (:class:`LoopActor`, what every node service uses) or
on a thread of their own (a bare ``ThreadingActor``, which tests drive from
their own thread). The rules (DESIGN section 8): actors never block on
actors, and nothing awaits a pykka future on the loop. Results travel back
through :class:`Reply` objects and timers through a :class:`Scheduler`, both
safe to call from any thread.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import sys
import threading
import time
from typing import Any, Callable, Protocol

import pykka


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
        if on_loop_thread(self._loop):
            _settle(self.future, value)  # an actor hosted on this loop: no hop
        else:
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


class Deadlines:
    """Futures that fail with ``TimeoutError`` once their deadline passes.

    One periodic check every ``resolution_s`` serves them all. On the path of
    every request, a loop timer per future cost about 5% of a node's
    throughput: each is pushed on and cancelled from the loop's timer heap.
    A deadline is so kept to within ``resolution_s``.
    """

    def __init__(self, resolution_s: float = 0.25) -> None:
        self.resolution_s = resolution_s
        self._due: dict[asyncio.Future[Any], float] = {}
        self._armed = False

    def watch(self, future: asyncio.Future[Any], timeout: float) -> None:
        """Fail ``future`` if it is still pending ``timeout`` seconds from now."""
        loop = future.get_loop()
        self._due[future] = loop.time() + timeout
        if not self._armed:
            self._armed = True
            loop.call_later(self.resolution_s, self._sweep, loop)

    def forget(self, future: asyncio.Future[Any]) -> None:
        """``future`` is settled (or nobody waits for it any more)."""
        self._due.pop(future, None)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for future, deadline in list(self._due.items()):
            if deadline <= now:
                del self._due[future]
                if not future.done():
                    future.set_exception(TimeoutError())
        self._armed = bool(self._due) and not loop.is_closed()
        if self._armed:
            loop.call_later(self.resolution_s, self._sweep, loop)


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
        if on_loop_thread(self.loop):
            self.loop.call_later(delay, _guarded, fn, args)
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


def freeze_heap() -> None:
    """Leave everything alive now out of future garbage collections (``gc.freeze``).

    A large in-process grid holds millions of long-lived objects (every
    node's view of every other); each full collection walks all of them, and
    in a 1,000-node burst those walks cost a quarter of the time. Call this
    once the grid is built and linked; :func:`thaw_heap` when it is gone.
    Objects frozen here are still freed by reference counting when dropped.
    """
    gc.collect()
    gc.freeze()


def thaw_heap() -> None:
    """Undo :func:`freeze_heap`: frozen objects are collected normally again."""
    gc.unfreeze()


# ----------------------------------------------------------------------------- actors on the loop
def on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether the caller runs inside ``loop`` (and may touch it directly)."""
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:  # an actor thread, a test's thread: no loop running here
        return False


#: Messages one actor handles before the loop serves others (fairness, like an
#: actor dispatcher's "throughput" setting).
LOOP_ACTOR_BATCH = 64


class _Yield(BaseException):
    """Leaves pykka's receive loop when the mailbox is empty or the batch is used up.

    Raised by the mailbox's ``get``, which pykka's loop calls outside the
    ``try`` around the handler, so it leaves the loop untouched. A
    BaseException so that no ``except Exception`` on the way can swallow it.
    """


class _LoopInbox:
    """A mailbox that schedules its actor on the loop when a message arrives."""

    def __init__(self, loop: asyncio.AbstractEventLoop, run: Callable[[], None]) -> None:
        self._loop = loop
        self._run = run
        self._queue: collections.deque[Any] = collections.deque()
        self._lock = threading.Lock()
        self._scheduled = True  # until the actor has started (see LoopActor._start_actor_loop)
        self.budget = 0

    def put(self, envelope: Any, /) -> None:
        with self._lock:
            self._queue.append(envelope)
            if self._scheduled:
                return
            self._scheduled = True
        self.schedule()

    def schedule(self) -> None:
        """Ask the loop to run the actor soon (from any thread)."""
        if on_loop_thread(self._loop):
            self._loop.call_soon(self._run)
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._run)

    def get(self) -> Any:
        with self._lock:
            if not self._queue or self.budget <= 0:
                self._scheduled = bool(self._queue)
                raise _Yield
            self.budget -= 1
            return self._queue.popleft()

    def empty(self) -> bool:
        return not self._queue

    def has_next(self) -> bool:
        """Whether ``get`` will hand out another message in this run."""
        return self.budget > 0 and bool(self._queue)


class LoopActor(pykka.Actor):
    """A pykka actor whose messages are handled on an asyncio loop, one at a time.

    One thread per actor is what :class:`pykka.ThreadingActor` gives; with
    hundreds of actors in one process, waking those threads and handing the
    GIL between them cost more than the work itself, and every HTTP request
    paid a hop from the loop thread to the actor's thread and back. A loop
    actor is scheduled on the loop when its mailbox gets a message and then
    handles up to :data:`LOOP_ACTOR_BATCH` messages in order, so an actor
    still sees one message at a time and the loop stays fair to HTTP and to
    the other actors. The receive loop itself is pykka's (replies, failures
    and stops behave exactly as for a threading actor).

    Start it from the loop's thread (it binds to the running loop). Its
    handlers must not block: the blocking calls they make are short local
    writes (SQLite in WAL mode). Asking it and waiting on the loop's thread
    would deadlock, as awaiting any pykka future on the loop would.
    """

    #: A Ctrl-C (or exit) that arrived while this actor ran, to re-raise on the loop.
    _interrupted: BaseException | None = None

    def _handle_receive(self, message: Any) -> Any:
        try:
            return super()._handle_receive(message)
        except (KeyboardInterrupt, SystemExit) as exc:
            # Meant for whoever runs the loop, not for this actor: pykka would stop every
            # actor and wait for them right here, on the very loop they need (a hang).
            self._interrupted = exc
            self.actor_inbox.budget = 0  # type: ignore[attr-defined]
            return None

    def more_mail_in_batch(self) -> bool:
        """Whether another message is handled right after this one, in the same run."""
        return self.actor_inbox.has_next()  # type: ignore[attr-defined, no-any-return]

    def _create_actor_inbox(self) -> Any:  # type: ignore[override]
        self._loop = asyncio.get_running_loop()
        return _LoopInbox(self._loop, self._run_batch)

    @staticmethod
    def _create_future() -> pykka.Future[Any]:
        return pykka.ThreadingFuture()

    def _start_actor_loop(self) -> None:
        self._loop.call_soon(self._first_run)

    def _first_run(self) -> None:
        self._actor_loop_setup()  # on_start, before any message
        self._run_batch()

    def _run_batch(self) -> None:
        inbox: _LoopInbox = self.actor_inbox  # type: ignore[assignment]
        inbox.budget = LOOP_ACTOR_BATCH
        try:
            self._actor_loop_running()
        except _Yield:
            if inbox._scheduled:  # more mail than one batch: come back after the others
                inbox.schedule()
            interrupted, self._interrupted = self._interrupted, None
            if interrupted is not None:
                raise interrupted
            return
        inbox.budget = sys.maxsize
        self._actor_loop_teardown()  # stopped: answer whatever is left

