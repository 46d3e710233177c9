"""Counts what one node sends, by msgType, on the way to the (shared) transport.

A transport usually serves every node of a process, so counting inside it
would mix nodes or need a lock on every send. This wrapper belongs to one
node and is called only from that node's actor: a send costs one dict
write and no lock. Failures are reported from other threads (the event
loop, a chaos transport's timers), so they are counted under a lock, which
costs nothing on the path of a message that arrives.
"""

from __future__ import annotations

import threading

from protocol.envelopes import Envelope

from ..transport.base import AskCallback, FailCallback, Transport


class CountingTransport:
    """A :class:`~grid.transport.base.Transport` that counts, then forwards to ``inner``."""

    def __init__(self, inner: Transport) -> None:
        #: The transport that really sends (named like ChaosTransport's, so wrappers can be walked).
        self.inner = inner
        #: Envelopes handed to the transport, by msgType (written by the actor only).
        self.sent: dict[str, int] = {}
        self._failed: dict[str, int] = {}
        self._lock = threading.Lock()

    def send(self, address: str, envelope: Envelope, on_fail: FailCallback) -> None:
        msg_type = envelope.message.msg_type
        self.sent[msg_type] = self.sent.get(msg_type, 0) + 1

        def failed(reason: str) -> None:
            self._count_failure(msg_type)
            on_fail(reason)

        self.inner.send(address, envelope, failed)

    def ask(self, address: str, envelope: Envelope, on_reply: AskCallback) -> None:
        msg_type = envelope.message.msg_type
        self.sent[msg_type] = self.sent.get(msg_type, 0) + 1

        def answered(answer: Envelope | None, error: str | None) -> None:
            if answer is None:
                self._count_failure(msg_type)
            on_reply(answer, error)

        self.inner.ask(address, envelope, answered)

    def _count_failure(self, msg_type: str) -> None:
        with self._lock:
            self._failed[msg_type] = self._failed.get(msg_type, 0) + 1

    def failed(self) -> dict[str, int]:
        """Envelopes that could not be delivered, by msgType (a copy)."""
        with self._lock:
            return dict(self._failed)

    def delivered_to(self, address: str) -> dict[str, int]:
        """Envelopes the in-memory transport underneath delivered to ``address`` (empty over HTTP)."""
        transport: object = self.inner
        while not hasattr(transport, "delivered_to") and hasattr(transport, "inner"):
            transport = transport.inner
        counts = getattr(transport, "delivered_to", None)
        return counts(address) if counts is not None else {}
