"""What each timeline action does to the running grid (the runner's half that acts).

:class:`TimelineActions` is mixed into :class:`~.runner.Runner`: one method
per action (``send``, ``link``, ``kill``, ``partition``, ...), each returning
a line for the record or raising :class:`RunError` when the action failed.
Every action, done or not, is recorded as an :class:`~.record.Applied`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from .faults import Unsupported, complete
from .record import Applied
from .templates import fill

if TYPE_CHECKING:
    from .faults import Faults
    from .plan import Plan
    from .progress import View
    from .record import Recording
    from .runner import Driver

log = logging.getLogger("grid.scenario")

#: Link requests in flight at once while a grid is wired up.
LINKS_IN_FLIGHT = 64


class RunError(RuntimeError):
    """The run could not go on (a node did not start, the grid never linked up), or an action failed."""


class Interrupted(Exception):
    """The user asked the run to stop (Ctrl-C)."""


class TimelineActions:
    """The timeline's actions, over the runner's plan, driver, running set and record."""

    plan: "Plan"
    driver: "Driver"
    view: "View"
    recording: "Recording"
    running: set[str]
    edges: set[tuple[str, str]]

    @property
    def now(self) -> float:  # pragma: no cover - the runner's
        raise NotImplementedError

    @property
    def faults(self) -> "Faults":  # pragma: no cover - the runner's
        raise NotImplementedError

    async def _apply(self, event: Any) -> None:
        action = event.action
        try:
            if action == "send":
                for name in self.plan.select(event.send):
                    await self._send(event, name)
                return
            detail = await getattr(self, f"_do_{action}")(event)
            ok = True
        except (Unsupported, RunError) as exc:
            detail, ok = str(exc), False
        self._applied(event, action, self._target(event), ok, detail)

    def _applied(self, event: Any, action: str, target: str, ok: bool, detail: str) -> None:
        applied = Applied(event.at, self.now, action, target, ok, detail)
        self.recording.events.append(applied)
        self.view.event(applied, event.label)

    @staticmethod
    def _target(event: Any) -> str:
        value = getattr(event, event.action)
        if isinstance(value, (list, tuple)):
            return " | ".join(v if isinstance(v, str) else ",".join(v) for v in value)
        return str(value) if isinstance(value, str) else ""

    async def _send(self, event: Any, name: str) -> None:
        node = self.plan.node(name)
        msg = fill(event.msg, self.driver.fact, time.time_ns() // 1_000_000)
        token = fill(event.token, self.driver.fact, 0) if event.token is not None else node.token
        if name not in self.running:
            self._applied(event, "send", name, False, f"{name} is not running")
            return
        status, answer = await self.driver.send(name, event.msg_type, msg, token)
        ok = status == event.status if event.status is not None else 200 <= status < 300
        self._applied(event, "send", name, ok, f"{event.msg_type} -> {status} {_short(answer)}")

    async def _link(self, a: str, b: str) -> int:
        msg = {"siblingName": b, "siblingAddress": self.driver.fact(b, "address"), "siblingId": self.plan.node(b).id}
        status, answer = await self.driver.send(a, "AddSibling", msg, self.plan.node(a).token)
        if status >= 300:
            log.warning("linking %s to %s: %s %s", a, b, status, answer)
        return status

    async def _link_many(self, pairs: list[tuple[str, str]]) -> None:
        """Link many pairs with up to :data:`LINKS_IN_FLIGHT` requests at once.

        One at a time, each link waits for the previous one's whole handshake:
        1,000 links took 80 s that way (measured when actors had threads of their own).
        """
        gate = asyncio.Semaphore(LINKS_IN_FLIGHT)

        async def one(a: str, b: str) -> None:
            async with gate:
                await self._link(a, b)

        await asyncio.gather(*(one(a, b) for a, b in pairs))

    async def _unlink(self, a: str, b: str) -> int:
        msg = {"siblingId": self.plan.node(b).id}
        status, _ = await self.driver.send(a, "RemoveSibling", msg, self.plan.node(a).token)
        return status

    async def _do_link(self, event: Any) -> str:
        a, b = event.link
        self.edges.add((a, b))
        return self._http_ok(await self._link(a, b))

    async def _do_unlink(self, event: Any) -> str:
        a, b = event.unlink
        self.edges -= {(a, b), (b, a)}
        return self._http_ok(await self._unlink(a, b))

    @staticmethod
    def _http_ok(status: int) -> str:
        if status >= 300 or status == 0:
            raise RunError(f"the node answered {status}")
        return f"HTTP {status}"

    async def _do_weather(self, event: Any) -> str:
        change = event.weather.model_dump_json(exclude_defaults=True)
        return f"in the replayed weather series from this instant: {change}"

    async def _do_kill(self, event: Any) -> str:
        return await self._halt(self.plan.select(event.kill), graceful=False)

    async def _do_stop(self, event: Any) -> str:
        return await self._halt(self.plan.select(event.stop), graceful=True)

    async def _halt(self, names: list[str], graceful: bool) -> str:
        for name in names:
            self.running.discard(name)
            await self.driver.halt(name, graceful)
        return f"{'stopped' if graceful else 'killed'} {len(names)}"

    async def _do_start(self, event: Any) -> str:
        return await self._bring_up(self.plan.select(event.start))

    async def _do_restart(self, event: Any) -> str:
        names = self.plan.select(event.restart)
        await self._halt([n for n in names if n in self.running], graceful=False)
        return await self._bring_up(names)

    async def _bring_up(self, names: list[str]) -> str:
        failed = await self.driver.launch([self.plan.node(n) for n in names])
        names = [n for n in names if n not in failed]
        self.running.update(names)
        # Link the newcomers as planned (a restarted node restores its links; linking again is a no-op).
        for a, b in sorted(self.edges):
            if a in names and b in self.running:
                await self._link(a, b)
            elif b in names and a in self.running and a not in names:
                await self._link(b, a)
        if failed:
            raise RunError("; ".join(f"{n} did not start: {why}" for n, why in failed.items()))
        return f"started {len(names)}"

    async def _do_partition(self, event: Any) -> str:
        groups = complete([self.plan.select(g) for g in event.partition], self.plan.names)
        detail = await self.faults.partition(groups)
        self.recording.splits.append((self.now, tuple(tuple(g) for g in groups)))
        return detail

    async def _do_heal(self, event: Any) -> str:
        detail = await self.faults.heal()
        self.recording.splits.append((self.now, None))
        return detail

    async def _do_faults(self, event: Any) -> str:
        return await self.faults.set_faults(event.faults)

    async def _do_mark(self, event: Any) -> str:
        return event.mark


def _short(answer: Any, limit: int = 120) -> str:
    text = str(answer)
    return text if len(text) <= limit else text[: limit - 3] + "..."
