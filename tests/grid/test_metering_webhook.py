"""The webhook channel against a real aiohttp receiver on 127.0.0.1: delivery,
retries with back-off, final failures, and the status each delivery ends in."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from grid.notify import Delivery
from grid.notify.webhook import WebhookChannel, WebhookSettings, backoff_delay
from grid.runtime import LoopScheduler

from ..integration.procs import HOST, free_port


@dataclass
class Receiver:
    """Answers each POST with the next scripted status (the last one repeats)."""

    statuses: list[int]
    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append({"body": await request.json(), "headers": dict(request.headers)})
        status = self.statuses[min(len(self.requests), len(self.statuses)) - 1]
        return web.json_response({"ok": status < 300}, status=status)


async def serve(receiver: Receiver) -> web.AppRunner:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, HOST, port).start()
    receiver.url = f"http://{HOST}:{port}/hook"
    return runner


@pytest.fixture
async def receiver(request: pytest.FixtureRequest) -> AsyncIterator[Receiver]:
    recv = Receiver(list(getattr(request, "param", [200])))
    runner = await serve(recv)
    yield recv
    await runner.cleanup()


async def deliver(url: str, event: dict[str, Any], retries: int = 3, key: str | None = None) -> Delivery:
    """Deliver one event and wait (bounded) until its delivery ends."""
    done: asyncio.Future[Delivery] = asyncio.get_running_loop().create_future()
    channel = WebhookChannel(url, retries, 0.01, scheduler=LoopScheduler(asyncio.get_running_loop()), timeout=2.0)
    pending = channel.deliver(event, key=key, on_done=done.set_result)
    assert pending.status == "pending" and pending.attempts == 0
    ended = await asyncio.wait_for(done, 10)
    assert ended is pending  # the same record, updated in place
    assert channel.deliveries()[0]["status"] == ended.status
    return ended


async def test_an_event_is_posted_as_json_with_its_key(receiver: Receiver) -> None:
    delivery = await deliver(receiver.url, {"kind": "meter_alert", "total_kwh": 2.1}, key="meter:1:exceeded:m:0")
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("delivered", 1, None)
    (request,) = receiver.requests
    assert request["body"] == {"kind": "meter_alert", "total_kwh": 2.1}
    assert request["headers"]["X-Grid-Delivery"] == "meter:1:exceeded:m:0"
    assert request["headers"]["Content-Type"] == "application/json"
    assert delivery.kind == "meter_alert"


@pytest.mark.parametrize("receiver", [[500]], indirect=True)
async def test_a_failing_receiver_is_retried_then_the_delivery_fails(receiver: Receiver) -> None:
    delivery = await deliver(receiver.url, {"kind": "x"}, retries=3)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("failed", 4, "HTTP 500")
    assert [r["headers"]["X-Grid-Attempt"] for r in receiver.requests] == ["1", "2", "3", "4"]
    assert len({r["headers"]["X-Grid-Delivery"] for r in receiver.requests}) == 1  # one key for every attempt


@pytest.mark.parametrize("receiver", [[503, 429, 200]], indirect=True)
async def test_a_receiver_that_recovers_gets_the_event(receiver: Receiver) -> None:
    delivery = await deliver(receiver.url, {"kind": "x"}, retries=3)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("delivered", 3, None)


@pytest.mark.parametrize("receiver", [[400]], indirect=True)
async def test_a_refusal_is_final(receiver: Receiver) -> None:
    delivery = await deliver(receiver.url, {"kind": "x"}, retries=3)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("failed", 1, "HTTP 400")


async def test_an_unreachable_receiver_is_retried_then_fails() -> None:
    delivery = await deliver(f"http://{HOST}:{free_port()}/hook", {"kind": "x"}, retries=2)
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    assert delivery.last_error and "Connect" in delivery.last_error


async def test_counts_and_summary_follow_the_deliveries(receiver: Receiver) -> None:
    loop = asyncio.get_running_loop()
    channel = WebhookChannel(receiver.url, 0, 0.01, scheduler=LoopScheduler(loop))
    done: list[Delivery] = []
    for i in range(3):
        channel.deliver({"kind": "x", "i": i}, on_done=done.append)
    assert channel.summary()["pending"] == 3
    for _ in range(500):  # bounded: 500 x 10 ms
        if len(done) == 3:
            break
        await asyncio.sleep(0.01)
    assert channel.summary() == {"channel": "webhook", "url": receiver.url, "pending": 0, "delivered": 3, "failed": 0}
    assert sorted(r["body"]["i"] for r in receiver.requests) == [0, 1, 2]


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    rng = random.Random(7)
    for retry, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (7, 10.0), (30, 10.0)]:
        for _ in range(50):
            assert ceiling / 2 <= backoff_delay(retry, 1.0, 10.0, rng) <= ceiling


@pytest.mark.parametrize(
    "table",
    [{}, {"url": "ftp://x/y"}, {"url": "/relative"}, {"url": "http://h/x", "retries": -1},
     {"url": "http://h/x", "retries": 1.5}, {"url": "http://h/x", "backoff_s": "soon"}, {"url": "http://h/x", "x": 1},
     {"url": "http://h/x", "timeout_s": 0}],
)  # fmt: skip
def test_bad_webhook_settings_are_refused(table: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        WebhookSettings.from_mapping(table)


def test_webhook_settings_defaults() -> None:
    settings = WebhookSettings.from_mapping({"url": "https://example.org/hook", "retries": 2})
    assert (settings.url, settings.retries, settings.backoff_s, settings.timeout_s) == (
        "https://example.org/hook", 2, 1.0, 5.0)
