"""The loop-hosted actor runtime (grid/runtime.py): pykka semantics on the event loop.

A LoopActor must behave like a pykka ThreadingActor seen from outside: one
message at a time in mailbox order, on_start before any message, replies to
asks from other threads, failures that stop the actor, a stop from another
thread that answers what is left. And it must share the loop fairly.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pykka
import pytest

from grid.runtime import LOOP_ACTOR_BATCH, Deadlines, LoopActor, LoopReply, on_loop_thread


class Recorder(LoopActor):
    """Records what it handles, and on which thread."""

    def __init__(self, log: list[Any]) -> None:
        super().__init__()
        self.log = log

    def on_start(self) -> None:
        self.log.append(("start", threading.get_ident()))

    def on_receive(self, message: Any) -> Any:
        if message == "boom":
            raise RuntimeError("boom")
        if isinstance(message, tuple) and message[0] == "echo":
            message[1].send(message[2])
            return None
        self.log.append(message)
        return ("handled", message)

    def on_stop(self) -> None:
        self.log.append("stop")


async def settle(rounds: int = 50) -> None:
    """Let the loop run the callbacks queued so far (actors run in loop callbacks)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


async def test_messages_run_on_the_loop_in_order_after_on_start() -> None:
    log: list[Any] = []
    ref = Recorder.start(log)
    for i in range(200):
        ref.tell(i)
    await settle()
    assert log[0] == ("start", threading.get_ident())  # the loop's thread, not one of its own
    assert log[1:] == list(range(200))
    await asyncio.to_thread(ref.stop)
    assert log[-1] == "stop"


async def test_tells_from_other_threads_keep_each_senders_order() -> None:
    log: list[Any] = []
    ref = Recorder.start(log)

    def sender(name: str) -> None:
        for i in range(300):
            ref.tell((name, i))

    threads = [threading.Thread(target=sender, args=(name,)) for name in "abc"]
    for t in threads:
        t.start()
    await asyncio.to_thread(lambda: [t.join() for t in threads])
    await settle(200)
    for name in "abc":
        assert [i for n, i in log[1:] if n == name] == list(range(300))


async def test_ask_from_another_thread_gets_the_reply() -> None:
    ref = Recorder.start([])
    answer = await asyncio.to_thread(lambda: ref.ask("question", timeout=5))
    assert answer == ("handled", "question")
    await asyncio.to_thread(ref.stop)


async def test_a_reply_to_the_loop_completes_its_future_without_a_hop() -> None:
    ref = Recorder.start([])
    reply = LoopReply(asyncio.get_running_loop())
    ref.tell(("echo", reply, 42))
    assert await asyncio.wait_for(reply.future, 5) == 42
    assert on_loop_thread(asyncio.get_running_loop())
    assert not await asyncio.to_thread(on_loop_thread, asyncio.get_running_loop())
    await asyncio.to_thread(ref.stop)


async def test_one_busy_actor_does_not_starve_the_others() -> None:
    order: list[str] = []

    class Named(LoopActor):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

        def on_receive(self, message: Any) -> None:
            order.append(self.name)

    busy, quiet = Named.start("busy"), Named.start("quiet")
    await settle()
    for _ in range(LOOP_ACTOR_BATCH * 3):
        busy.tell("work")
    quiet.tell("work")
    await settle()
    # The quiet actor got its turn after one batch of the busy one, not after all of them.
    assert order.index("quiet") <= LOOP_ACTOR_BATCH
    assert order.count("busy") == LOOP_ACTOR_BATCH * 3
    await asyncio.to_thread(busy.stop)
    await asyncio.to_thread(quiet.stop)


async def test_a_failure_stops_the_actor_and_later_tells_are_refused() -> None:
    log: list[Any] = []
    ref = Recorder.start(log)
    ref.tell("boom")
    await settle()
    assert not ref.is_alive()
    with pytest.raises(pykka.ActorDeadError):
        ref.tell("after")
    assert "after" not in log


async def test_stop_from_another_thread_answers_what_is_left() -> None:
    log: list[Any] = []
    ref = Recorder.start(log)
    await settle()
    stopped = await asyncio.to_thread(lambda: ref.stop(block=True, timeout=5))
    assert stopped is True and not ref.is_alive() and log[-1] == "stop"


async def test_deadlines_fail_only_what_is_still_pending_and_stop_checking_when_idle() -> None:
    loop = asyncio.get_running_loop()
    deadlines = Deadlines(resolution_s=0.02)
    late, answered, forgotten = loop.create_future(), loop.create_future(), loop.create_future()
    for future in (late, answered, forgotten):
        deadlines.watch(future, 0.05)
    answered.set_result("ok")
    deadlines.forget(forgotten)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(late, 2)
    assert answered.result() == "ok" and not forgotten.done()
    await asyncio.sleep(0.1)
    assert not deadlines._armed  # nothing left to watch: no timer keeps running


def test_ctrl_c_inside_an_actor_reaches_the_loops_owner_instead_of_hanging() -> None:
    # pykka's answer to a KeyboardInterrupt in an actor is to stop every actor and wait
    # for them, which on a shared loop would wait forever. Run it in a process of its own.
    script = (
        "import asyncio\n"
        "from grid.runtime import LoopActor\n"
        "class Interrupted(LoopActor):\n"
        "    def on_receive(self, message):\n"
        "        raise KeyboardInterrupt\n"
        "async def main():\n"
        "    Interrupted.start(); Interrupted.start().tell('go')\n"
        "    await asyncio.sleep(30)\n"
        "try:\n"
        "    asyncio.run(main())\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=20,
                          cwd=Path(__file__).resolve().parents[2])  # fmt: skip
    assert done.stdout.strip() == "interrupted", done.stderr
