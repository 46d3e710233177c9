"""One scenario run from start to finish: pick the driver, the timings, run, stop on Ctrl-C.

:func:`run_plan` is what ``grid scenario run`` and the tests call. Ctrl-C
(SIGINT) or SIGTERM during a run asks the runner to stop: it stops every
node it started, and the result says the run was interrupted.
"""

from __future__ import annotations

import asyncio
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .plan import Plan
from .progress import QuietView, View
from .runner import Options, Result, Runner
from .runner_inproc import InProcessDriver
from .runner_procs import ProcessDriver

IN_PROCESS, PROCESSES = "in-process", "processes"


@dataclass(frozen=True)
class Mode:
    """Where the nodes run."""

    name: str = IN_PROCESS  #: ``in-process`` or ``processes``
    http: bool = False  #: in-process only: real HTTP on loopback instead of in-memory delivery

    def __str__(self) -> str:
        return f"{self.name}{' (http)' if self.http and self.name == IN_PROCESS else ''}"


def default_sample_s(plan: Plan, mode: Mode) -> float:
    """Seconds between samples: reading every node costs about 1.4 ms a node in one process."""
    n = len(plan.nodes)
    return max(0.25, (0.05 if mode.name == PROCESSES else 0.004) * n)


def default_warmup_s(plan: Plan, mode: Mode) -> float:
    """Seconds to start and link every node before the clock's epoch."""
    n = sum(node.start for node in plan.nodes)
    if mode.name == PROCESSES:
        # Measured: 17 processes took 39 s to answer on 2 busy cores (each imports the whole stack).
        return 5.0 + 2.5 * n
    return 2.0 + 0.02 * n + 0.002 * len(plan.edges)


def unfit(plan: Plan, mode: Mode) -> str | None:
    """Why ``plan`` cannot run in ``mode`` (None: it can)."""
    if mode.name not in plan.scenario.info.modes:
        fits = ", ".join(plan.scenario.info.modes)
        return f"{plan.scenario.info.name} fits {fits}, not {mode.name} (--force runs it anyway)"
    return None


def cannot(plan: Plan, mode: Mode) -> str | None:
    """What ``mode`` cannot do of ``plan`` at all, forced or not."""
    if mode.name == PROCESSES and any(e.faults is not None and not e.faults.is_clear for e in plan.events):
        return "dropping or delaying messages needs --in-process (processes own their sockets)"
    return None


async def run_plan(plan: Plan, mode: Mode = Mode(), *, workdir: Path | None = None, view: View | None = None,
                   sample_s: float | None = None, warmup_s: float | None = None, dashboard: bool = False,
                   handle_signals: bool = True) -> Result:  # fmt: skip
    """Run ``plan`` in ``mode``; files (logs, data, weather) go to ``workdir`` (a temporary one by default).

    With ``handle_signals`` (the CLI), SIGINT and SIGTERM stop the run cleanly;
    several runs sharing one loop (tests) leave signals alone.
    """
    view = view or QuietView()
    info = plan.scenario.info
    with tempfile.TemporaryDirectory(prefix=f"scenario-{info.name}-") as scratch:
        folder = workdir or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        if mode.name == PROCESSES:
            driver = ProcessDriver(folder)
        else:
            driver = InProcessDriver(folder, http=mode.http, chaos=plan.has_chaos, seed=info.seed, listen=dashboard)
        options = Options(
            workdir=folder,
            sample_s=sample_s or info.sample or default_sample_s(plan, mode),
            warmup_s=warmup_s if warmup_s is not None else info.warmup if info.warmup is not None
            else default_warmup_s(plan, mode),
            dashboard=dashboard,
        )  # fmt: skip
        runner = Runner(plan, driver, options, view)
        with _stop_on_signals(runner, handle_signals):
            try:
                result = await runner.run()
            finally:
                view.close()
        if workdir is None:
            result.workdir = ""  # the temporary folder is gone
        return result


class _stop_on_signals:
    """While a run is on, SIGINT and SIGTERM ask it to stop instead of killing this process."""

    def __init__(self, runner: Runner, enabled: bool) -> None:
        self.runner = runner
        self.enabled = enabled
        self.installed: list[int] = []

    def __enter__(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM) if self.enabled else ():
            try:
                loop.add_signal_handler(sig, self.runner.stopping.set)
                self.installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass  # not the main thread (tests in a worker thread): no handler

    def __exit__(self, *exc: object) -> None:
        loop = asyncio.get_running_loop()
        for sig in self.installed:
            loop.remove_signal_handler(sig)
