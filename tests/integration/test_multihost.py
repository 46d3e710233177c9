"""Grid across hosts: network namespaces stand for machines, packet filters cut them apart.

Three hosts on one switch, two node processes on each, linked in a ring that
crosses every host; peers sign with a grid key::

      h1 10.213.0.1          h2 10.213.0.2          h3 10.213.0.3
     A :8081 - B :8082 ---- C :8081 - D :8082 ---- E :8081 - F :8082
     |                                                            |
     +------------------------------------------------------------+
                  all three: veth to bridge br0 in namespace "sw"

Partition: DROP rules (nftables, or iptables) in h3 cut it off the switch;
{A, B, C, D} and {E, F} each agree on their own island (the others stale),
while readings change on both sides. Heal: delete the rules; all six agree
on every reading issued on either side.

Needs root, ``ip``, ``curl`` and ``nft`` or ``iptables``; skips with the
reason otherwise. Every namespace and process it creates is removed at the
end, pass or fail; the 10.213.0.0/24 addresses exist only inside them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest

from .procs import ROOT, wait_until
from .test_metrics import metric_samples, value

pytestmark = pytest.mark.root

PREFIX = "gridmh"
SUBNET = "10.213.0"
KEY = "k1:multihost-grid-secret-0123456789"
FAST = ["--heartbeat", "0.3", "--ttl", "1.5", "--sync-interval", "0.5"]
NFT_RULES = """table inet gridpartition {
  chain input { type filter hook input priority 0; policy accept; iifname "eth0" drop; }
  chain output { type filter hook output priority 0; policy accept; oifname "eth0" drop; }
}
"""


def run(*cmd: str, stdin: str | None = None, timeout: float = 10.0) -> subprocess.CompletedProcess[str]:
    """Run a setup command; raises with its stderr when it fails."""
    done = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {done.stderr.strip() or done.stdout.strip()}")
    return done


@dataclass
class Node:
    """One ``python -m grid.app`` process inside a host namespace."""

    name: str
    node_id: str
    netns: str
    ip: str
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"

    @property
    def token(self) -> str:
        return f"token-{self.name}"

    def start(self) -> None:
        argv = [sys.executable, "-m", "grid.app", "-s", self.ip, "-p", str(self.port), "-n", self.name,
                "-i", self.node_id, "-t", self.token, "--grid-key", KEY, *FAST]  # fmt: skip
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(["ip", "netns", "exec", self.netns, *argv], stdout=log,
                                         stderr=subprocess.STDOUT, cwd=ROOT, env=env)  # fmt: skip

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers; always reaped."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def request(self, path: str, envelope: dict[str, Any] | None = None, timeout: float = 2.0,
                to: "Node | None" = None) -> tuple[int, str]:  # fmt: skip
        """curl from this node's host to ``to`` (default: itself); status 0 when nothing answered."""
        target = to or self
        cmd = ["ip", "netns", "exec", self.netns, "curl", "-s", "-m", str(timeout), "-w", "\n%{http_code}",
               f"http://{target.address}{path}"]  # fmt: skip
        if envelope is not None:
            cmd += ["-H", "Content-Type: application/json", "-H", f"Authorization: {target.token}",
                    "--data-raw", json.dumps(envelope)]  # fmt: skip
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 5).stdout
        except subprocess.TimeoutExpired:
            return 0, ""
        body, _, code = out.rpartition("\n")
        return int(code) if code.isdigit() else 0, body

    def tell(self, msg_type: str, msg: dict[str, Any]) -> int:
        return self.request("/messaging", {"envType": "Tell", "msgType": msg_type, "msg": msg})[0]

    def link(self, other: "Node") -> int:
        return self.tell("AddSibling", {"siblingName": other.name, "siblingAddress": other.address,
                                        "siblingId": other.node_id})  # fmt: skip

    def state(self) -> dict[str, Any] | None:
        status, body = self.request("/state")
        return json.loads(body) if status == 200 else None

    def healthy(self) -> bool:
        """Whether it answers /healthz; fails at once, with its log, if the process exited."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"node {self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
        return self.request("/healthz")[0] == 200

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-1500:] if self.log_path.exists() else ""


@dataclass
class Hosts:
    """The namespaces, the switch and the node processes of one test run."""

    tmp: Path
    run_id: str = field(default_factory=lambda: f"{PREFIX}{os.getpid()}")
    namespaces: list[str] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    filter_tool: str = ""

    def ns(self, name: str) -> str:
        return f"{self.run_id}-{name}"

    def build(self, count: int) -> None:
        """A switch namespace with bridge br0 and ``count`` hosts, each on a veth port."""
        switch = self._add_ns("sw")
        run("ip", "-n", switch, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", switch, "link", "set", "br0", "up")
        for i in range(1, count + 1):
            host = self._add_ns(f"h{i}")
            # Both ends are created inside the namespaces: nothing appears on this machine's own network.
            run("ip", "-n", switch, "link", "add", f"p{i}", "type", "veth", "peer", "name", "eth0", "netns", host)
            run("ip", "-n", switch, "link", "set", f"p{i}", "master", "br0", "up")
            run("ip", "-n", host, "addr", "add", f"{SUBNET}.{i}/24", "dev", "eth0")
            run("ip", "-n", host, "link", "set", "eth0", "up")
            run("ip", "-n", host, "link", "set", "lo", "up")

    def _add_ns(self, name: str) -> str:
        netns = self.ns(name)
        run("ip", "netns", "add", netns)
        self.namespaces.append(netns)
        return netns

    def start(self, name: str, node_id: str, host: int, port: int) -> Node:
        node = Node(name, node_id, self.ns(f"h{host}"), f"{SUBNET}.{host}", port, self.tmp / f"{name}.log")
        self.nodes.append(node)
        node.start()
        return node

    def partition(self, host: int) -> None:
        """Drop everything host ``host`` sends to or gets from the switch."""
        netns = self.ns(f"h{host}")
        if self.filter_tool == "nft":
            run("ip", "netns", "exec", netns, "nft", "-f", "-", stdin=NFT_RULES)
        else:
            run("ip", "netns", "exec", netns, "iptables", "-I", "INPUT", "-i", "eth0", "-j", "DROP")
            run("ip", "netns", "exec", netns, "iptables", "-I", "OUTPUT", "-o", "eth0", "-j", "DROP")

    def heal(self, host: int) -> None:
        netns = self.ns(f"h{host}")
        if self.filter_tool == "nft":
            run("ip", "netns", "exec", netns, "nft", "delete", "table", "inet", "gridpartition")
        else:
            run("ip", "netns", "exec", netns, "iptables", "-D", "INPUT", "-i", "eth0", "-j", "DROP")
            run("ip", "netns", "exec", netns, "iptables", "-D", "OUTPUT", "-o", "eth0", "-j", "DROP")

    def close(self) -> None:
        """Stop every node, then delete every namespace (with its veths, bridge and rules)."""
        for node in self.nodes:
            node.stop()
        for netns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", netns], capture_output=True, timeout=10)
        self.namespaces.clear()


def missing_tools() -> str | None:
    """Why this machine cannot run the test, or None."""
    if shutil.which("ip") is None:
        return "needs iproute2 (ip) for network namespaces"
    if shutil.which("curl") is None:
        return "needs curl to query nodes inside their namespaces"
    if shutil.which("nft") is None and shutil.which("iptables") is None:
        return "needs nft or iptables for the packet filters that partition hosts"
    return None


def forget_abandoned_runs() -> None:
    """Delete namespaces left by an earlier run of this test that was killed (its pid is gone)."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10).stdout
    for name in (line.split()[0] for line in listed.splitlines() if line.startswith(PREFIX)):
        pid = name[len(PREFIX):].split("-")[0]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[Hosts]:
    reason = missing_tools()
    if reason:
        pytest.skip(reason)
    forget_abandoned_runs()
    group = Hosts(tmp_path)
    try:
        try:
            group.build(3)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            pytest.skip(f"cannot build network namespaces here: {exc}")
        group.filter_tool = usable_filter(group)
        yield group
    finally:
        group.close()


