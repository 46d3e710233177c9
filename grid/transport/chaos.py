"""A chaos transport: any transport (memory or HTTP) behind a seeded fault plan.

Each message asks :meth:`protocol.faults.FaultPlan.decide` what happens to
it: lost, delivered once, or twice, each copy after its own delay. Delays go
through the scheduler (``call_later``), so a held-back copy is overtaken by
later messages on the same link (reordering). The plan can be swapped at run
time (:meth:`ChaosTransport.partition`, :meth:`heal`, :meth:`cut_one_way`,
:meth:`set_plan`), from tests and scenario timelines alike.

What the sender learns, as over a real network:

- a random loss is silent (the request vanished; gossip repairs it later);
- a partitioned or one-way-cut link fails the delivery at once (connection
  refused), so the sender's gossip core schedules a digest exchange;
- an Ask whose request or answer is lost fails with a reason.

Fault plans name nodes by id; ``node_of`` maps a destination address to its
node id (the sender's id is the envelope's ``returnId``). Sends may come from
actors on several threads, so one lock guards the plan, the random generator and
the counts.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from typing import Callable

from protocol.envelopes import Envelope
from protocol.faults import FaultPlan

from ..runtime import Scheduler
from .base import AskCallback, FailCallback, Transport

#: The sender of a message without ``returnId`` (an operator's message).
OPERATOR = "(operator)"


class ChaosTransport:
    """Wraps ``inner``; every send and ask goes through the current fault plan."""

    def __init__(
        self,
        inner: Transport,
        plan: FaultPlan,
        rng: random.Random,
        scheduler: Scheduler,
        node_of: Callable[[str], str] = lambda address: address,
    ) -> None:
        self.inner = inner
        self.rng = rng
        self.scheduler = scheduler
        self.node_of = node_of
        self._plan = plan
        self._lock = threading.Lock()
        #: What happened to messages so far: sent, lost, cut, duplicated, delayed.
        self.counts: Counter[str] = Counter()

    # ------------------------------------------------------------ the plan
    @property
    def plan(self) -> FaultPlan:
        """The fault plan in force."""
        return self._plan

    def set_plan(self, plan: FaultPlan) -> None:
        """Replace the whole plan (rates, delays, partitions) at once."""
        with self._lock:
            self._plan = plan

    def partition(self, *groups: set[str] | frozenset[str] | list[str]) -> None:
        """Split the nodes into groups that cannot reach each other."""
        with self._lock:
            self._plan = self._plan.partition(*groups)

    def cut_one_way(self, src: str, dst: str) -> None:
        """Lose every message from ``src`` to ``dst`` (the other way still flows)."""
        with self._lock:
            self._plan = self._plan.cut_one_way(src, dst)

    def heal(self) -> None:
        """Remove every partition and cut; loss, duplication and delays stay."""
        with self._lock:
            self._plan = self._plan.heal()

    # ------------------------------------------------------------ interface
    def send(self, address: str, envelope: Envelope, on_fail: FailCallback) -> None:
        delays = self._decide(envelope.return_id or OPERATOR, self.node_of(address))
        if delays is None:
            on_fail("partitioned")
            return
        for delay in delays:
            self._later(delay, self.inner.send, address, envelope, on_fail)

    def ask(self, address: str, envelope: Envelope, on_reply: AskCallback) -> None:
        src, dst = envelope.return_id or OPERATOR, self.node_of(address)
        delays = self._decide(src, dst)
        if delays is None:
            on_reply(None, "partitioned")
            return
        if not delays:
            on_reply(None, "the request was lost")
            return
        replied = self._answer_once(on_reply, src, dst)
        for delay in delays:  # a duplicated Ask reaches the peer twice; the first answer counts
            self._later(delay, self.inner.ask, address, envelope, replied)

    # ------------------------------------------------------------ internals
    def _decide(self, src: str, dst: str) -> list[float] | None:
        """Delays of the copies to deliver; ``None`` if the link is cut."""
        with self._lock:
            self.counts["sent"] += 1
            if not self._plan.reachable(src, dst):
                self.counts["cut"] += 1
                return None
            delays = self._plan.decide(src, dst, self.rng)
            self.counts["lost" if not delays else "duplicated" if len(delays) > 1 else "delivered"] += 1
            return delays

    def _later(self, delay: float, fn: Callable[..., None], *args: object) -> None:
        if delay <= 0:
            fn(*args)
        else:
            self.scheduler.call_later(delay, fn, *args)

    def _answer_once(self, on_reply: AskCallback, src: str, dst: str) -> AskCallback:
        """The answer travels back from ``dst`` to ``src`` through the plan too."""
        first = threading.Lock()

        def answered(envelope: Envelope | None, error: str | None) -> None:
            if not first.acquire(blocking=False):
                return  # a later copy's answer
            back = self._decide(dst, src)
            if not back:
                on_reply(None, "the answer was lost")
                return
            self._later(back[0], on_reply, envelope, error)

        return answered


__all__ = ["ChaosTransport", "OPERATOR"]
