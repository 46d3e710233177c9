"""What a run shows while it runs: a live rich panel, plain lines, or nothing.

The runner calls :class:`View` methods; :class:`LiveView` redraws a panel
(progress, simulated time, how many nodes run and agree, grid net, price,
carbon, the latest events), :class:`LineView` prints one line per event and
a status line every few seconds (logs, CI), :class:`QuietView` prints nothing.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table

from .record import Applied, Sample


@dataclass(frozen=True)
class Status:
    """The run's situation at a sample."""

    t: float
    duration: float
    running: int
    total: int
    simulated: str | None = None
    #: What the chaos transport did so far (sent, lost, cut, ...), if there is one.
    chaos: dict[str, int] = field(default_factory=dict)


class View(Protocol):
    """Receives the run's progress."""

    def phase(self, text: str) -> None:
        """The run moved on to a new phase (starting, linking, running, stopping)."""

    def note(self, text: str) -> None:
        """Something the user should see and keep (the dashboard URL)."""

    def sample(self, sample: Sample, status: Status) -> None:
        """A new sample of every running node."""

    def event(self, applied: Applied, label: str | None) -> None:
        """A timeline event ran."""

    def close(self) -> None:
        """The run is over."""


class QuietView:
    """Shows nothing (tests, ``--quiet``)."""

    def phase(self, text: str) -> None:
        pass

    def note(self, text: str) -> None:
        pass

    def sample(self, sample: Sample, status: Status) -> None:
        pass

    def event(self, applied: Applied, label: str | None) -> None:
        pass

    def close(self) -> None:
        pass


def describe(sample: Sample) -> dict[str, Any]:
    """Headline figures of a sample: how many distinct views, the grid net most report, ..."""
    views = {(s.gridnet_w, s.price) for s in sample.nodes.values()}
    net = sample.consensus_w()
    return {
        "answered": len(sample.nodes),
        "views": len(views),
        "gridnet_kw": None if net is None else net / 1000,
        "price": sample.consensus("price"),
        "carbon": sample.consensus("carbon"),
    }


def _event_line(applied: Applied, label: str | None) -> str:
    mark = "ok" if applied.ok else "FAILED"
    name = f"{label}: " if label else ""
    return f"{applied.t:7.2f} s  {name}{applied.action} {applied.target}  [{mark}] {applied.detail}"


class LineView:
    """One line per phase and event, and a status line every ``every_s`` seconds."""

    def __init__(self, console: Console, every_s: float = 5.0) -> None:
        self.console = console
        self.every_s = every_s
        self._last = float("-inf")

    def phase(self, text: str) -> None:
        self.console.print(f"[dim]-- {text}[/]")

    def note(self, text: str) -> None:
        self.console.print(f"[bold]{text}[/]")

    def sample(self, sample: Sample, status: Status) -> None:
        if time.monotonic() - self._last < self.every_s:
            return
        self._last = time.monotonic()
        d = describe(sample)
        net = "-" if d["gridnet_kw"] is None else f"{d['gridnet_kw']:.3f} kW"
        where = f"{status.t:7.2f} s / {status.duration:g} s  {status.running} running, {d['views']} view(s)"
        self.console.print(f"{where}; gridnet {net}, price {d['price']}, carbon {d['carbon']}")

    def event(self, applied: Applied, label: str | None) -> None:
        self.console.print(_event_line(applied, label), markup=False, highlight=False)

    def close(self) -> None:
        pass


class LiveView:
    """A panel redrawn in place (an interactive terminal)."""

    def __init__(self, console: Console, title: str) -> None:
        self.console = console
        self.title = title
        self.events: deque[str] = deque(maxlen=8)
        self.notes: list[str] = []
        self.stage = "starting"
        self.status: Status | None = None
        self.figures: dict[str, Any] = {}
        self.live = Live(self._render(), console=console, refresh_per_second=4, transient=False)
        self.live.start()

    def phase(self, text: str) -> None:
        self.stage = text
        self._refresh()

    def note(self, text: str) -> None:
        self.notes.append(text)
        self._refresh()

    def sample(self, sample: Sample, status: Status) -> None:
        self.status = status
        self.figures = describe(sample)
        self._refresh()

    def event(self, applied: Applied, label: str | None) -> None:
        line = _event_line(applied, label)
        self.events.append(line if len(line) <= 100 else line[:97] + "...")
        self._refresh()

    def close(self) -> None:
        self._refresh()
        self.live.stop()
        self.console.print()

    def _refresh(self) -> None:
        self.live.update(self._render())

    def _render(self) -> Panel:
        parts: list[Any] = [f"[bold]{self.stage}[/]"]
        status, figures = self.status, self.figures
        if status is not None:
            table = Table.grid(padding=(0, 2))
            bar = ProgressBar(total=status.duration, completed=min(max(status.t, 0.0), status.duration), width=50)
            table.add_row("progress", bar)
            table.add_row("run time", f"{status.t:.1f} s of {status.duration:g} s")
            if status.simulated:
                table.add_row("simulated", status.simulated)
            table.add_row("nodes", f"{status.running} of {status.total} running, {figures.get('answered', 0)} answered")
            table.add_row("views", f"{figures.get('views', 0)} distinct (gridnet, price)")
            net = figures.get("gridnet_kw")
            table.add_row("grid net", "-" if net is None else f"{net:.3f} kW")
            table.add_row("price", f"{figures.get('price')} EUR/MWh")
            table.add_row("carbon", f"{figures.get('carbon')} gCO2/kWh")
            if status.chaos:
                table.add_row("network", ", ".join(f"{k} {v}" for k, v in sorted(status.chaos.items())))
            parts.append(table)
        parts.extend(f"[bold cyan]{note}[/]" for note in self.notes)
        if self.events:
            parts.append("[dim]" + escape("\n".join(self.events)) + "[/]")
        return Panel(Group(*parts), title=self.title)
