"""The ``grid`` command: one sub-command per file, each a thin layer over the library."""

from __future__ import annotations

import typer

from . import audit, chat, dispatch, key, meter, node, scenario, send, status

app = typer.Typer(help="Grid: a decentralized electricity grid of peer-to-peer nodes.", no_args_is_help=True)
app.command("node")(node.node)
app.command("send")(send.send)
app.command("status")(status.status)
app.add_typer(dispatch.app, name="dispatch")
app.add_typer(audit.app, name="audit")
app.add_typer(key.app, name="key")
app.add_typer(meter.app, name="meter")
app.add_typer(scenario.app, name="scenario")
app.add_typer(chat.app, name="chat")


def main() -> None:
    """Entry point of the ``grid`` console script."""
    app()
