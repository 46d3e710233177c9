"""``grid scenario``: check and run scenario files (see docs/scenarios.md).

    grid scenario check scenarios/village.toml
    grid scenario run scenarios/village.toml --in-process --http --dashboard
    grid scenario run scenarios/original-demo.toml --processes --json out.json --plot out.png

Exit codes: 0 every expectation held; 1 an expectation failed (named in the
summary); 2 the file or the options are wrong, or the run could not start;
130 interrupted (Ctrl-C), after every node it started was stopped.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from ..scenario import Mode, ScenarioError, load, make_plan, run_plan
from ..scenario.format import parse_duration
from ..scenario.progress import LineView, LiveView, QuietView, View
from ..scenario.report import summary, write_json
from ..scenario.session import IN_PROCESS, PROCESSES, cannot, unfit

app = typer.Typer(help="Scenario files: whole networks with a timeline and expectations.", no_args_is_help=True)

FileArg = Annotated[Path, typer.Argument(help="The scenario file (TOML).", exists=False)]


def _load(file: Path, console: Console):  # type: ignore[no-untyped-def]
    try:
        return load(file)
    except ScenarioError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def _seconds(text: Optional[str], option: str) -> Optional[float]:
    if text is None:
        return None
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None
    if not isinstance(value, float) or value <= 0:
        raise typer.BadParameter("must be a positive duration", param_hint=option)
    return value


@app.command()
def check(file: FileArg) -> None:
    """Validate a scenario file and show what it would run."""
    console = Console()
    scenario = _load(file, console)
    plan = make_plan(scenario)
    kinds: dict[str, int] = {}
    for node in plan.nodes:
        kinds[node.kind] = kinds.get(node.kind, 0) + 1
    console.print(f"{scenario.info.name}: {len(plan.nodes)} nodes ({', '.join(f'{v} {k}' for k, v in kinds.items())}), "
                  f"{len(plan.edges)} links, {len(plan.events)} events, {len(scenario.expect)} expectations, "
                  f"{plan.duration:g} s; fits {', '.join(scenario.info.modes)}")  # fmt: skip


_MODE_HELP = "All nodes in this process, or each a real python -m grid.app."
InProcess = Annotated[bool, typer.Option("--in-process/--processes", help=_MODE_HELP)]
Http = Annotated[bool, typer.Option("--http", help="In-process: real HTTP on loopback ports (not in memory).")]
JsonOut = Annotated[Optional[Path], typer.Option("--json", help="Write the results as JSON here.")]
PlotOut = Annotated[Optional[Path], typer.Option("--plot", help="Plot grid net, price and carbon to this PNG.")]
Quick = Annotated[bool, typer.Option("--quick", help="Apply the file's quick table: shorter, smaller (CI).")]
Duration = Annotated[Optional[str], typer.Option(help="Run this long instead (20s); later events are skipped.")]
Sample = Annotated[Optional[str], typer.Option(help="Seconds between samples of every node (e.g. 500ms).")]
Warmup = Annotated[Optional[str], typer.Option(help="Time allowed to start and link the nodes (e.g. 10s).")]
Dashboard = Annotated[bool, typer.Option("--dashboard", help="Print the URL of one node's dashboard (GET /).")]
Workdir = Annotated[Optional[Path], typer.Option(help="Keep logs, data and configs here (default: a temp dir).")]
Force = Annotated[bool, typer.Option("--force", help="Run even in a mode the scenario does not list.")]
Progress = Annotated[str, typer.Option(help="auto, live, lines or none.")]
LogLevel = Annotated[str, typer.Option(help="Log level of this process (in-process nodes log here).")]


@app.command()
def run(
    file: FileArg,
    in_process: InProcess = True,
    http: Http = False,
    json_out: JsonOut = None,
    plot_out: PlotOut = None,
    quick: Quick = False,
    duration: Duration = None,
    sample: Sample = None,
    warmup: Warmup = None,
    dashboard: Dashboard = False,
    workdir: Workdir = None,
    force: Force = False,
    progress: Progress = "auto",
    log_level: LogLevel = "WARNING",
) -> None:
    """Run a scenario; exit 0 only if every expectation holds."""
    console = Console()
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)-7s %(message)s", datefmt="%H:%M:%S")
    scenario = _load(file, console)
    plan = make_plan(scenario, quick=quick, duration=_seconds(duration, "--duration"))
    mode = Mode(IN_PROCESS if in_process else PROCESSES, http=http)
    problem = cannot(plan, mode) or (None if force else unfit(plan, mode))
    if problem:
        typer.echo(f"cannot run {file} {mode}: {problem}", err=True)
        raise typer.Exit(2)
    view = _view(progress, console, f"{scenario.info.name} ({mode})")
    result = asyncio.run(run_plan(plan, mode, workdir=workdir, view=view, sample_s=_seconds(sample, "--sample"),
                                  warmup_s=_seconds(warmup, "--warmup"), dashboard=dashboard))  # fmt: skip
    console.print(summary(result))
    if json_out is not None:
        write_json(result, json_out)
        console.print(f"results: {json_out}")
    if plot_out is not None and result.recording.samples:
        from ..scenario.report import plot

        plot(result, plot_out)
        console.print(f"plot: {plot_out}")
    raise typer.Exit(130 if result.interrupted else 2 if result.error else 0 if result.ok else 1)


def _view(kind: str, console: Console, title: str) -> View:
    if kind == "none":
        return QuietView()
    if kind == "live" or (kind == "auto" and console.is_terminal and sys.stdout.isatty()):
        return LiveView(console, title)
    if kind in ("auto", "lines"):
        return LineView(console)
    raise typer.BadParameter("one of auto, live, lines, none", param_hint="--progress")
