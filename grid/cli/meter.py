"""``grid meter``: the smart-meter simulator and the per-hour chart of a device's day."""

from __future__ import annotations

import importlib.resources
import urllib.parse
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer

from nodes.metering import MeterError

from ..metering.chart import render_png
from ..metering.client import HttpMeterLink
from ..metering.config import parse_interval_ms
from ..metering.simulator import Backoff, Refused, Replayer, Unreachable, load_rows
from .client import get_json

app = typer.Typer(help="Smart meters: replay a meter file into a node, chart a day.", no_args_is_help=True)

NodeOpt = Annotated[str, typer.Option("--node", help="host:port of the node that owns the device.")]
DeviceOpt = Annotated[str, typer.Option("--device", help="The device id (as configured on the node).")]
TokenOpt = Annotated[Optional[str], typer.Option("-t", "--token", help="The node's token (owner role or above).")]


def sample_text() -> str:
    """The shipped sample week (``nodes/data/meter_sample.csv``)."""
    return importlib.resources.files("nodes").joinpath("data/meter_sample.csv").read_text(encoding="utf-8")


@app.command()
def simulate(
    device: DeviceOpt,
    node: NodeOpt,
    csv: Annotated[Optional[Path], typer.Option("--csv", help="Meter file (default: the shipped sample week).")] = None,
    interval: Annotated[str, typer.Option(help="Interval between rows of a one-column file: 10m, 600s, ...")] = "10m",
    speed: Annotated[float, typer.Option(min=0, help="Times real time (60: an hour a minute; 0: at once).")] = 60.0,
    batch: Annotated[int, typer.Option(min=1, max=300, help="Most readings per request when behind.")] = 100,
    start: Annotated[
        Optional[str], typer.Option(help="One-column files: time of row 0 (epoch ms or ISO 8601; default now).")
    ] = None,
    cumulative: Annotated[bool, typer.Option(help="One-column values are a running register.")] = False,
    give_up: Annotated[float, typer.Option(min=0, help="Seconds without an answer before giving up.")] = 300.0,
    token: TokenOpt = None,
) -> None:
    """Replay a meter file into a node; resumes where the node's storage stopped."""
    try:
        interval_ms = parse_interval_ms(interval)
        text = csv.read_text(encoding="utf-8") if csv else sample_text()
        rows = load_rows(text, device, interval_ms=interval_ms, start_ms=_start_ms(start, interval_ms),
                         cumulative=cumulative)  # fmt: skip
    except (OSError, ValueError) as exc:  # MeterError is a ValueError
        raise typer.BadParameter(str(exc)) from None
    replayer = Replayer(
        rows, HttpMeterLink(node, token), speed=speed, batch=batch,
        backoff=Backoff(give_up_s=give_up), report=lambda line: typer.echo(line, err=True),
    )  # fmt: skip
    typer.echo(f"replaying {len(rows)} readings of {device} into {node} at {speed:g}x", err=True)
    try:
        stats = replayer.run()
    except (Refused, Unreachable) as exc:
        typer.echo(f"stopped: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"done: {stats.sent} sent, {stats.skipped} already stored, {stats.failures} failed attempts")


@app.command()
def chart(
    device: DeviceOpt,
    node: NodeOpt,
    out: Annotated[Path, typer.Option("--out", help="PNG file to write.")],
    day: Annotated[Optional[str], typer.Option(help="YYYY-MM-DD (default: today on the node).")] = None,
    tz: Annotated[Optional[str], typer.Option(help="IANA zone of the day (default: the node's).")] = None,
    token: TokenOpt = None,
) -> None:
    """Write a device's day as a per-hour bar chart."""
    query = urllib.parse.urlencode({key: value for key, value in (("day", day), ("tz", tz)) if value})
    path = f"/meter/{urllib.parse.quote(device, safe='')}/hourly" + (f"?{query}" if query else "")
    hourly = get_json(node, path, token)
    out.write_bytes(render_png(hourly))
    typer.echo(f"{out}: {hourly['device_id']} on {hourly['day']}, {hourly['total_kwh']:.3f} kWh")


def _start_ms(text: str | None, interval_ms: int) -> int:
    """Row 0's time: given, or now rounded down to the interval (as the original stamped)."""
    if text is None:
        now_ms = int(datetime.now(timezone.utc).timestamp() * 1000)
        return now_ms - now_ms % interval_ms
    if text.strip().isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise MeterError("bad_timestamp", f"--start must be epoch ms or ISO 8601, got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)
