"""The transport interface every implementation honours.

Both calls are made from an actor's thread and must return at once: delivery
happens elsewhere (the event loop, or the target's mailbox), and failures come
back through the callbacks, which the actor turns into messages to itself.
"""

from __future__ import annotations

from typing import Callable, Protocol

from protocol.envelopes import Envelope

#: Called with a reason when a Tell could not be delivered.
FailCallback = Callable[[str], None]
#: Called with the Response envelope, or ``None`` and a reason.
AskCallback = Callable[[Envelope | None, str | None], None]


class Transport(Protocol):
    """Sends envelopes to node addresses."""

    def send(self, address: str, envelope: Envelope, on_fail: FailCallback) -> None:
        """Deliver a Tell; call ``on_fail(reason)`` if it cannot be delivered."""

    def ask(self, address: str, envelope: Envelope, on_reply: AskCallback) -> None:
        """Deliver an Ask; call ``on_reply`` with the Response or an error."""
