"""``grid status``: what one node believes about every node of the grid."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from .client import get_json

_STATUS_STYLE = {"alive": "green", "stale": "yellow", "left": "dim"}


def status(
    address: Annotated[str, typer.Argument(help="host:port of the node to ask.")],
    token: Annotated[Optional[str], typer.Option("-t", "--token", help="Token, if reads are private.")] = None,
) -> None:
    """Print the node's view of the grid as a table."""
    state = get_json(address, "/state", token)
    view = get_json(address, "/grid", token)
    table = Table(title=f"Grid as seen by {state['name']} ({state['address']})")
    for column in ("id", "name", "address", "status", "production kW", "consumption kW", "net kW", "version", "age s"):
        table.add_column(column, justify="right" if "kW" in column or column in ("version", "age s") else "left")
    for row in view["nodes"]:
        style = _STATUS_STYLE.get(row["status"], "")
        table.add_row(
            row["id"], row["name"], row["address"], f"[{style}]{row['status']}[/]",
            f"{row['production']:.3f}", f"{row['consumption']:.3f}", f"{row['net']:.3f}",
            f"{row['incarnation']}.{row['version']}", f"{row['age_s']:.1f}",
        )  # fmt: skip
    console = Console()
    console.print(table)
    console.print(
        f"gridnet [bold]{state['gridnet']:.3f} kW[/] - {state['nodes_live']} live, {state['nodes_stale']} stale"
        f" - view digest {state['view_digest']}"
    )
