"""``grid key``: rotate the grid key of running nodes, without downtime.

The order that never rejects a valid message::

    grid key install A B C --id k2 --secret "$(openssl rand -hex 32)" -t TOKEN
    grid key use     A B C --id k2 -t TOKEN
    grid key remove  A B C --id k1 -t TOKEN     # a second after the last use
    grid key list    A B C

Each command sends one ``KeyRotation`` (manager role) to every node named and
prints what each node now holds; it exits 1 if any node refused. ``-t`` given
once is used for every node, or give one per node, in order.
"""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from .client import get_json, post_envelope

app = typer.Typer(help="Rotate grid keys: install everywhere, use everywhere, then remove the old key.",
                  no_args_is_help=True)  # fmt: skip

Addresses = Annotated[list[str], typer.Argument(help="host:port of each node.")]
KeyIdOption = Annotated[str, typer.Option("--id", help="Key id (1-64 of A-Z a-z 0-9 _ . -).")]
Tokens = Annotated[
    Optional[list[str]], typer.Option("-t", "--token", help="Manager token: once for all nodes, or one per node.")
]


def tokens_for(addresses: list[str], tokens: list[str] | None) -> list[str | None]:
    """The token to present to each address."""
    tokens = tokens or []
    if len(tokens) <= 1:
        return [tokens[0] if tokens else None] * len(addresses)
    if len(tokens) != len(addresses):
        raise typer.BadParameter(f"{len(tokens)} tokens for {len(addresses)} nodes", param_hint="-t")
    return list(tokens)


def rotate(addresses: list[str], tokens: list[str] | None, msg: dict[str, Any]) -> None:
    """Send one KeyRotation to every node; report each answer."""
    failed = 0
    for address, token in zip(addresses, tokens_for(addresses, tokens)):
        status, answer = post_envelope(address, {"envType": "Tell", "msgType": "KeyRotation", "msg": msg}, token)
        if status < 300:
            typer.echo(f"{address}: keys {', '.join(answer['keys'])}; signing with {answer['active']}")
        else:
            failed += 1
            typer.echo(f"{address}: HTTP {status}: {answer}", err=True)
    if failed:
        raise typer.Exit(1)


@app.command("install")
def install(
    addresses: Addresses,
    key_id: KeyIdOption,
    secret: Annotated[
        str, typer.Option(envvar="GRID_KEY_SECRET", help="The secret (16-256 printable ASCII); env GRID_KEY_SECRET.")
    ],
    token: Tokens = None,
) -> None:
    """Install a key: the nodes accept it from now on (the first key of a node also signs)."""
    rotate(addresses, token, {"action": "install", "keyId": key_id, "secret": secret})


@app.command("use")
def use(addresses: Addresses, key_id: KeyIdOption, token: Tokens = None) -> None:
    """Sign with an installed key from now on."""
    rotate(addresses, token, {"action": "use", "keyId": key_id})


@app.command("remove")
def remove(addresses: Addresses, key_id: KeyIdOption, token: Tokens = None) -> None:
    """Stop accepting a key (not the one in use)."""
    rotate(addresses, token, {"action": "remove", "keyId": key_id})


@app.command("list")
def list_keys(addresses: Addresses, token: Tokens = None) -> None:
    """Show each node's key ids, the one it signs with, and the peer messages it refused."""
    table = Table(title="Grid keys")
    for column in ("node", "keys", "signing with", "accepted", "rejected"):
        table.add_column(column)
    for address, tok in zip(addresses, tokens_for(addresses, token)):
        block = get_json(address, "/state", tok).get("security") or {}
        rejected = ", ".join(f"{code} {count}" for code, count in block.get("rejected", {}).items())
        active = block.get("active") or "(development mode)"
        table.add_row(address, ", ".join(block.get("keys", [])), active, str(block.get("accepted", 0)), rejected or "-")
    Console().print(table)
