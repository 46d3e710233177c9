"""The ``grid`` command: one sub-command per file, each a thin layer over the library."""

from __future__ import annotations

import typer

from . import node, send, status

app = typer.Typer(help="Grid: a decentralized electricity grid of peer-to-peer nodes.", no_args_is_help=True)
app.command("node")(node.node)
app.command("send")(send.send)
app.command("status")(status.status)


def main() -> None:
    """Entry point of the ``grid`` console script."""
    app()
