"""Run a planned scenario on a driver: start, link, warm up, play the timeline, sample, judge.

The runner is the same for every mode; a :class:`Driver` starts and stops
nodes and talks to them (in this process: :mod:`.runner_inproc`; as real
processes: :mod:`.runner_procs`).

Timing. Model nodes share one simulated clock whose epoch (the instant the
simulation stands at ``clock.start``) is chosen before any node starts:
launch time plus the warm-up allowance. The run's time zero *is* that epoch,
so run time ``t`` is simulated time ``start + t * speed`` in every process,
and weather events compiled ahead of time land when due. Scenarios without
models start their timeline as soon as the grid is ready.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..clock import iso, parse_instant
from ..transport.chaos import ChaosTransport
from .checks import dispatch_ids
from .expect import Context, Outcome, evaluate
from .actions import Interrupted, RunError, TimelineActions
from .faults import ChaosFaults, Faults, LinkCutFaults
from .plan import Plan, PlannedNode
from .progress import Status, View
from .record import NodeSample, Recording, Sample
from .weather import compile_csv, with_weather

__all__ = ["Driver", "Interrupted", "Options", "Result", "RunError", "Runner"]

#: Seconds between two attempts to make the planned links no node reports yet.
RELINK_S = 3.0


class Driver(Protocol):
    """Starts, stops and talks to the nodes of one run."""

    mode: str
    #: The chaos transport every node sends through, when the driver has one.
    chaos: ChaosTransport | None

    async def open(self, nodes: list[PlannedNode], clock: dict[str, Any]) -> None:
        """Prepare (transport, session) for these nodes and this clock table."""

    async def launch(self, nodes: list[PlannedNode]) -> dict[str, str]:
        """Start nodes; returns name -> reason for those that did not start."""

    async def halt(self, name: str, graceful: bool) -> None:
        """Stop one node: gracefully (it leaves) or killed."""

    async def send(self, name: str, msg_type: str, msg: dict[str, Any], token: str | None) -> tuple[int, Any]:
        """An operator's Tell to a node; returns (HTTP status, answer)."""

    async def states(self, names: list[str]) -> dict[str, dict[str, Any] | None]:
        """Each node's /state (None: no answer)."""

    async def dispatch(self, name: str, dispatch_id: str) -> dict[str, Any] | None:
        """A node's view of one dispatch (its /dispatches/{id} body), or None."""

    def fact(self, name: str, fact: str) -> Any:
        """``address``, ``port``, ``id``, ``name`` or ``token`` of a node."""

    def url(self, name: str) -> str | None:
        """Where a browser reaches a node (None without HTTP)."""

    async def close(self) -> None:
        """Stop everything this driver started."""


@dataclass
class Options:
    """How to run: sampling, warm-up, where to put files."""

    workdir: Path
    sample_s: float
    warmup_s: float
    dashboard: bool = False


