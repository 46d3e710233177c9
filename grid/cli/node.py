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

from .. import logs, security
from ..metering import config as metering_config
from ..model import cli as model_cli
from ..node import NodeConfig
from ..runtime import LoopScheduler
from ..service import NodeService
from ..transport.http import HttpTransport

log = logging.getLogger("grid")


@model_cli.with_model_options
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
    grid_key: Annotated[
        Optional[list[str]], typer.Option("--grid-key", help="Grid key ID:SECRET for peers (repeatable; first signs).")
    ] = None,
    operator: Annotated[
        Optional[list[str]], typer.Option("--operator", help="Operator token ROLE:LABEL:TOKEN (repeatable).")
    ] = None,
    max_inflight: Annotated[
        Optional[int], typer.Option(min=1, help="Most /messaging requests handled at once; more get 503.")
    ] = None,
    kind: Annotated[Optional[str], typer.Option(help="Node kind: manual (default), consumer, prosumer, plant.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of this node's randomness (default: from its id).")] = None,
    step: Annotated[Optional[float], typer.Option(help="Simulated seconds per model step (default 60).")] = None,
    balancing: Annotated[
        Optional[bool], typer.Option("--balancing/--no-balancing", help="React to the grid (default on).")
    ] = None,
    speed: Annotated[Optional[float], typer.Option(help="Simulated seconds per real second (default 1).")] = None,
    start: Annotated[Optional[str], typer.Option(help="Simulated time at --epoch, ISO 8601 (default: now).")] = None,
    epoch: Annotated[Optional[str], typer.Option(help="Wall-clock instant (ISO or Unix s) of --start; share it.")] = None,
    device: Annotated[
        Optional[list[str]], typer.Option("--device", help="Metered device ID:MAX_KWH per hour (repeatable).")
    ] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
    log_format: Annotated[
        logs.LogFormat, typer.Option(help="text, or json: one JSON object per line (docs/observability.md).")
    ] = logs.LogFormat.text,
    model_params: Optional[dict] = None,  # filled by with_model_options: --turbines 2 --battery-kwh 13.5 ...
) -> None:
    """Run one grid node until SIGINT or SIGTERM."""
    logs.configure(log_level, log_format, node=name, node_id=node_id)
    try:
        features = security.with_flags(load_features(config_file), grid_key, operator, max_inflight)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--grid-key/--operator/[security]") from None
    kind = model_cli.configure(
        features, node_id, kind, model_params,
        model={"seed": seed, "step_s": step, "balancing": balancing},
        clock={"speed": speed, "start": start, "epoch": epoch},
    )  # fmt: skip
    try:
        features = metering_config.with_cli_devices(features, device or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--device") from None
    config = NodeConfig(
        id=node_id, name=name, host=host, port=port, token=security.Secret(token) if token else None, data_dir=data_dir,
        gossip=GossipConfig(heartbeat_s=heartbeat, ttl_s=ttl, sync_interval_s=sync_interval),
        flush_window_s=flush_window, features=features, private_reads=private_reads, kind=kind,
    )  # fmt: skip
    try:
        asyncio.run(serve(config))
    except (OSError, ValueError) as exc:  # ValueError: a stored grid key contradicts a --grid-key
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
    data = security.fold_toml(data)  # [[operators]] go to the security settings
    return {name: section for name, section in data.items() if isinstance(section, dict)}


async def serve(config: NodeConfig) -> None:
    """Run the node until a stop signal arrives, then shut down cleanly."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    transport = HttpTransport(loop)
    service = NodeService(config, transport, LoopScheduler(loop))
    transport.signer, transport.answer_check = service.peers.sign, service.peers.check_answer
    await service.start()
    if not service.auth.required:
        log.warning("no operator token (-t): anyone who can reach %s may change this node", config.address)
    if service.peers.is_open:
        log.warning("no grid key: peer messages are not authenticated (open development mode)")
    else:
        log.info("grid keys %s, signing with %s", ", ".join(service.peers.ids()), service.peers.active_id)
    log.info("listening on http://%s/messaging", config.address)
    await stop.wait()
    log.info("stopping %s", config.name)
    await service.stop()
    await transport.close()
