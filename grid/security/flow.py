"""Flow limits: a bound on the /messaging requests one node works on at once.

Every request holds a slot from before its body is read until its answer is
ready; a request that finds no free slot is shed at once with 503 and
``Retry-After`` (the HTTP transport of peers backs off and retries on 503).
So the work a node has accepted, and the memory it holds for it (at most
``limit`` bodies of at most 64 KiB, and as many actor messages), stays
bounded whatever arrives. Slow or never-finished bodies cannot hold a slot
forever: reading a body has a deadline (``body_timeout_s``).

Used on the event loop only (no lock needed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from protocol.errors import Overloaded

from .settings import DEFAULT_BODY_TIMEOUT_S, DEFAULT_MAX_INFLIGHT


@dataclass
class InflightGate:
    """Counts requests in flight; refuses past ``limit``."""

    limit: int = DEFAULT_MAX_INFLIGHT
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S
    #: Seconds a shed client is told to wait.
    retry_after_s: float = 1.0
    inflight: int = 0
    #: Requests shed since start, and the most ever in flight at once.
    shed: int = 0
    peak: int = field(default=0)

    def admit(self) -> "_Slot":
        """Hold one slot for the duration of the ``with`` block, or raise 503."""
        if self.inflight >= self.limit:
            self.shed += 1
            raise Overloaded(
                f"this node is handling {self.inflight} requests; retry shortly",
                retry_after_s=self.retry_after_s,
                code="overloaded",
            )
        self.inflight += 1
        if self.inflight > self.peak:
            self.peak = self.inflight
        return _Slot(self)


class _Slot:
    """A held slot of an :class:`InflightGate`, given back when the ``with`` block ends.

    A plain class rather than a generator-based context manager: it is on the
    path of every request.
    """

    __slots__ = ("_gate",)

    def __init__(self, gate: InflightGate) -> None:
        self._gate = gate

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        self._gate.inflight -= 1


__all__ = ["InflightGate"]