@dataclass
class Result:
    """A finished (or interrupted) run."""

    plan: Plan
    mode: str
    recording: Recording
    outcomes: list[Outcome] = field(default_factory=list)
    started: str = ""
    ready_s: float = 0.0  #: seconds from launch until the grid was linked and agreed
    late_s: float = 0.0  #: how far past the clock's epoch the grid became ready
    error: str | None = None
    interrupted: bool = False
    workdir: str = ""
    #: What the chaos transport did to messages (sent, lost, cut, duplicated, ...), when there was one.
    network: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Every expectation held and nothing went wrong."""
        return not self.error and not self.interrupted and all(o.passed for o in self.outcomes)


class Runner(TimelineActions):
    """Plays one plan on one driver."""

    def __init__(self, plan: Plan, driver: Driver, options: Options, view: View) -> None:
        self.plan = plan
        self.driver = driver
        self.options = options
        self.view = view
        self.recording = Recording()
        self.running: set[str] = set()
        self.edges: set[tuple[str, str]] = set(plan.edges)
        self.t0 = 0.0  # monotonic instant of run time zero
        self.sim_start = 0.0  # simulated Unix seconds at run time zero
        self._faults: Faults | None = None
        #: Set (by a signal handler) to stop the run early; everything started is still stopped.
        self.stopping = asyncio.Event()

    @property
    def faults(self) -> Faults:
        """The fault adapter: the driver's chaos transport (once open), else cutting links."""
        if self._faults is None:
            if self.driver.chaos is not None:
                self._faults = ChaosFaults(self.driver.chaos, lambda name: self.plan.node(name).id)
            else:
                self._faults = LinkCutFaults(lambda: self.edges, lambda: self.running, self._link, self._unlink)
        return self._faults

    @property
    def now(self) -> float:
        """Run time in seconds (negative during warm-up)."""
        return time.monotonic() - self.t0

    # ------------------------------------------------------------------ the run
    async def run(self) -> Result:
        """Everything, with the driver closed at the end whatever happens."""
        result = Result(self.plan, self.driver.mode, self.recording, started=iso(time.time()),
                        workdir=str(self.options.workdir))  # fmt: skip
        try:
            await self._prepare_and_warm(result)
            await self._play()
            await self._finish()
        except RunError as exc:
            result.error = str(exc)
        except Interrupted:
            result.interrupted = True
        finally:
            self.recording.end = max(0.0, min(self.now, self.plan.duration))
            if result.error is None:
                result.outcomes = self._judge()
            if self.driver.chaos is not None:
                result.network = dict(self.driver.chaos.counts)
            self.view.phase("stopping every node")
            await asyncio.shield(self.driver.close())
        return result

    async def _prepare_and_warm(self, result: Result) -> None:
        plan = self.plan
        launched = time.time()
        epoch = launched + self.options.warmup_s
        clock = self._clock_table(epoch)
        nodes = self._with_weather(list(plan.nodes), clock, epoch)
        self.plan = Plan(plan.scenario, tuple(nodes), plan.edges, plan.events, plan.duration, plan.speed)
        self.t0 = time.monotonic() + self.options.warmup_s
        self.view.phase(f"starting {sum(n.start for n in nodes)} nodes ({self.driver.mode})")
        await self.driver.open(nodes, clock)
        first = [n for n in nodes if n.start]
        failed = await self._unless_stopped(self.driver.launch(first))
        if failed:
            raise RunError("; ".join(f"{name} did not start: {why}" for name, why in failed.items()))
        self.running = {n.name for n in first}
        self.view.phase(f"linking {len(self.edges)} links")
        pairs = [(a, b) for a, b in plan.edges if a in self.running and b in self.running]
        await self._unless_stopped(self._link_many(pairs))
        await self._warm_up()
        result.ready_s = time.time() - launched
        if plan.has_models:
            result.late_s = max(0.0, time.time() - epoch)
            await self._sleep(-self.now)
        else:
            self.t0 = time.monotonic()
        if self.options.dashboard:
            self.view.note(self._dashboard_hint())

    def _clock_table(self, epoch: float) -> dict[str, Any]:
        start = self.plan.scenario.clock.start
        self.sim_start = parse_instant(start) if start is not None else epoch
        return {"speed": self.plan.speed, "start": start if start is not None else epoch, "epoch": epoch}

    def _status(self) -> Status:
        chaos = dict(self.driver.chaos.counts) if self.driver.chaos is not None else {}
        simulated = iso(self.sim_start + max(0.0, self.now) * self.plan.speed) if self.plan.has_models else None
        return Status(self.now, self.plan.duration, len(self.running), len(self.plan.nodes), simulated, chaos)

    def _with_weather(self, nodes: list[PlannedNode], clock: dict[str, Any], epoch: float) -> list[PlannedNode]:
        weather_events = [e for e in self.plan.events if e.weather is not None]
        if not weather_events:
            return nodes
        start_s = parse_instant(clock["start"])
        span = (self.plan.duration + self.options.warmup_s + 60) * self.plan.speed
        text = compile_csv(self.plan.scenario.weather, weather_events, start_s, self.plan.speed, span)
        path = self.options.workdir / "weather.csv"
        path.write_text(text)
        return with_weather(nodes, str(path))

    def _dashboard_hint(self) -> str:
        name = self.plan.scenario.info.dashboard or next(iter(sorted(self.running, key=self._order)), "")
        url = self.driver.url(name)
        if url is None:
            return "no dashboard: this driver serves no HTTP"
        return f"dashboard of {name}: {url}  (open it while the scenario runs)"

    def _order(self, name: str) -> int:
        return self.plan.node(name).index

    async def _warm_up(self) -> None:
        """Wait until every started node sees its whole linked component.

        A link whose handshake failed (an Ask that timed out on a busy host)
        is asked for again every :data:`RELINK_S`; linking twice is a no-op.
        """
        expected = self._component_sizes()
        limit = max(30.0, 3 * self.options.warmup_s)
        deadline = time.monotonic() + limit
        relink_at = time.monotonic() + RELINK_S
        self.view.phase("waiting until every node sees the whole grid")
        while True:
            states = await self.driver.states(sorted(self.running, key=self._order))
            sample = self._sample_of(self.now, states)
            wrong = [n for n in expected if n not in sample.nodes or sample.nodes[n].live != expected[n]]
            if not wrong:
                return
            if time.monotonic() > deadline:
                got = sample.nodes.get(wrong[0])
                sees = f"{wrong[0]} sees {got.live if got else 'nothing'}, expected {expected[wrong[0]]} live nodes"
                raise RunError(f"the grid did not link up within {limit:.0f} s: {sees}")
            if time.monotonic() > relink_at:
                await self._link_many(self._unlinked(states))
                relink_at = time.monotonic() + RELINK_S
            await self._sleep(min(0.5, self.options.sample_s))

    def _unlinked(self, states: dict[str, dict[str, Any] | None]) -> list[tuple[str, str]]:
        """Planned links that neither end reports among its siblings."""
        siblings = {name: {s["id"] for s in state.get("siblings", [])} for name, state in states.items() if state}
        missing = []
        for a, b in sorted(self.edges):
            if a in siblings and b in siblings:
                if self.plan.node(b).id not in siblings[a] and self.plan.node(a).id not in siblings[b]:
                    missing.append((a, b))
        return missing

    async def _unless_stopped(self, work: Any) -> Any:
        """Await ``work``, unless the run is asked to stop first: then cancel it and raise :class:`Interrupted`.

        Whatever ``work`` started (processes waiting to answer) is still the
        driver's, and the driver stops it at the end.
        """
        task = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(self.stopping.wait())
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            raise Interrupted
        return task.result()

    async def _sleep(self, seconds: float) -> None:
        """Sleep, unless the run is asked to stop: then raise :class:`Interrupted`."""
        if seconds > 0 and not self.stopping.is_set():
            try:
                await asyncio.wait_for(self.stopping.wait(), seconds)
            except asyncio.TimeoutError:
                pass
        if self.stopping.is_set():
            raise Interrupted

    def _component_sizes(self) -> dict[str, int]:
        parent = {n: n for n in self.running}

        def root(n: str) -> str:
            while parent[n] != n:
                parent[n] = parent[parent[n]]
                n = parent[n]
            return n

        for a, b in self.edges:
            if a in parent and b in parent:
                parent[root(a)] = root(b)
        sizes: dict[str, int] = {}
        for n in parent:
            sizes[root(n)] = sizes.get(root(n), 0) + 1
        return {n: sizes[root(n)] for n in parent}

    # ------------------------------------------------------------------ timeline and samples
    async def _play(self) -> None:
        self.view.phase("running")
        sampler = asyncio.create_task(self._sampler())
        try:
            for event in self.plan.events:
                await self._sleep(event.at - self.now)
                await self._unless_stopped(self._apply(event))
            await self._sleep(self.plan.duration - self.now)
        finally:
            sampler.cancel()
            await asyncio.gather(sampler, return_exceptions=True)

    async def _sampler(self) -> None:
        interval = self.options.sample_s
        while self.now < self.plan.duration:
            started = self.now
            sample = await self._sample()
            self.recording.samples.append(sample)
            self.view.sample(sample, self._status())
            await asyncio.sleep(max(0.0, started + interval - self.now))

    async def _sample(self) -> Sample:
        t = self.now
        return self._sample_of(t, await self.driver.states(sorted(self.running, key=self._order)))

    def _sample_of(self, t: float, states: dict[str, dict[str, Any] | None]) -> Sample:
        """A sample of the nodes still running; those that did not answer are missing."""
        nodes = {n: NodeSample.from_state(s) for n, s in states.items() if s is not None and n in self.running}
        missing = tuple(n for n in states if n not in nodes and n in self.running)
        return Sample(t, nodes, missing)

    async def _finish(self) -> None:
        """A last sample at the end, and every node's view of every dispatch."""
        final = await self._sample()
        self.recording.samples.append(final)
        self.view.sample(final, self._status())
        for dispatch_id in dispatch_ids(self.plan.events):
            views = {}
            for name in sorted(self.running, key=self._order):
                shown = await self.driver.dispatch(name, dispatch_id)
                if isinstance(shown, dict) and "ack_status" in shown:
                    views[name] = shown["ack_status"]
            self.recording.dispatches[dispatch_id] = views

    def _judge(self) -> list[Outcome]:
        plan = self.plan
        settle = max(n.gossip.ttl_s + 2 * n.gossip.heartbeat_s for n in plan.nodes) + 2 * self.options.sample_s
        context = Context(plan.select, tuple(dispatch_ids(plan.events)), settle_s=settle)
        return evaluate(plan.scenario.expect, self.recording, context)
