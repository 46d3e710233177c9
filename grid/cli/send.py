"""``grid send``: build any message and send it to a node, like the curl examples."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from .client import post_envelope


def send(
    address: Annotated[str, typer.Argument(help="host:port of the node.")],
    msg_type: Annotated[str, typer.Argument(help="Message type, e.g. UpdateEnergy, AddSibling, SyncGrid.")],
    production: Annotated[Optional[float], typer.Option(help="UpdateEnergy: production in kW.")] = None,
    consumption: Annotated[Optional[float], typer.Option(help="UpdateEnergy: consumption in kW.")] = None,
    sibling_name: Annotated[Optional[str], typer.Option(help="AddSibling: the other node's name.")] = None,
    sibling_address: Annotated[Optional[str], typer.Option(help="AddSibling: its host:port.")] = None,
    sibling_id: Annotated[Optional[str], typer.Option(help="AddSibling/RemoveSibling: its id.")] = None,
    msg: Annotated[Optional[str], typer.Option("--msg", help="The whole msg as JSON (other fields).")] = None,
    env_type: Annotated[str, typer.Option("--env", help="Tell or Ask.")] = "Tell",
    token: Annotated[Optional[str], typer.Option("-t", "--token", help="The node's operator token.")] = None,
) -> None:
    """Send one message and print the node's answer."""
    body = json.loads(msg) if msg else {}
    fields = {
        "production": production,
        "consumption": consumption,
        "siblingName": sibling_name,
        "siblingAddress": sibling_address,
        "siblingId": sibling_id,
    }
    body.update({k: v for k, v in fields.items() if v is not None})
    envelope = {"envType": env_type, "msgType": msg_type, "msg": body}
    status, answer = post_envelope(address, envelope, token)
    typer.echo(json.dumps(answer, indent=2))
    if status >= 400:
        raise typer.Exit(1)
