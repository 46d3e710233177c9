"""The email channel: each event as a message through a configured SMTP server, with retries.

Same contract as the webhook channel (see :mod:`grid.notify`): ``deliver``
returns a pending :class:`~grid.notify.Delivery` at once and the attempts run
on the event loop, reached through the node's scheduler. ``smtplib`` blocks,
so each attempt runs in a worker thread (``asyncio.to_thread``); the standard
library's client is enough for one short message at a time and adds no
dependency. Connection errors, timeouts and SMTP errors are retried with the
webhook's jittered back-off; after ``retries`` retries the delivery is failed.

The message: ``Subject`` is the event's ``subject`` (else ``Grid <kind>``),
the body its ``text`` (else the event as JSON), and ``X-Grid-Delivery``
carries the delivery key so a mailbox can spot repeats.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, fields
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from ..runtime import Scheduler
from . import Delivery, DeliveryLog, DoneCallback, new_key
from .webhook import backoff_delay

log = logging.getLogger("grid.notify")


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """An SMTP server and who gets the mail (``[... .email]`` in a node's TOML).

    ``retries`` further attempts follow a failed one, after ``backoff_s``
    doubling up to ``max_backoff_s`` (jittered); ``starttls`` upgrades the
    connection before ``login`` (when ``username`` is set).
    """

    host: str
    port: int
    sender: str
    to: tuple[str, ...]
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout_s: float = 5.0
    retries: int = 3
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> SmtpSettings:
        """Settings from a config table; raises ValueError naming what is wrong."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(table) - known)
        if unknown:
            raise ValueError(f"unknown email settings {unknown}; known: {sorted(known)}")
        to = table.get("to", ())
        try:
            settings = cls(**{**table, "to": (to,) if isinstance(to, str) else tuple(to)})
        except TypeError as exc:
            raise ValueError(f"email settings: {exc}") from None
        settings._check()
        return settings

    def _check(self) -> None:
        if not isinstance(self.host, str) or not self.host:
            raise ValueError("email needs a host")
        if not isinstance(self.port, int) or not 0 < self.port < 65536:
            raise ValueError("email port must be a whole number in 1-65535")
        addresses = (self.sender, *self.to)
        if not self.to or not all(isinstance(a, str) and "@" in a and "\n" not in a for a in addresses):
            raise ValueError("email needs a sender and at least one recipient in to, as addresses")
        numbers = (self.retries, self.backoff_s, self.max_backoff_s, self.timeout_s)
        not_numbers = any(isinstance(n, bool) or not isinstance(n, int | float) for n in numbers)
        if not_numbers or not isinstance(self.retries, int):
            raise ValueError("email retries must be a whole number, backoff_s and timeout_s numbers")
        if self.retries < 0 or self.backoff_s < 0 or self.max_backoff_s < 0 or self.timeout_s <= 0:
            raise ValueError("email retries and backoff_s must be >= 0, timeout_s > 0")


class EmailChannel:
    """Delivers events as email; keeps the status of recent deliveries."""

    name = "email"

    def __init__(self, settings: SmtpSettings, *, scheduler: Scheduler, rng: random.Random | None = None,
                 keep: int = 200) -> None:  # fmt: skip
        self.settings = settings
        self.scheduler = scheduler
        self.log = DeliveryLog(keep)
        self._rng = rng or random.Random()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    @classmethod
    def from_settings(cls, settings: SmtpSettings, scheduler: Scheduler) -> "EmailChannel":
        """The channel checked settings describe (as ``WebhookChannel.from_settings``)."""
        return cls(settings, scheduler=scheduler)

    # ------------------------------------------------------------ interface
    def deliver(
        self, event: dict[str, Any], *, key: str | None = None, on_done: DoneCallback | None = None
    ) -> Delivery:
        """Start mailing ``event`` (JSON-ready); returns the pending delivery."""
        delivery = Delivery(key or new_key(), self.name, ", ".join(self.settings.to),
                            str(event.get("kind", "event")), self.scheduler.wall_ms())  # fmt: skip
        message = self.compose(event, delivery.key)
        self.log.add(delivery)
        self.scheduler.call_later(0, self._start, delivery, message, on_done)
        return delivery

    def compose(self, event: dict[str, Any], key: str) -> EmailMessage:
        """The message mailed for ``event``."""
        message = EmailMessage()
        message["From"] = self.settings.sender
        message["To"] = ", ".join(self.settings.to)
        message["Subject"] = str(event.get("subject") or f"Grid {event.get('kind', 'event')}")[:200]
        message["Message-ID"] = make_msgid(domain="grid.local")
        message["X-Grid-Delivery"] = key
        text = event.get("text")
        message.set_content(text if isinstance(text, str) else json.dumps(event, indent=2, sort_keys=True))
        return message

    def deliveries(self) -> list[dict[str, Any]]:
        """Recent deliveries, newest first."""
        return self.log.snapshot()

    def summary(self) -> dict[str, Any]:
        """The server and how many deliveries are pending, delivered, failed."""
        s = self.settings
        return {"channel": self.name, "server": f"{s.host}:{s.port}", "to": list(s.to), **self.log.counts()}

    def close(self) -> None:
        """Stop retrying; deliveries in flight stay ``pending`` (callable from any thread)."""
        self._closed = True
        self.scheduler.call_later(0, self._cancel_all)

    # ------------------------------------------------------------ on the loop
    def _start(self, delivery: Delivery, message: EmailMessage, on_done: DoneCallback | None) -> None:
        if self._closed:
            return
        task = asyncio.get_running_loop().create_task(self._run(delivery, message, on_done))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    async def _run(self, delivery: Delivery, message: EmailMessage, on_done: DoneCallback | None) -> None:
        s = self.settings
        for attempt in range(1, s.retries + 2):
            if attempt > 1:
                await asyncio.sleep(backoff_delay(attempt - 1, s.backoff_s, s.max_backoff_s, self._rng))
            error = await self._attempt(message)
            now_ms = self.scheduler.wall_ms()
            if error is None:
                self.log.update(delivery, now_ms, status="delivered", attempts=attempt, last_error=None)
                break
            last = attempt > s.retries
            status = "failed" if last else "pending"
            self.log.update(delivery, now_ms, status=status, attempts=attempt, last_error=error)
            if last:
                log.warning("email to %s: delivery %s failed after %d attempts: %s", delivery.target, delivery.key,
                            attempt, error)  # fmt: skip
        if on_done is not None:
            on_done(delivery)

    async def _attempt(self, message: EmailMessage) -> str | None:
        """One SMTP session: None on success, else why it failed."""
        try:
            await asyncio.to_thread(self._send_once, message)
        except (OSError, smtplib.SMTPException) as exc:
            return f"{type(exc).__name__}: {exc}".rstrip(": ")[:300]
        return None

    def _send_once(self, message: EmailMessage) -> None:
        s = self.settings
        with smtplib.SMTP(s.host, s.port, timeout=s.timeout_s) as smtp:
            if s.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.username:
                smtp.login(s.username, s.password or "")
            smtp.send_message(message)


__all__ = ["EmailChannel", "SmtpSettings"]
