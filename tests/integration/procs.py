"""Real node processes on loopback ports, started as a user would, for tests.

Every process is started here and killed here, by PID; every wait is bounded.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns a truthy value; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except (OSError, urllib.error.URLError, ValueError) as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s (last: {last!r})")


def http(method: str, address: str, path: str, body: bytes | None = None,
         headers: dict[str, str] | None = None, timeout: float = 5.0) -> tuple[int, Any]:  # fmt: skip
    """One request; returns (status, parsed JSON or raw bytes)."""
    request = urllib.request.Request(f"http://{address}{path}", data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


def curl_get(address: str, envelope: dict[str, Any], token: str | None) -> tuple[int, Any]:
    """The original README's request: ``curl --request GET`` with a JSON body."""
    data = json.dumps(envelope, indent=4)
    if shutil.which("curl") is None:  # same request without the binary
        headers = {"Content-Type": "application/json", **({"Authorization": token} if token else {})}
        return http("GET", address, "/messaging", data.encode(), headers)
    cmd = ["curl", "--silent", "--location", "--request", "GET", f"http://{address}/messaging",
           "--header", "Content-Type: application/json", "--header", "Accept: application/json",
           "--write-out", "\n%{http_code}", "--data-raw", data]  # fmt: skip
    if token:
        cmd[6:6] = ["--header", f"Authorization: {token}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=True).stdout
    body, _, code = out.rpartition("\n")
    return int(code), json.loads(body)


@dataclass
class NodeProc:
    """One ``python -m grid.app`` process."""

    name: str
    node_id: str
    port: int
    token: str | None
    log_path: Path
    data_dir: Path | None = None
    extra: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def argv(self) -> list[str]:
        argv = [sys.executable, "-m", "grid.app", "-s", HOST, "-p", str(self.port), "-n", self.name, "-i", self.node_id]
        if self.token:
            argv += ["-t", self.token]
        if self.data_dir:
            argv += ["--data-dir", str(self.data_dir)]
        return argv + self.extra

    def start(self) -> "NodeProc":
        log = open(self.log_path, "ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(self.argv(), stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        log.close()
        wait_until(lambda: self.alive() and http("GET", self.address, "/healthz", timeout=1)[0] == 200, timeout=20)
        return self

    def alive(self) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            raise AssertionError(f"node {self.name} exited; log:\n{self.log_path.read_text()[-3000:]}")
        return True

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL and reap."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, wait for a clean exit; returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode

    def state(self) -> dict[str, Any]:
        status, body = http("GET", self.address, "/state")
        assert status == 200, body
        return body

    def tell(self, msg_type: str, msg: dict[str, Any], token: str | None = "own") -> tuple[int, Any]:
        envelope = {"envType": "Tell", "msgType": msg_type, "msg": msg}
        auth = self.token if token == "own" else token
        headers = {"Content-Type": "application/json", **({"Authorization": auth} if auth else {})}
        return http("POST", self.address, "/messaging", json.dumps(envelope).encode(), headers)

    def link(self, other: "NodeProc") -> tuple[int, Any]:
        return self.tell(
            "AddSibling", {"siblingName": other.name, "siblingAddress": other.address, "siblingId": other.node_id}
        )


class Cluster:
    """The processes of one test; everything started is stopped at the end."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.nodes: list[NodeProc] = []

    def start(self, name: str, node_id: str, token: str | None = None, *, persist: bool = False,
              port: int | None = None, extra: list[str] | None = None) -> NodeProc:  # fmt: skip
        node = NodeProc(
            name, node_id, port or free_port(), token, self.tmp / f"{name}.log",
            data_dir=self.tmp / f"data-{name}" if persist else None, extra=extra or [],
        )  # fmt: skip
        self.nodes.append(node)
        return node.start()

    def close(self) -> None:
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None:
                node.stop(timeout=5)

    def agree(self, nodes: list[NodeProc], gridnet: float, live: int | None = None, timeout: float = 10.0) -> list[dict]:
        """Wait until every node reports ``gridnet`` (and ``live`` nodes) with one view digest."""

        def check() -> list[dict] | None:
            states = [n.state() for n in nodes]
            same = len({s["view_digest"] for s in states}) == 1
            ok = all(s["gridnet"] == gridnet and (live is None or s["nodes_live"] == live) for s in states)
            return states if same and ok else None

        return wait_until(check, timeout=timeout)
