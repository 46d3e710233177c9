"""Telling a node's people about the dispatches meant for it, on each channel of its enrolment.

Channels: ``events`` (the node's live stream, ``GET /events``, kind
``dispatch``), ``webhook`` and ``email`` (:mod:`grid.notify`). Each
notification gets a row in ``dispatch_notifications`` (pending, then
delivered or failed, with the number of attempts) and an audit record when
it ends. A channel the enrolment names but the node has no settings for
(or ``sms``, which Grid does not send) fails at once, visibly.

Channels report the end of a delivery on the event loop; :meth:`Notifier.done`
is hopped back into the actor with ``node.call_later`` before touching state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from protocol.dispatch import Dispatch

from ..notify import Channel, Delivery
from .store import DispatchStore

if TYPE_CHECKING:
    from grid.node.actor import NodeActor

log = logging.getLogger("grid.dispatch")

#: Appends an audit record: (kind, subject, payload).
Audit = Callable[[str, str, dict[str, Any]], None]


def describe(d: Dispatch) -> str:
    """A person-readable line about a dispatch version."""
    if d.status == "cancelled":
        return f"Dispatch {d.dispatch_id} of program {d.program_id} is cancelled."
    until = "until cancelled" if d.end_time is None else f"until {d.end_time} (epoch ms)"
    text = (f"Dispatch {d.dispatch_id} ({d.event_type}) of program {d.program_id}: shed up to "
            f"{d.curtailment_kw:g} kW from {d.start_time} (epoch ms) {until}.")  # fmt: skip
    return f"{text} {d.message}".strip()


def dispatch_event(d: Dispatch, node_id: str, what: str) -> dict[str, Any]:
    """The JSON event sent on every channel for one dispatch version."""
    return {
        "kind": "dispatch",
        "what": what,
        "node": node_id,
        "subject": f"[grid] {what}: dispatch {d.dispatch_id} (program {d.program_id})",
        "text": describe(d),
        "dispatch": d.to_wire(),
    }


class Notifier:
    """Sends and tracks one node's dispatch notifications."""

    def __init__(self, node: "NodeActor", store: DispatchStore, audit: Audit, channels: Mapping[str, Channel],
                 commit: Callable[[], None]) -> None:  # fmt: skip
        self.node = node
        self.store = store
        self.audit = audit
        self.channels = dict(channels)
        self.commit = commit

    def notify(self, d: Dispatch, what: str, channels: tuple[str, ...]) -> None:
        """Tell of ``d`` on each of ``channels`` (of the node's enrolment)."""
        event = dispatch_event(d, self.node.config.id, what)
        for channel in dict.fromkeys(channels):  # each once, in order
            self._send(d, event, channel)

    def _send(self, d: Dispatch, event: dict[str, Any], channel: str) -> None:
        now = self.node.scheduler.wall_ms()
        target = self._target(channel)
        row = self.store.add_notification(d.dispatch_id, d.modification_number, channel, target, now)
        if channel == "events":
            self.node.events.publish("dispatch", event)
            self._finish(row, d, channel, target, "delivered", 1, None)
            return
        sender = self.channels.get(channel)
        if sender is None:
            why = "Grid does not send sms" if channel == "sms" else f"no [dispatch.{channel}] settings on this node"
            self._finish(row, d, channel, target, "failed", 0, why)
            return
        # Same key on every attempt and after a restart: receivers can drop repeats.
        key = f"{self.node.config.id}:{d.dispatch_id}:{d.modification_number}:{channel}"
        sender.deliver(event, key=key, on_done=lambda delivery: self.node.call_later(0, self.done, row, d, delivery))

    def done(self, row: int, d: Dispatch, delivery: Delivery) -> None:
        """A channel finished a delivery (in the actor's thread)."""
        self._finish(row, d, delivery.channel, delivery.target, delivery.status, delivery.attempts,
                     delivery.last_error)  # fmt: skip
        self.commit()

    def _finish(self, row: int, d: Dispatch, channel: str, target: str, status: str, attempts: int,
                error: str | None) -> None:  # fmt: skip
        self.store.set_notification(row, status, attempts, error, self.node.scheduler.wall_ms())
        payload = {"channel": channel, "target": target, "status": status, "attempts": attempts,
                   "modification_number": d.modification_number, "error": error}  # fmt: skip
        self.audit("notification", d.dispatch_id, payload)
        if status == "failed":
            log.warning("%s: %s notification of dispatch %s failed after %d attempts: %s", self.node.config.name,
                        channel, d.dispatch_id, attempts, error)  # fmt: skip
        self.node.events.publish("dispatch", {"what": "notification", "dispatch_id": d.dispatch_id, **payload})

    def _target(self, channel: str) -> str:
        sender = self.channels.get(channel)
        if channel == "events":
            return "/events"
        summary = sender.summary() if sender is not None and hasattr(sender, "summary") else {}
        return str(summary.get("url") or ", ".join(summary.get("to", ())) or channel)

    def summaries(self) -> list[dict[str, Any]]:
        """Per configured channel: where it sends and how many deliveries are in each status."""
        return [c.summary() for c in self.channels.values() if hasattr(c, "summary")]

    def close(self) -> None:
        """Stop the channels' retries (the node stops)."""
        for channel in self.channels.values():
            close = getattr(channel, "close", None)
            if close is not None:
                close()
