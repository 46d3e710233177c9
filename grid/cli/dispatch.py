"""``grid dispatch ...``: issue, modify, cancel, list, show and acknowledge dispatches at any node.

A dispatch is signed by its operator. Either the node holds the operator key
(``operator_seed`` in its ``[dispatch]`` table) and signs what it is sent,
or the operator signs here with ``--key-file`` (a file holding the 32-byte
seed in hex, made by ``grid dispatch keygen``) and any node relays it.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from protocol.dispatch import Dispatch, key_id, modified, public_key_from_seed, sign_dispatch

from .client import get_json, post_envelope

app = typer.Typer(help="Demand-response dispatches: issue, modify, cancel, list, show, ack.", no_args_is_help=True)

Address = Annotated[str, typer.Argument(help="host:port of the node.")]
DispatchId = Annotated[str, typer.Argument(help="The dispatch id.")]
Token = Annotated[Optional[str], typer.Option("-t", "--token", help="The node's operator token.")]
KeyFile = Annotated[Optional[Path], typer.Option("--key-file", help="Sign here with this operator seed (hex).")]
Start = Annotated[Optional[str], typer.Option(help="now, +30s, +5m, +1h, epoch ms or ISO 8601 time.")]
End = Annotated[Optional[str], typer.Option(help="Like --start; leave out (and --duration) for open-ended.")]
Duration = Annotated[Optional[str], typer.Option(help="Window length from the start: 90s, 15m, 2h.")]
Number = Annotated[Optional[int], typer.Option(help="Modification number to use (default: current + 1).")]

_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
_SPAN = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$")


def span_ms(text: str) -> int:
    """``90s``, ``15m``, ``2h``, ``500ms`` in milliseconds."""
    match = _SPAN.match(text.strip())
    if match is None:
        raise typer.BadParameter(f"{text!r} is not a duration like 90s, 15m or 2h")
    return round(float(match.group(1)) * _UNITS[match.group(2)])


def when_ms(text: str, now_ms: int) -> int:
    """An instant: ``now``, ``+DURATION``, epoch milliseconds or an ISO 8601 time (local if naive)."""
    text = text.strip()
    if text == "now":
        return now_ms
    if text.startswith("+"):
        return now_ms + span_ms(text[1:])
    if text.isdigit():
        return int(text)
    try:
        return round(datetime.fromisoformat(text).timestamp() * 1000)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not now, +DURATION, epoch ms or an ISO 8601 time") from None


def window(start: str | None, end: str | None, duration: str | None, now_ms: int) -> tuple[int, int | None]:
    """(start, end) in epoch ms from the options; end None means open-ended."""
    if end is not None and duration is not None:
        raise typer.BadParameter("give --end or --duration, not both")
    begin = when_ms(start or "now", now_ms)
    if duration is not None:
        return begin, begin + span_ms(duration)
    return begin, None if end is None else when_ms(end, now_ms)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _seed(key_file: Path) -> bytes:
    try:
        seed = bytes.fromhex(key_file.read_text().strip())
        public_key_from_seed(seed)
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(f"{key_file}: not a 32-byte seed in hex ({exc})", param_hint="--key-file") from None
    return seed


def _send(address: str, msg_type: str, msg: dict[str, Any], token: str | None) -> Any:
    status, answer = post_envelope(address, {"envType": "Tell", "msgType": msg_type, "msg": msg}, token)
    typer.echo(json.dumps(answer, indent=2))
    if status >= 400:
        raise typer.Exit(1)
    return answer


def _issue(address: str, d: Dispatch, key_file: Path | None, issuer: str | None, token: str | None) -> Any:
    """Sign ``d`` here when given a key, then send it to the node."""
    if key_file is not None:
        seed = _seed(key_file)
        d = sign_dispatch(d.model_copy(update={"issuer": issuer or key_id(public_key_from_seed(seed))}), seed)
    return _send(address, "Dispatch", d.to_wire(), token)


def _held(address: str, dispatch_id: str, token: str | None) -> tuple[Dispatch, dict[str, Any]]:
    """The dispatch as the node holds it, and the node's full answer."""
    row = get_json(address, f"/dispatches/{dispatch_id}", token)
    fields = {info.alias or name for name, info in Dispatch.model_fields.items()}
    return Dispatch.model_validate({k: v for k, v in row.items() if k in fields}), row


def _built(fields: dict[str, Any]) -> Dispatch:
    try:
        return Dispatch.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise typer.BadParameter(problems) from None


@app.command()
def issue(
    address: Address,
    program: Annotated[str, typer.Option(help="Program id.")],
    dispatch_id: Annotated[Optional[str], typer.Option("--id", help="Dispatch id (default: d-<random>).")] = None,
    event_type: Annotated[str, typer.Option("--type", help="curtail, shed, price or test.")] = "curtail",
    start: Start = None,
    end: End = None,
    duration: Duration = None,
    targets: Annotated[Optional[str], typer.Option(help="Comma-separated node ids (default: all enrolled).")] = None,
    curtail_kw: Annotated[float, typer.Option(help="Requested curtailment per node, kW.")] = 0.0,
    message: Annotated[str, typer.Option(help="Text for the people notified.")] = "",
    key_file: KeyFile = None,
    issuer: Annotated[Optional[str], typer.Option(help="Operator key id (default: from the key).")] = None,
    token: Token = None,
) -> None:
    """Issue a new dispatch at a node."""
    begin, finish = window(start, end, duration, _now_ms())
    d = _built({
        "dispatch_id": dispatch_id or f"d-{secrets.token_hex(4)}", "program_id": program, "event_type": event_type,
        "start_time": begin, "end_time": finish, "targets": tuple(t for t in (targets or "").split(",") if t),
        "curtailment_kw": curtail_kw, "message": message, "issuer": issuer,
    })  # fmt: skip
    _issue(address, d, key_file, issuer, token)