def usable_filter(group: Hosts) -> str:
    """The first of nft, iptables whose rules can be installed and removed in a host namespace."""
    errors = []
    for tool in ("nft", "iptables"):
        if shutil.which(tool) is None:
            continue
        group.filter_tool = tool
        try:
            group.partition(3)
            group.heal(3)
            return tool
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            errors.append(str(exc))
    pytest.skip(f"no packet filter works in a namespace here: {'; '.join(errors)}")


def agree(nodes: list[Node], gridnet: float, live: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    """Wait until ``nodes`` report ``gridnet`` with ``live`` live nodes and one view digest."""

    def check() -> list[dict[str, Any]] | None:
        states = [node.state() for node in nodes]
        if any(s is None for s in states):
            return None
        same = len({s["view_digest"] for s in states}) == 1  # type: ignore[index]
        ok = all(s["gridnet"] == gridnet and s["nodes_live"] == live for s in states)  # type: ignore[index]
        return states if same and ok else None  # type: ignore[return-value]

    try:
        return wait_until(check, timeout=timeout, interval=0.2)
    except AssertionError:
        seen = {n.name: (s or {}).get("gridnet") for n, s in ((n, n.state()) for n in nodes)}
        logs = "\n".join(f"--- {n.name}\n{n.log_tail()}" for n in nodes)
        raise AssertionError(f"no agreement on {gridnet} with {live} live: {seen}\n{logs}") from None


def stale_gauge(node: Node) -> float:
    status, body = node.request("/metrics")
    assert status == 200, body
    return value(metric_samples(body), "grid_nodes", status="stale")


def test_hosts_link_partition_into_islands_and_heal_into_one_grid(hosts: Hosts) -> None:
    a, b = hosts.start("A", "1", 1, 8081), hosts.start("B", "2", 1, 8082)
    c, d = hosts.start("C", "3", 2, 8081), hosts.start("D", "4", 2, 8082)
    e, f = hosts.start("E", "5", 3, 8081), hosts.start("F", "6", 3, 8082)
    everyone, west, east = [a, b, c, d, e, f], [a, b, c, d], [e, f]
    for node in everyone:
        wait_until(node.healthy, timeout=30, interval=0.2)
    for left, right in [(a, b), (b, c), (c, d), (d, e), (e, f), (f, a)]:
        assert left.link(right) == 202
    for node, (production, consumption) in [(a, (5, 1)), (c, (0, 2)), (e, (3, 0)), (f, (0, 1))]:
        assert node.tell("UpdateEnergy", {"production": production, "consumption": consumption}) == 202
    # The last link of the ring may still be in its handshake once the others carried every entry.
    wait_until(lambda: all(len((n.state() or {}).get("siblings", [])) == 2 for n in everyone), timeout=20)
    states = agree(everyone, gridnet=4.0, live=6)
    assert all(not s["dev_mode"] and len(s["siblings"]) == 2 for s in states)

    assert a.request("/healthz", to=e)[0] == 200  # h1 reaches h3 across the switch...
    hosts.partition(3)
    assert a.request("/healthz", to=e, timeout=1)[0] == 0  # ...and no longer does
    assert a.tell("UpdateEnergy", {"production": 10, "consumption": 1}) == 202
    assert e.tell("UpdateEnergy", {"production": 3, "consumption": 1}) == 202
    agree(west, gridnet=7.0, live=4)
    agree(east, gridnet=1.0, live=2)
    assert (stale_gauge(c), stale_gauge(f)) == (2, 4)

    hosts.heal(3)
    states = agree(everyone, gridnet=8.0, live=6)
    assert {s["nodes_stale"] for s in states} == {0}
