"""The email channel: each event as a message through a configured SMTP server, with retries.

The delivery lifecycle (``deliver`` returns a pending
:class:`~grid.notify.Delivery` at once, attempts run on the event loop) and
the jittered back-off are :class:`~grid.notify.channel.RetryingChannel`'s;
this module composes the message and makes one attempt. ``smtplib`` blocks,
so each attempt runs in a worker thread (``asyncio.to_thread``); the standard
library's client is enough for one short message at a time and adds no
dependency. Connection errors, timeouts and SMTP errors are retried; after
``retries`` retries the delivery is failed.

The message: ``Subject`` is the event's ``subject`` (else ``Grid <kind>``),
the body its ``text`` (else the event as JSON), and ``X-Grid-Delivery``
carries the delivery key so a mailbox can spot repeats.
"""

from __future__ import annotations

import asyncio
import json
import random
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, fields
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from ..runtime import Scheduler
from . import Delivery
from .channel import RetryingChannel


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


class EmailChannel(RetryingChannel[EmailMessage]):
    """Delivers events as email; keeps the status of recent deliveries."""

    name = "email"

    def __init__(self, settings: SmtpSettings, *, scheduler: Scheduler, rng: random.Random | None = None,
                 keep: int = 200) -> None:  # fmt: skip
        self.settings = settings
        super().__init__(scheduler=scheduler, retries=settings.retries, backoff=settings.backoff_s,
                         max_backoff=settings.max_backoff_s, rng=rng, keep=keep)  # fmt: skip

    @classmethod
    def from_settings(cls, settings: SmtpSettings, scheduler: Scheduler) -> "EmailChannel":
        """The channel checked settings describe (as ``WebhookChannel.from_settings``)."""
        return cls(settings, scheduler=scheduler)

    @property
    def target(self) -> str:
        """The recipients, as one comma-separated string."""
        return ", ".join(self.settings.to)

    def compose(self, event: dict[str, Any], key: str) -> EmailMessage:
        """The message mailed for ``event``."""
        message = EmailMessage()
        message["From"] = self.settings.sender
        message["To"] = self.target
        message["Subject"] = str(event.get("subject") or f"Grid {event.get('kind', 'event')}")[:200]
        message["Message-ID"] = make_msgid(domain="grid.local")
        message["X-Grid-Delivery"] = key
        text = event.get("text")
        message.set_content(text if isinstance(text, str) else json.dumps(event, indent=2, sort_keys=True))
        return message

    def _where(self) -> dict[str, Any]:
        s = self.settings
        return {"server": f"{s.host}:{s.port}", "to": list(s.to)}

    def _prepare(self, event: dict[str, Any], key: str) -> EmailMessage:
        return self.compose(event, key)

    async def _attempt(self, delivery: Delivery, message: EmailMessage, attempt: int) -> tuple[str | None, bool]:
        """One SMTP session: (None, _) on success, else (why, False): every failure is worth a retry."""
        try:
            await asyncio.to_thread(self._send_once, message)
        except (OSError, smtplib.SMTPException) as exc:
            return f"{type(exc).__name__}: {exc}".rstrip(": ")[:300], False
        return None, False

    def _send_once(self, message: EmailMessage) -> None:
        s = self.settings
        with smtplib.SMTP(s.host, s.port, timeout=s.timeout_s) as smtp:
            if s.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.username:
                smtp.login(s.username, s.password or "")
            smtp.send_message(message)


__all__ = ["EmailChannel", "SmtpSettings"]
