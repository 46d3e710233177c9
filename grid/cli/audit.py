"""``grid audit ...``: check a node's hash-chained audit log, or list it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..dispatch.store import verify_file
from .client import get_json

app = typer.Typer(help="The node's append-only, hash-chained audit log.", no_args_is_help=True)


@app.command()
def verify(
    data_dir: Annotated[Path, typer.Option("--data-dir", help="The node's data directory (holds node.sqlite3).")],
) -> None:
    """Check every record of the log in the node's SQLite file; name the first bad one.

    Exit 0 when intact, 1 when a record does not verify, 2 when there is no log.
    The file is opened read-only, so a running node may be checked too.
    """
    try:
        verdict = verify_file(data_dir / "node.sqlite3")
    except FileNotFoundError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    if verdict.ok:
        typer.echo(f"audit log intact: {verdict.records} records, head {verdict.head_hash or '(empty)'}")
        return
    typer.echo(f"audit log BROKEN: first bad record is seq {verdict.first_bad}: {verdict.reason}")
    raise typer.Exit(1)


@app.command("list")
def list_(
    address: Annotated[str, typer.Argument(help="host:port of the node.")],
    after: Annotated[int, typer.Option(help="Only records after this seq.")] = 0,
    limit: Annotated[int, typer.Option(help="At most this many records.")] = 100,
    kind: Annotated[
        Optional[str], typer.Option(help="dispatch, modification, cancellation, ack, rejection or notification.")
    ] = None,
    token: Annotated[Optional[str], typer.Option("-t", "--token", help="Token, if reads are private.")] = None,
) -> None:
    """Print a node's audit records as JSON lines, oldest first."""
    query = f"/audit?after={after}&limit={limit}" + (f"&kind={kind}" if kind else "")
    for record in get_json(address, query, token)["records"]:
        typer.echo(json.dumps(record, separators=(",", ":")))
