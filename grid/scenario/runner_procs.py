"""The processes driver: each node a real ``python -m grid.app`` process, as a user starts one.

Every node gets the original flags (``-s -p -n -i -t``), its gossip timing
flags, ``--kind``, and a node TOML file (``--config``) holding its feature
tables: ``[model]`` parameters, ``[clock]`` (speed, start and the shared
epoch), and any other feature's table from the scenario. Timeline messages
go over HTTP with the node's token; kill is SIGKILL, stop is SIGTERM (the
node leaves gracefully), restart starts the same command again on the same
port and data directory. Every process is stopped by its PID at the end,
whatever happened. Logs go to ``WORKDIR/logs/NAME.log``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ..demo import pick_port
from .client import NodeClient
from .plan import PlannedNode

#: Seconds a process may take to answer /healthz after it is started.
START_TIMEOUT_S = 60.0
#: Seconds a process may take to exit after SIGTERM before it is killed.
STOP_TIMEOUT_S = 10.0
#: Seconds a sample waits for one node's /state.
STATE_TIMEOUT_S = 2.0


def toml_text(tables: dict[str, dict[str, Any]]) -> str:
    """A node TOML file of feature tables (strings, numbers, booleans, lists, nested tables)."""
    lines: list[str] = []
    for name, table in tables.items():
        _table(lines, [name], table)
    return "\n".join(lines) + "\n"


def _key(name: str) -> str:
    return name if name.replace("_", "").replace("-", "").isalnum() else json.dumps(name)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid TOML basic-string escapes
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items() if v is not None) + "}"
    raise ValueError(f"cannot write {value!r} to TOML")


def _table(lines: list[str], path: list[str], table: dict[str, Any]) -> None:
    header = ".".join(_key(p) for p in path)
    lines.append(f"[{header}]")
    nested = []
    for key, value in table.items():
        if value is None:
            continue
        if isinstance(value, dict):
            nested.append((key, value))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            nested.append((key, value))
        else:
            lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in nested:
        if isinstance(value, dict):
            _table(lines, [*path, key], value)
        else:
            for item in value:
                lines.append(f"[[{header}.{_key(key)}]]")
                lines.extend(f"{_key(k)} = {_value(v)}" for k, v in item.items() if v is not None)


class ProcessDriver:
    """Starts one ``python -m grid.app`` per node and talks to it over HTTP."""

    mode = "processes (python -m grid.app), HTTP on loopback"
    chaos = None

    def __init__(self, workdir: Path, log_level: str = "INFO") -> None:
        self.workdir = workdir
        self.log_level = log_level
        self.client = NodeClient()
        self.nodes: dict[str, PlannedNode] = {}
        self.ports: dict[str, int] = {}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.clock: dict[str, Any] = {}

    async def open(self, nodes: list[PlannedNode], clock: dict[str, Any]) -> None:
        self.nodes = {n.name: n for n in nodes}
        self.clock = clock
        for sub in ("logs", "config", "data"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        for node in nodes:
            self.ports[node.name] = pick_port(node.port or 0)

    def argv(self, node: PlannedNode) -> list[str]:
        """The command line of one node, as a user would type it."""
        config = self.workdir / "config" / f"{node.name}.toml"
        config.write_text(toml_text({k: v for k, v in node.feature_tables(self.clock).items()}))
        g = node.gossip
        argv = [sys.executable, "-m", "grid.app", "-s", "127.0.0.1", "-p", str(self.ports[node.name]),
                "-n", node.name, "-i", node.id]  # fmt: skip
        if node.token:
            argv += ["-t", node.token]
        argv += ["--heartbeat", str(g.heartbeat_s), "--ttl", str(g.ttl_s), "--sync-interval", str(g.sync_interval_s),
                 "--flush-window", str(node.flush_window_s), "--kind", node.kind, "--config", str(config),
                 "--log-level", self.log_level]  # fmt: skip
        if node.persist:
            argv += ["--data-dir", str(self.workdir / "data" / node.name)]
        return argv

    def _log(self, name: str) -> Path:
        return self.workdir / "logs" / f"{name}.log"

    async def launch(self, nodes: list[PlannedNode]) -> dict[str, str]:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        for node in nodes:
            with open(self._log(node.name), "ab") as log:
                self.procs[node.name] = subprocess.Popen(self.argv(node), stdout=log, stderr=subprocess.STDOUT, env=env)
        ready = await asyncio.gather(*(self._until_healthy(n.name) for n in nodes))
        return {n.name: why for n, why in zip(nodes, ready, strict=True) if why}

    async def _until_healthy(self, name: str) -> str:
        """"" when the node answers /healthz; else why it did not."""
        deadline = time.monotonic() + START_TIMEOUT_S
        address = self.fact(name, "address")
        while time.monotonic() < deadline:
            if self.procs[name].poll() is not None:
                return f"exited with {self.procs[name].returncode}; see {self._log(name)}: {self._tail(name)}"
            if await self.client.healthy(address):
                return ""
            await asyncio.sleep(0.1)
        return f"no answer on {address} within {START_TIMEOUT_S:.0f} s; see {self._log(name)}"

    def _tail(self, name: str, lines: int = 3) -> str:
        try:
            return " | ".join(self._log(name).read_text(errors="replace").strip().splitlines()[-lines:])
        except OSError:
            return ""

    async def halt(self, name: str, graceful: bool) -> None:
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM if graceful else signal.SIGKILL)
        await self._reap(proc, STOP_TIMEOUT_S)

    @staticmethod
    async def _reap(proc: subprocess.Popen[bytes], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
            await asyncio.to_thread(proc.wait, 10)

    async def send(self, name: str, msg_type: str, msg: dict[str, Any], token: str | None) -> tuple[int, Any]:
        return await self.client.send(self.fact(name, "address"), msg_type, msg, token)

    async def states(self, names: list[str]) -> dict[str, dict[str, Any] | None]:
        async def one(name: str) -> dict[str, Any] | None:
            status, body = await self.client.get(self.fact(name, "address"), "/state", STATE_TIMEOUT_S)
            return body if status == 200 and isinstance(body, dict) else None

        answers = await asyncio.gather(*(one(name) for name in names))
        return dict(zip(names, answers, strict=True))

    async def dispatch(self, name: str, dispatch_id: str) -> dict[str, Any] | None:
        status, body = await self.client.get(self.fact(name, "address"), f"/dispatches/{dispatch_id}")
        return body if status == 200 and isinstance(body, dict) else None

    def fact(self, name: str, fact: str) -> Any:
        node = self.nodes[name]
        port = self.ports[name]
        return {"address": f"127.0.0.1:{port}", "port": port, "id": node.id, "name": node.name,
                "token": node.token or ""}[fact]  # fmt: skip

    def url(self, name: str) -> str | None:
        return f"http://{self.fact(name, 'address')}/"

    async def close(self) -> None:
        """SIGTERM every process still running, then SIGKILL what did not exit; all reaped."""
        alive = [p for p in self.procs.values() if p.poll() is None]
        for proc in alive:
            proc.send_signal(signal.SIGTERM)
        await asyncio.gather(*(self._reap(p, STOP_TIMEOUT_S) for p in alive))
        await self.client.close()
