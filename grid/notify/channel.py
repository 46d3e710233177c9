"""The retrying channel: the delivery lifecycle every notification channel shares.

:class:`RetryingChannel` owns what is the same for webhook, e-mail and any
later channel: ``deliver`` logs a pending :class:`~grid.notify.Delivery` and
hands the work to the event loop (through the node's
:class:`~grid.runtime.Scheduler`, so it is callable from an actor on any thread); a
task per delivery makes attempts until one succeeds, one fails for good, or
``retries`` retries have failed; ``close`` cancels the tasks in flight. A
channel says only how to prepare an event for sending (:meth:`_prepare`),
how to make one attempt (:meth:`_attempt`), where it sends (:attr:`target`)
and what its summary shows (:meth:`_where`).

Retry ``n`` (1-based) waits a jittered exponential back-off::

    delay(n) = min(max_backoff, backoff * 2 ** (n - 1)) * uniform(0.5, 1.0)

so many nodes failing at once do not retry in step.
"""

from __future__ import annotations

import asyncio
import logging
import random
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Generic, TypeVar

from ..runtime import Scheduler
from . import Delivery, DeliveryLog, DoneCallback, new_key

log = logging.getLogger("grid.notify")

#: What a channel sends for one event (a JSON body, an e-mail message, ...).
Payload = TypeVar("Payload")


def backoff_delay(retry: int, backoff: float, max_backoff: float, rng: random.Random) -> float:
    """Seconds to wait before retry ``retry`` (1-based): capped doubling, half jitter."""
    return min(max_backoff, backoff * 2 ** (retry - 1)) * rng.uniform(0.5, 1.0)


class RetryingChannel(ABC, Generic[Payload]):
    """A channel that retries failed attempts with back-off; keeps recent deliveries."""

    name: ClassVar[str]

    def __init__(self, *, scheduler: Scheduler, retries: int, backoff: float, max_backoff: float,
                 rng: random.Random | None = None, keep: int = 200) -> None:  # fmt: skip
        self.scheduler = scheduler
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.log = DeliveryLog(keep)
        self._rng = rng or random.Random()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    # ------------------------------------------------------------ what a channel says
    @property
    @abstractmethod
    def target(self) -> str:
        """Where deliveries go, as shown in each delivery (a URL, the recipients)."""

    @abstractmethod
    def _prepare(self, event: dict[str, Any], key: str) -> Payload:
        """What is sent for ``event`` on every attempt; may raise ValueError for an unsendable event."""

    @abstractmethod
    async def _attempt(self, delivery: Delivery, payload: Payload, attempt: int) -> tuple[str | None, bool]:
        """One try: ``(None, _)`` on success, else ``(why, whether retrying is pointless)``."""

    @abstractmethod
    def _where(self) -> dict[str, Any]:
        """The channel's own fields in :meth:`summary` (its URL, its server, ...)."""

    # ------------------------------------------------------------ interface
    def deliver(
        self, event: dict[str, Any], *, key: str | None = None, on_done: DoneCallback | None = None
    ) -> Delivery:
        """Start delivering ``event`` (JSON-ready); returns the pending delivery."""
        key = key or new_key()
        payload = self._prepare(event, key)  # before logging: an unsendable event leaves no trace
        delivery = Delivery(key, self.name, self.target, str(event.get("kind", "event")), self.scheduler.wall_ms())
        self.log.add(delivery)
        self.scheduler.call_later(0, self._start, delivery, payload, on_done)
        return delivery

    def deliveries(self) -> list[dict[str, Any]]:
        """Recent deliveries, newest first."""
        return self.log.snapshot()

    def summary(self) -> dict[str, Any]:
        """Where the channel sends and how many deliveries are pending, delivered, failed."""
        return {"channel": self.name, **self._where(), **self.log.counts()}

    def close(self) -> None:
        """Stop retrying; deliveries in flight stay ``pending`` (callable from any thread)."""
        self._closed = True
        self.scheduler.call_later(0, self._cancel_all)

    # ------------------------------------------------------------ on the loop
    def _start(self, delivery: Delivery, payload: Payload, on_done: DoneCallback | None) -> None:
        if self._closed:
            return
        task = asyncio.get_running_loop().create_task(self._run(delivery, payload, on_done))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    async def _run(self, delivery: Delivery, payload: Payload, on_done: DoneCallback | None) -> None:
        for attempt in range(1, self.retries + 2):
            if attempt > 1:
                await asyncio.sleep(backoff_delay(attempt - 1, self.backoff, self.max_backoff, self._rng))
            error, final = await self._attempt(delivery, payload, attempt)
            now_ms = self.scheduler.wall_ms()
            if error is None:
                self.log.update(delivery, now_ms, status="delivered", attempts=attempt, last_error=None)
                break
            last = final or attempt > self.retries
            self.log.update(delivery, now_ms, status="failed" if last else "pending", attempts=attempt,
                            last_error=error)  # fmt: skip
            if last:
                log.warning("%s to %s: delivery %s failed after %d attempts: %s", self.name, delivery.target,
                            delivery.key, attempt, error)  # fmt: skip
                break
        if on_done is not None:
            on_done(delivery)


__all__ = ["Payload", "RetryingChannel", "backoff_delay"]