@app.command()
def modify(
    address: Address,
    dispatch_id: DispatchId,
    start: Start = None,
    end: End = None,
    duration: Duration = None,
    open_ended: Annotated[bool, typer.Option(help="Remove the end: run until cancelled.")] = False,
    curtail_kw: Annotated[Optional[float], typer.Option(help="New requested curtailment, kW.")] = None,
    message: Annotated[Optional[str], typer.Option(help="New text.")] = None,
    number: Number = None,
    key_file: KeyFile = None,
    token: Token = None,
) -> None:
    """Modify a dispatch: the next modification number wins everywhere."""
    held, _ = _held(address, dispatch_id, token)
    now = _now_ms()
    changes: dict[str, Any] = {}
    if start is not None:
        changes["start_time"] = when_ms(start, now)
    if end is not None or duration is not None:
        changes["end_time"] = window(start or str(changes.get("start_time", held.start_time)), end, duration, now)[1]
    if open_ended:
        changes["end_time"] = None
    if curtail_kw is not None:
        changes["curtailment_kw"] = curtail_kw
    if message is not None:
        changes["message"] = message
    _issue(address, _next(held, number, changes), key_file, held.issuer, token)


@app.command()
def cancel(address: Address, dispatch_id: DispatchId, number: Number = None, key_file: KeyFile = None,
           token: Token = None) -> None:  # fmt: skip
    """Cancel a dispatch (a modification with status cancelled)."""
    held, _ = _held(address, dispatch_id, token)
    _issue(address, _next(held, number, {"status": "cancelled"}), key_file, held.issuer, token)


def _next(held: Dispatch, number: int | None, changes: dict[str, Any]) -> Dispatch:
    try:
        d = modified(held, **changes)
    except ValidationError as exc:
        raise typer.BadParameter(str(exc.errors()[0]["msg"])) from None
    if number is not None:
        if number <= held.modification_number:
            at = held.modification_number
            raise typer.BadParameter(f"the dispatch is at modification {at}", param_hint="--number")
        d = d.model_copy(update={"modification_number": number})
    return d


@app.command("list")
def list_(address: Address, token: Token = None) -> None:
    """The dispatches a node knows, with how many answered."""
    body = get_json(address, "/dispatches", token)
    table = Table(title=f"Dispatches known to node {body['node']}")
    for column in ("id", "program", "type", "#", "phase", "start", "end", "kW", "ack", "opt-out", "pending", "here"):
        table.add_column(column, no_wrap=column in ("id", "program"))
    for d in body["dispatches"]:
        answers = d["answers"]
        table.add_row(d["dispatchId"], d["programId"], d["eventType"], str(d["modificationNumber"]), d["phase"],
                      _clock(d["startTime"], short=True), _clock(d.get("endTime"), short=True),
                      f"{d['curtailmentKw']:g}",
                      str(answers["acknowledged"]), str(answers["opted_out"]), str(answers["pending"]),
                      "binding" if d["binding_here"] else ("yes" if d["addressed_here"] else ""))  # fmt: skip
    Console().print(table)


@app.command()
def show(address: Address, dispatch_id: DispatchId, token: Token = None) -> None:
    """One dispatch: its fields, who acknowledged, opted out or has not answered, notifications."""
    _, row = _held(address, dispatch_id, token)
    console = Console()
    console.print(f"[bold]{row['dispatchId']}[/] program {row['programId']} ({row['eventType']}), modification "
                  f"{row['modificationNumber']}, {row['phase']}, issuer {row.get('issuer')}")  # fmt: skip
    console.print(f"window {_clock(row['startTime'])} -> {_clock(row.get('endTime'))}, {row['curtailmentKw']:g} kW")
    table = Table(title="Answers")
    table.add_column("node")
    table.add_column("answer")
    for node_id, answer in sorted(row["targets_status"].items()):
        table.add_row(node_id, answer)
    console.print(table)
    for n in row["notifications"]:
        console.print(f"notification {n['channel']} -> {n['target']}: {n['status']} after {n['attempts']} attempt(s)"
                      + (f" ({n['last_error']})" if n["last_error"] else ""))  # fmt: skip


@app.command()
def ack(
    address: Address,
    dispatch_id: DispatchId,
    opt_out: Annotated[bool, typer.Option("--opt-out", help="Answer that this node does not take part.")] = False,
    token: Token = None,
) -> None:
    """Acknowledge (or opt out of) the current modification of a dispatch, for the node at ADDRESS."""
    held, _ = _held(address, dispatch_id, token)
    node_id = get_json(address, "/state", token)["id"]
    msg = {"dispatchId": held.dispatch_id, "modificationNumber": held.modification_number, "nodeId": node_id,
           "response": "opt_out" if opt_out else "ack"}  # fmt: skip
    _send(address, "Acknowledge", msg, token)


@app.command()
def keygen(out: Annotated[Path, typer.Option(help="Where to write the operator seed (hex, mode 600).")]) -> None:
    """Make an operator key: writes the seed; prints "key id = public key" for the operators table."""
    if out.exists():
        typer.echo(f"{out} exists; not overwriting a key", err=True)
        raise typer.Exit(2)
    seed = secrets.token_bytes(32)
    out.touch(mode=0o600)
    out.write_text(seed.hex() + "\n")
    public = public_key_from_seed(seed)
    typer.echo(f'{key_id(public)} = "{public.hex()}"')


def _clock(ms: int | None, short: bool = False) -> str:
    if ms is None:
        return "open"
    return datetime.fromtimestamp(ms / 1000).strftime("%H:%M:%S" if short else "%Y-%m-%d %H:%M:%S")
