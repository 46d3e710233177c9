"""``make demo``: the original README's four nodes, linked into a ring, over real HTTP.

Starts nodes A-D in this process on loopback ports (8081-8084 when free),
sends exactly the README's messages through HTTP, waits until all four agree
on the grid net, prints what each believes and how long agreement took, then
stops (or keeps running with ``--keep`` so you can use curl against it).
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Annotated, Any

import aiohttp
import typer
from rich.console import Console
from rich.table import Table

from .node import NodeConfig
from .runtime import LoopScheduler
from .service import NodeService
from .transport.http import HttpTransport

NAMES = "ABCD"
#: The README's messages: (node, message type, msg).
STEPS: list[tuple[str, str, dict[str, Any]]] = [
    ("A", "UpdateEnergy", {"production": 0, "consumption": 10}),
    ("B", "UpdateEnergy", {"production": 20, "consumption": 5}),
    ("A", "AddSibling", {"siblingName": "B"}),
    ("B", "AddSibling", {"siblingName": "D"}),
    ("D", "AddSibling", {"siblingName": "C"}),
    ("C", "AddSibling", {"siblingName": "A"}),
]


def pick_port(preferred: int) -> int:
    """``preferred`` if it is free on 127.0.0.1, else any free port."""
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise OSError("no free port")


async def send(session: aiohttp.ClientSession, config: NodeConfig, msg_type: str, msg: dict[str, Any]) -> int:
    """One curl-equivalent request: GET /messaging with a JSON body and the node's token."""
    envelope = {"envType": "Tell", "msgType": msg_type, "msg": msg}
    headers = {"Authorization": config.token or ""}
    async with session.get(f"http://{config.address}/messaging", json=envelope, headers=headers) as resp:
        return resp.status


async def states(session: aiohttp.ClientSession, configs: list[NodeConfig]) -> list[dict[str, Any]]:
    """Every node's /state."""

    async def one(config: NodeConfig) -> dict[str, Any]:
        async with session.get(f"http://{config.address}/state") as resp:
            return await resp.json()

    return list(await asyncio.gather(*(one(c) for c in configs)))


async def run(keep: bool) -> float:
    """Run the demo; returns seconds from the last request until all agree."""
    loop = asyncio.get_running_loop()
    transport, scheduler = HttpTransport(loop), LoopScheduler(loop)
    configs = [
        NodeConfig(id=str(i), name=n, port=pick_port(8080 + i), token=f"t{i}") for i, n in enumerate(NAMES, 1)
    ]
    by_name = {c.name: c for c in configs}
    services = [NodeService(c, transport, scheduler) for c in configs]
    for service in services:
        await service.start()
    console = Console()
    try:
        async with aiohttp.ClientSession() as session:
            for name, msg_type, msg in STEPS:
                if msg_type == "AddSibling":
                    other = by_name[msg["siblingName"]]
                    msg = {**msg, "siblingAddress": other.address, "siblingId": other.id}
                status = await send(session, by_name[name], msg_type, msg)
                console.print(f"[dim]{name} <- {msg_type} {msg}  ->  HTTP {status}[/]")
            sent = time.perf_counter()
            while True:
                seen = await states(session, configs)
                if len({s["view_digest"] for s in seen}) == 1 and all(s["nodes_live"] == 4 for s in seen):
                    break
                if time.perf_counter() - sent > 10:
                    raise RuntimeError("the nodes did not agree within 10 s")
                await asyncio.sleep(0.002)
            elapsed = time.perf_counter() - sent
            console.print(summary(seen))
            console.print(f"All four agree on gridnet {seen[0]['gridnet']:.3f} kW, "
                          f"{elapsed * 1000:.1f} ms after the last request.")  # fmt: skip
            if keep:
                console.print("Nodes keep running; try: curl http://" + configs[0].address + "/state  (Ctrl-C stops)")
                await asyncio.Event().wait()
    finally:
        for service in services:
            await service.stop()
        await transport.close()
    return elapsed


def summary(seen: list[dict[str, Any]]) -> Table:
    """A table of what each node believes."""
    table = Table(title="The original demo: ring A-B-D-C-A")
    for column in ("node", "address", "production kW", "consumption kW", "net kW", "siblings", "gridnet kW"):
        table.add_column(column)
    for s in seen:
        siblings = ", ".join(x["name"] for x in s["siblings"])
        table.add_row(s["name"], s["address"], f"{s['production']:.3f}", f"{s['consumption']:.3f}",
                      f"{s['net']:.3f}", siblings, f"{s['gridnet']:.3f}")  # fmt: skip
    return table


def main(keep: Annotated[bool, typer.Option(help="Keep the nodes running after the demo.")] = False) -> None:
    """Run the original four-node demo and report how fast the nodes agree."""
    try:
        asyncio.run(run(keep))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    typer.run(main)
