"""``grid node`` (and ``python -m grid.app``): run one node in this terminal."""

from __future__ import annotations

import asyncio
import logging
import signal
import tomllib
from pathlib import Path
from typing import Annotated, Optional

import typer

from protocol.gossip import GossipConfig

from ..node import NodeConfig
from ..runtime import LoopScheduler
from ..service import NodeService
from ..transport.http import HttpTransport

log = logging.getLogger("grid")


def node(
    host: Annotated[str, typer.Option("-s", "--host", help="Address to listen on and to be reached at.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("-p", "--port", min=1, max=65535, help="HTTP port.")] = 8081,
    name: Annotated[str, typer.Option("-n", "--name", help="Human-readable node name.")] = "A",
    node_id: Annotated[str, typer.Option("-i", "--id", help="Node id, unique in the grid.")] = "1",
    token: Annotated[Optional[str], typer.Option("-t", "--token", help="Operator token (Authorization header).")] = None,
    data_dir: Annotated[
        Optional[Path], typer.Option("--data-dir", help="Directory of the node's SQLite store (default: none, memory).")
    ] = None,
    heartbeat: Annotated[float, typer.Option(help="Seconds between refreshes of this node's entry.")] = 1.0,
    ttl: Annotated[float, typer.Option(help="Seconds without news after which a node is stale.")] = 5.0,
    sync_interval: Annotated[float, typer.Option(help="Seconds between digest exchanges with a sibling.")] = 2.0,
    flush_window: Annotated[float, typer.Option(help="Seconds changes are coalesced before a push.")] = 0.005,
    config_file: Annotated[
        Optional[Path], typer.Option("--config", help="Node TOML file: one [section] per feature (see docs).")
    ] = None,
    private_reads: Annotated[bool, typer.Option(help="Reads (/state, /grid, ...) need a viewer token.")] = False,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
) -> None:
    """Run one grid node until SIGINT or SIGTERM."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)-7s %(message)s", datefmt="%H:%M:%S")
    config = NodeConfig(
        id=node_id, name=name, host=host, port=port, token=token, data_dir=data_dir,
        gossip=GossipConfig(heartbeat_s=heartbeat, ttl_s=ttl, sync_interval_s=sync_interval),
        flush_window_s=flush_window, features=load_features(config_file), private_reads=private_reads,
    )  # fmt: skip
    try:
        asyncio.run(serve(config))
    except OSError as exc:
        typer.echo(f"cannot start node {name}: {exc}", err=True)
        raise typer.Exit(2) from None


def load_features(path: Path | None) -> dict[str, dict]:
    """Feature settings from a node TOML file: each table is one feature's settings."""
    if path is None:
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise typer.BadParameter(f"{path}: {exc}", param_hint="--config") from None
    return {name: section for name, section in data.items() if isinstance(section, dict)}


async def serve(config: NodeConfig) -> None:
    """Run the node until a stop signal arrives, then shut down cleanly."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    transport = HttpTransport(loop)
    service = NodeService(config, transport, LoopScheduler(loop))
    await service.start()
    if config.token is None:
        log.warning("no operator token (-t): anyone who can reach %s may change this node", config.address)
    log.warning("no grid key: peer messages are not authenticated (open development mode)")
    log.info("listening on http://%s/messaging", config.address)
    await stop.wait()
    log.info("stopping %s", config.name)
    await service.stop()
    await transport.close()
