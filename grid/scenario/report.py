"""The end of a run: a summary table, JSON results and a plot.

- :func:`summary`: a rich table of every expectation (passed or failed, and
  what was seen), under a line saying what ran and how long it took;
- :func:`to_json` / :func:`write_json`: everything recorded, for tools;
- :func:`plot`: grid net, price and carbon intensity over run time (the
  value most nodes report, and each node's own line for small grids), with
  the timeline's events marked and partitions shaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.table import Table

from .record import Recording
from .runner import Result

#: Grids up to this size get one line per node in the plot.
PER_NODE_LINES = 40
#: Grids up to this size get those lines named in a legend.
NAMED_LINES = 8


def headline(result: Result) -> str:
    """One line: what ran, where, how long, and the verdict."""
    plan = result.plan
    passed = sum(o.passed for o in result.outcomes)
    verdict = ("interrupted" if result.interrupted else f"error: {result.error}" if result.error
               else f"{passed}/{len(result.outcomes)} expectations met")  # fmt: skip
    return (f"{plan.scenario.info.name}: {len(plan.nodes)} nodes, {len(plan.edges)} links, "
            f"{result.recording.end:.1f} s of {plan.duration:g} s, {result.mode}; ready in {result.ready_s:.1f} s; "
            f"{verdict}")  # fmt: skip


def summary(result: Result) -> Group:
    """The table printed at the end of a run."""
    table = Table(title=escape(headline(result)), title_justify="left", show_lines=False)
    table.add_column("", width=4, no_wrap=True)
    table.add_column("expectation")
    table.add_column("what was seen")
    for outcome in result.outcomes:
        mark = "[green]ok[/]" if outcome.passed else "[bold red]FAIL[/]"
        table.add_row(mark, escape(outcome.name), escape(outcome.detail))
    parts: list[Any] = [table]
    failed = [o.name for o in result.outcomes if not o.passed]
    if result.interrupted:
        parts.append(f"[yellow]interrupted after {result.recording.end:.1f} s: every node was stopped; "
                     "the expectations above are judged on what was seen so far[/]")  # fmt: skip
    elif failed:
        parts.append(f"[bold red]failed: {escape(', '.join(failed))}[/]")
    if result.late_s > 0.5:
        parts.append(f"[yellow]the grid was ready {result.late_s:.1f} s after the clock's epoch; "
                     "the first events ran late (raise \\[scenario] warmup or pass --warmup)[/]")  # fmt: skip
    return Group(*parts)


def to_json(result: Result) -> dict[str, Any]:
    """Everything about the run, JSON-ready."""
    plan = result.plan
    return {
        "scenario": plan.scenario.info.name,
        "file": str(plan.scenario.path),
        "mode": result.mode,
        "started": result.started,
        "duration_s": plan.duration,
        "speed": plan.speed,
        "ready_s": round(result.ready_s, 3),
        "late_s": round(result.late_s, 3),
        "ok": result.ok,
        "error": result.error,
        "interrupted": result.interrupted,
        "workdir": result.workdir,
        "network": result.network,
        "nodes": [{"name": n.name, "id": n.id, "kind": n.kind} for n in plan.nodes],
        "links": [list(edge) for edge in plan.edges],
        "expectations": [{"name": o.name, "check": o.check, "passed": o.passed, "detail": o.detail}
                         for o in result.outcomes],  # fmt: skip
        "recording": result.recording.to_json(),
    }


def write_json(result: Result, path: Path) -> None:
    """Write :func:`to_json` to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_json(result), indent=1) + "\n")


def _series(rec: Recording, field: str) -> tuple[list[float], list[float]]:
    times, values = [], []
    for sample in rec.samples:
        value = sample.consensus(field)
        if value is not None:
            times.append(sample.t)
            values.append(value / 1000 if field == "gridnet_w" else value)
    return times, values


def _per_node(rec: Recording, field: str) -> dict[str, tuple[list[float], list[float]]]:
    lines: dict[str, tuple[list[float], list[float]]] = {}
    for sample in rec.samples:
        for name, values in sample.nodes.items():
            times, points = lines.setdefault(name, ([], []))
            times.append(sample.t)
            value = getattr(values, field)
            points.append(value / 1000 if field == "gridnet_w" else value)
    return lines


def plot(result: Result, path: Path) -> None:
    """Grid net, price and carbon over run time, to a PNG at ``path``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # heavy: imported when drawing
    from matplotlib.figure import Figure

    rec = result.recording
    figure = Figure(figsize=(11, 8.5))
    FigureCanvasAgg(figure)
    axes = figure.subplots(3, 1, sharex=True)
    panels = (("gridnet_w", "grid net, kW"), ("price", "price, EUR/MWh"), ("carbon", "carbon, gCO2/kWh"))
    per_node = len(result.plan.nodes) <= PER_NODE_LINES
    named = len(result.plan.nodes) <= NAMED_LINES
    for ax, (field, label) in zip(axes, panels, strict=True):
        if per_node:
            for name, (times, values) in _per_node(rec, field).items():
                ax.step(times, values, where="post", lw=0.8, alpha=0.5, label=name if named else None)
        times, values = _series(rec, field)
        ax.step(times, values, where="post", color="black", lw=1.4, label="what most nodes report")
        ax.set_ylabel(label)
        _mark(ax, rec)
    axes[0].axhline(0, color="grey", lw=0.5)
    axes[0].legend(loc="upper right", fontsize="small")
    axes[-1].set_xlabel("run time, s" + (f" (x{result.plan.speed:g} simulated)" if result.plan.has_models else ""))
    figure.suptitle(headline(result), fontsize="medium")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)


def _mark(ax: Any, rec: Recording) -> None:
    """Partitions shaded, other events as thin vertical lines."""
    for window in rec.windows():
        ax.axvspan(window.start, window.end, color="tab:orange", alpha=0.12, lw=0)
    for event in rec.events:
        if event.action not in ("partition", "heal", "send"):
            ax.axvline(event.t, color="tab:red" if not event.ok else "tab:blue", lw=0.6, alpha=0.5)
