"""Dispatch notifications reach a real local SMTP server (aiosmtpd) and a real webhook receiver.

A failing webhook is retried and ends ``failed``, visibly: in the dispatch's
notifications, in the audit log and in the node's /state block.
"""

from __future__ import annotations

import asyncio
import email
import random
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from grid.notify import Delivery
from grid.notify.email import EmailChannel, SmtpSettings
from grid.runtime import LoopScheduler
from protocol.errors import GridError

from ..integration.procs import HOST, free_port
from .dispatch_support import ask, call, make_dispatch, start_grid, table
from .inproc import wait_for


class Mailbox:
    """An aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        with self.lock:
            self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname=HOST, port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@dataclass
class Receiver:
    """A webhook endpoint on the test loop: answers ``status``, keeps what it got."""

    status: int = 200
    posts: list[tuple[dict[str, str], Any]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.posts.append((dict(request.headers), await request.json()))
        return web.json_response({"ok": self.status < 300}, status=self.status)


@pytest.fixture
async def hooks() -> AsyncIterator[tuple[Receiver, Receiver]]:
    good, bad = Receiver(), Receiver(status=500)
    app = web.Application()
    app.router.add_post("/good", good.handle)
    app.router.add_post("/bad", bad.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, HOST, port).start()
    good.url, bad.url = f"http://{HOST}:{port}/good", f"http://{HOST}:{port}/bad"
    try:
        yield good, bad
    finally:
        await runner.cleanup()


async def test_email_and_webhook_arrive_and_a_failing_webhook_ends_failed(
    smtp: tuple[Mailbox, int], hooks: tuple[Receiver, Receiver]
) -> None:
    box, smtp_port = smtp
    good, bad = hooks
    channels = ("events", "webhook", "email")
    mail = {"host": HOST, "port": smtp_port, "sender": "node1@grid.local", "to": ["owner@example.com"]}
    tables = {
        "1": table(issuer=True, channels=channels, webhook={"url": good.url}, email=mail),
        "2": table(channels=("webhook", "sms"), webhook={"url": bad.url, "retries": 2, "backoff_s": 0.01}),
    }
    grid = await start_grid(tables, [("1", "2")])
    try:
        assert (await call(grid.services["1"], make_dispatch(message="Please shed 2 kW"))).status == 202
        await wait_for(lambda: box.messages and good.posts, timeout=15)
        (mail_msg,) = box.messages
        assert "d1" in mail_msg["Subject"] and mail_msg["To"] == "owner@example.com"
        assert "Please shed 2 kW" in mail_msg.get_payload()
        assert mail_msg["X-Grid-Delivery"] == "1:d1:0:email"
        headers, event = good.posts[0]
        assert event["dispatch"]["dispatchId"] == "d1" and headers["X-Grid-Delivery"] == "1:d1:0:webhook"

        delivered = {"events": ("delivered", 1), "webhook": ("delivered", 1), "email": ("delivered", 1)}
        assert await wait_for(lambda: _statuses_are(grid.services["1"], delivered))
        # Node 2's receiver always fails: 1 attempt + 2 retries, then failed; sms is not sent at all.
        failed = {"webhook": ("failed", 3), "sms": ("failed", 0)}
        assert await wait_for(lambda: _statuses_are(grid.services["2"], failed), timeout=15)
        assert len(bad.posts) == 3 and [h["X-Grid-Attempt"] for h, _ in bad.posts] == ["1", "2", "3"]
        audited = (await ask(grid.services["2"], "dispatch.audit", kind="notification"))["records"]
        assert {(r["payload"]["channel"], r["payload"]["status"]) for r in audited} == {("webhook", "failed"),
                                                                                        ("sms", "failed")}  # fmt: skip
        (summary,) = (await grid.query("2"))["dispatch"]["channels"]
        assert (summary["channel"], summary["failed"]) == ("webhook", 1)
    finally:
        await grid.close()


async def _statuses_are(service, expected: dict[str, tuple[str, int]]) -> bool:  # type: ignore[no-untyped-def]
    shown = await ask(service, "dispatch.show", dispatch_id="d1")
    if isinstance(shown, GridError):
        return False  # not arrived yet
    return {r["channel"]: (r["status"], r["attempts"]) for r in shown["notifications"]} == expected


async def test_email_to_a_server_that_is_not_there_is_retried_then_failed() -> None:
    settings = SmtpSettings(host=HOST, port=free_port(), sender="a@b.c", to=("d@e.f",), retries=2, backoff_s=0.01,
                            timeout_s=1.0)  # fmt: skip
    channel = EmailChannel(settings, scheduler=LoopScheduler(asyncio.get_running_loop()), rng=random.Random(1))
    done: asyncio.Future[Delivery] = asyncio.get_running_loop().create_future()
    delivery = channel.deliver({"kind": "dispatch", "subject": "s"}, on_done=done.set_result)
    assert delivery.status == "pending"
    ended = await asyncio.wait_for(done, 10)
    assert (ended.status, ended.attempts) == ("failed", 3) and "Error" in (ended.last_error or "")
    assert channel.summary()["failed"] == 1


def test_email_settings_are_checked() -> None:
    good = {"host": HOST, "port": 25, "sender": "a@b.c", "to": "d@e.f"}
    assert SmtpSettings.from_mapping(good).to == ("d@e.f",)
    for bad in ({**good, "port": 0}, {**good, "to": []}, {**good, "sender": "nobody"}, {**good, "retries": -1},
                {**good, "colour": "red"}, {k: v for k, v in good.items() if k != "host"}):  # fmt: skip
        with pytest.raises(ValueError):
            SmtpSettings.from_mapping(bad)
