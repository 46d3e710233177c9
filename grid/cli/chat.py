"""``grid chat ...``: send a chat from a node, and read a node's conversations.

The node at ADDRESS is the operator's own node: it sends as itself and relays
through the grid. Both commands need a token with role ``owner`` or above.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .client import get_json, post_envelope

app = typer.Typer(help="Support chat between nodes, routed peer to peer.", no_args_is_help=True)

Address = Annotated[str, typer.Argument(help="host:port of your node.")]
Token = Annotated[Optional[str], typer.Option("-t", "--token", help="The node's operator token (role owner).")]

_STATUS = {"sent": "sent", "delivered": "[cyan]delivered[/]", "read": "[green]read[/]"}


def _tell(address: str, msg_type: str, msg: dict[str, Any], token: str | None) -> Any:
    status, answer = post_envelope(address, {"envType": "Tell", "msgType": msg_type, "msg": msg}, token)
    if status >= 400:
        typer.echo(json.dumps(answer, indent=2), err=True)
        raise typer.Exit(1)
    return answer


@app.command()
def send(
    address: Address,
    text: Annotated[str, typer.Argument(help="The message.")],
    to: Annotated[str, typer.Option("--to", help="Id of the node to chat with.")],
    chat_id: Annotated[Optional[str], typer.Option("--id", help="Chat id (makes a retry idempotent).")] = None,
    token: Token = None,
) -> None:
    """Send a chat from the node at ADDRESS to node --to; prints the node's answer."""
    msg = {"to": to, "text": text, **({"chatId": chat_id} if chat_id else {})}
    typer.echo(json.dumps(_tell(address, "Chat", msg, token), indent=2))


@app.command()
def read(
    address: Address,
    peer: Annotated[Optional[str], typer.Option("--with", help="Show the conversation with this node.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many of the last chats to show.")] = 50,
    mark: Annotated[bool, typer.Option("--mark-read", help="Mark the shown chats read (the peer sees it).")] = False,
    token: Token = None,
) -> None:
    """List the node's conversations, or show one (--with) and optionally mark it read."""
    console = Console()
    if peer is None:
        _conversations(console, get_json(address, "/chats", token))
        return
    body = get_json(address, f"/chats/{peer}?limit={limit}", token)
    _messages(console, body)
    incoming = [m for m in body["messages"] if m["direction"] == "in"]
    if mark and incoming:
        answer = _tell(address, "ChatReceipt", {"to": peer, "chatId": incoming[-1]["chatId"]}, token)
        console.print(f"marked read through {incoming[-1]['chatId']}: {answer['unread']} unread")


def _conversations(console: Console, body: dict[str, Any]) -> None:
    table = Table(title=f"Conversations of node {body['node']} ({body['unread']} unread)")
    for column in ("peer", "name", "live", "unread", "last", "when"):
        table.add_column(column)
    for conv in body["conversations"]:
        last = conv["last"] or {}
        typing = " [italic](typing)[/]" if conv["typing"] else ""
        table.add_row(escape(conv["peer"]), escape(conv["name"]) + typing, "yes" if conv["live"] else "[yellow]no[/]",
                      f"[bold]{conv['unread']}[/]" if conv["unread"] else "0",
                      escape(_clip(f"{'> ' if last.get('direction') == 'out' else ''}{last.get('text', '')}")),
                      _clock(last.get("sent")))  # fmt: skip
    console.print(table)


def _messages(console: Console, body: dict[str, Any]) -> None:
    console.print(f"[bold]{escape(body['name'])}[/] ({escape(body['peer'])}, {'live' if body['live'] else 'not live'})"
                  + (" is typing..." if body["typing"] else ""))  # fmt: skip
    for m in body["messages"]:
        who = "you" if m["direction"] == "out" else m["from"]
        via = f" via {'-'.join(m['route'])}" if m["route"] else ""
        console.print(f"{_clock(m['sent'])} [bold]{escape(who)}[/]: {escape(m['text'])}  "
                      f"({_STATUS.get(m['status'], m['status'])}{escape(via)})", highlight=False)  # fmt: skip


def _clip(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _clock(ms: int | None) -> str:
    return datetime.fromtimestamp(ms / 1000).strftime("%H:%M:%S") if ms else ""
