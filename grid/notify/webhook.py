"""The webhook channel: POST each event as JSON to one URL, with retries.

The delivery lifecycle and the jittered back-off are
:class:`~grid.notify.channel.RetryingChannel`'s; this module says how one
attempt is made. A delivery is retried on connection errors, timeouts, 408,
425, 429 and 5xx answers. Any other answer of 300 or more is final: resending
the same body will not change the receiver's mind. After ``retries`` retries
it is ``failed``.

Every attempt carries the headers ``X-Grid-Delivery`` (the delivery's key, the
same on every attempt and after a node restart) and ``X-Grid-Attempt``.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from ..runtime import Scheduler
from . import Delivery
from .channel import RetryingChannel, backoff_delay  # backoff_delay: also imported from here

#: Answers worth another try: the receiver is overloaded or briefly broken.
RETRY_STATUSES = frozenset({408, 425, 429})


def check_url(url: object) -> str:
    """``url`` if it is an absolute http(s) URL; ValueError otherwise."""
    if not isinstance(url, str) or len(url) > 2048:
        raise ValueError(f"a webhook URL must be a string of at most 2048 characters, got {url!r}")
    parsed = URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"a webhook URL must be http:// or https:// with a host, got {url!r}")
    return url


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """A webhook config table (``[metering.webhook]``, ``[dispatch.webhook]``, ...)."""

    url: str
    retries: int = 5
    backoff_s: float = 1.0
    timeout_s: float = 5.0

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> "WebhookSettings":
        """Settings from a config table; raises ValueError naming what is wrong."""
        known = {"url", "retries", "backoff_s", "timeout_s"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"unknown webhook settings {unknown}; known: {sorted(known)}")
        if "url" not in raw:
            raise ValueError("a webhook needs a url")
        settings = cls(
            check_url(raw["url"]),
            retries=_number(raw, "retries", 5, int),
            backoff_s=_number(raw, "backoff_s", 1.0, float),
            timeout_s=_number(raw, "timeout_s", 5.0, float),
        )
        if settings.retries < 0 or settings.backoff_s < 0 or settings.timeout_s <= 0:
            raise ValueError("webhook retries and backoff_s must be >= 0, timeout_s > 0")
        return settings


class WebhookChannel(RetryingChannel[bytes]):
    """Delivers events to one webhook URL; keeps the status of recent deliveries."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        retries: int = 5,
        backoff: float = 1.0,
        *,
        scheduler: Scheduler,
        timeout: float = 5.0,
        max_backoff: float = 60.0,
        rng: random.Random | None = None,
        keep: int = 200,
    ) -> None:
        if retries < 0 or backoff < 0 or timeout <= 0 or max_backoff < 0:
            raise ValueError("webhook retries and backoff must be >= 0, timeout > 0")
        self.url = check_url(url)
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        super().__init__(scheduler=scheduler, retries=retries, backoff=backoff, max_backoff=max_backoff, rng=rng,
                         keep=keep)  # fmt: skip

    @classmethod
    def from_settings(cls, settings: "WebhookSettings", scheduler: Scheduler) -> "WebhookChannel":
        """The channel a checked config table describes."""
        return cls(settings.url, settings.retries, settings.backoff_s, scheduler=scheduler, timeout=settings.timeout_s)

    @property
    def target(self) -> str:
        """The URL every delivery is POSTed to."""
        return self.url

    def _where(self) -> dict[str, Any]:
        return {"url": self.url}

    def _prepare(self, event: dict[str, Any], key: str) -> bytes:
        return json.dumps(event, separators=(",", ":"), allow_nan=False).encode()

    async def _attempt(self, delivery: Delivery, body: bytes, attempt: int) -> tuple[str | None, bool]:
        """One POST: (None, _) on success, else (why, whether it is final)."""
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "grid-notify",
            "X-Grid-Delivery": delivery.key,
            "X-Grid-Attempt": str(attempt),
        }
        try:
            async with aiohttp.ClientSession(timeout=self.timeout) as session:
                async with session.post(self.url, data=body, headers=headers, allow_redirects=False) as resp:
                    status = resp.status
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}".rstrip(": "), False
        if status < 300:
            return None, False
        return f"HTTP {status}", not (status >= 500 or status in RETRY_STATUSES)


def _number(settings: Mapping[str, Any], key: str, default: Any, kind: type) -> Any:
    value = settings.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or (kind is int and not isinstance(value, int)):
        raise ValueError(f"{key} must be a {kind.__name__}, got {value!r}")
    return kind(value)


__all__ = ["RETRY_STATUSES", "WebhookChannel", "WebhookSettings", "backoff_delay", "check_url"]
