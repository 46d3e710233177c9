"""Security and real-process faults with real node processes on loopback.

- A node with the wrong grid key cannot join, and changes nothing at the nodes it tries.
- Operators with roles from flags; tokens and secrets never in the log.
- Key rotation with the ``grid key`` CLI while readings flow: no valid message refused,
  the removed key refused afterwards (slow).
- A node paused for 2 s is not stale; killed, it is stale within the TTL; restarted,
  it is back in agreement (slow).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest
from typer.testing import CliRunner

from grid.cli import app as cli
from protocol import codec
from protocol.entry import Entry
from protocol.envelopes import tell
from protocol.keyring import Keyring, nonce_from_bytes, sign
from protocol.messages import UpdateNet

from .procs import Cluster, NodeProc, http, wait_until

K1 = "k1:grid-secret-one-0123456789"
K2 = ("k2", "grid-secret-two-9876543210")
WRONG = "k1:not-the-grid-secret-00000"
FAST = ["--heartbeat", "0.3", "--ttl", "1.5", "--sync-interval", "0.5"]
OPERATORS = ["--operator", "owner:meter:tok-owner-55", "--operator", "manager:ops:tok-manager-77"]


def keyed(secret: str = K1) -> list[str]:
    return ["--grid-key", secret, *FAST]


def security(node: NodeProc) -> dict:
    return node.state()["security"]


def forged_update(key_id: str, secret: str, address: str) -> tuple[int, dict]:
    """What a node holding ``key_id:secret`` would send: an UpdateNet claiming a node 77."""
    entry = Entry(origin="77", incarnation=1, version=1, name="X", address="127.0.0.1:9", production_w=10**6)
    body = codec.encode(tell(UpdateNet(entries=(entry,), ages_ms=(0,)), return_id="2"))
    keyring = Keyring.with_key(key_id, secret.encode())
    headers = sign(keyring, "POST", "/messaging", body, time.time_ns() // 1_000_000, nonce_from_bytes(os.urandom(16)))
    return http("POST", address, "/messaging", body, {"Content-Type": codec.MSGPACK, **headers})


def test_wrong_key_cannot_join_or_change_anything(cluster: Cluster) -> None:
    a = cluster.start("A", "1", "t1", extra=keyed() + OPERATORS)
    b = cluster.start("B", "2", "t2", extra=keyed())
    w = cluster.start("W", "9", "t9", extra=keyed(WRONG))
    assert a.link(b)[0] == 202
    assert a.tell("UpdateEnergy", {"production": 6, "consumption": 1}, token="tok-owner-55")[0] == 202
    before = cluster.agree([a, b], gridnet=5.0, live=2)

    assert w.tell("UpdateEnergy", {"production": 100, "consumption": 0})[0] == 202
    assert w.link(a)[0] == 202  # W asks A: refused, bad signature
    assert a.link(w)[0] == 202  # A asks W: W refuses A's signature, so A never hears back
    for src, dst in ((w, a), (a, w)):
        wait_until(lambda: src.state()["links"].get(dst.address, {}).get("status") == "failed")
    assert forged_update("k1", WRONG.split(":", 1)[1], a.address)[0] == 401

    # An owner may report readings but not link; the manager may.
    assert a.tell("AddSibling", {"siblingName": "W", "siblingAddress": w.address, "siblingId": "9"},
                  token="tok-owner-55")[0] == 403  # fmt: skip
    after = cluster.agree([a, b], gridnet=5.0, live=2)
    assert [s["siblings"] for s in after] == [s["siblings"] for s in before]
    assert {row["id"] for row in http("GET", a.address, "/grid")[1]["nodes"]} == {"1", "2"}
    assert security(a)["rejected"].get("bad_signature", 0) >= 2 and security(b)["rejected"] == {}
    assert w.state()["siblings"] == [] and w.state()["gridnet"] == 100.0

    log = a.log_path.read_text()
    assert "grid keys k1, signing with k1" in log
    for secret in ("t1", "tok-owner-55", "tok-manager-77", K1.split(":", 1)[1]):
        assert f" {secret}" not in log and f"'{secret}'" not in log and secret + "\n" not in log


class Traffic:
    """Readings sent to one node every 20 ms from a thread, until stopped."""

    def __init__(self, node: NodeProc) -> None:
        self.node = node
        self.sent = 0
        self.refused: list[tuple[int, object]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Traffic":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            status, answer = self.node.tell("UpdateEnergy", {"production": self.sent + 1, "consumption": 0})
            if status == 202:
                self.sent += 1
            else:
                self.refused.append((status, answer))


@pytest.mark.slow
def test_key_rotation_with_the_cli_under_traffic(cluster: Cluster) -> None:
    nodes = [cluster.start(n, i, "t", extra=keyed()) for n, i in (("A", "1"), ("B", "2"), ("C", "3"))]
    a, b, c = nodes
    assert a.link(b)[0] == 202 and b.link(c)[0] == 202
    cluster.agree(nodes, gridnet=0.0, live=3)
    addresses = [n.address for n in nodes]
    runner = CliRunner()
    with Traffic(a) as traffic:
        for args in (["install", *addresses, "--id", K2[0], "--secret", K2[1]], ["use", *addresses, "--id", "k2"],
                     ["remove", *addresses, "--id", "k1"]):  # fmt: skip
            wait_until(lambda: traffic.sent >= 5)  # readings keep flowing between the steps
            done = traffic.sent
            result = runner.invoke(cli, ["key", *args, "-t", "t"])
            assert result.exit_code == 0, result.output
            wait_until(lambda: traffic.sent >= done + 5)
    assert traffic.refused == []
    states = cluster.agree(nodes, gridnet=float(traffic.sent), live=3, timeout=15)
    for state in states:
        block = state["security"]
        assert (block["keys"], block["active"], block["rejected"]) == (["k2"], "k2", {}), state["name"]
        assert block["accepted"] > 0
    listing = runner.invoke(cli, ["key", "list", *addresses])
    assert listing.exit_code == 0 and listing.output.count("k2") >= 3
    status, answer = forged_update("k1", K1.split(":", 1)[1], c.address)
    assert (status, answer["error"]) == (401, "unknown_key")


@pytest.mark.slow
def test_paused_node_stays_live_killed_node_goes_stale_restarted_node_rejoins(cluster: Cluster) -> None:
    default_timing = ["--grid-key", K1]  # heartbeat 1 s, TTL 5 s: the design's defaults
    a = cluster.start("A", "1", "t1", extra=default_timing)
    b = cluster.start("B", "2", "t2", extra=default_timing)
    c = cluster.start("C", "3", "t3", persist=True, extra=default_timing)
    assert a.link(b)[0] == 202 and b.link(c)[0] == 202
    assert c.tell("UpdateEnergy", {"production": 4, "consumption": 0})[0] == 202
    cluster.agree([a, b, c], gridnet=4.0, live=3)

    c.signal(signal.SIGSTOP)
    paused_at = time.monotonic()
    try:
        while time.monotonic() - paused_at < 2.0:  # the fault itself: a 2 s pause, watched throughout
            assert [n.state()["nodes_stale"] for n in (a, b)] == [0, 0]
            time.sleep(0.1)
    finally:
        c.signal(signal.SIGCONT)
    watch_until = time.monotonic() + 5.0  # one TTL after the pause: still nobody stale
    while time.monotonic() < watch_until:
        assert [n.state()["nodes_stale"] for n in (a, b)] == [0, 0]
        time.sleep(0.2)

    c.kill()
    states = cluster.agree([a, b], gridnet=0.0, live=2, timeout=20)
    assert [s["nodes_stale"] for s in states] == [1, 1]
    c.start()
    cluster.agree([a, b, c], gridnet=4.0, live=3, timeout=20)
    assert json.dumps(c.state()["security"]["rejected"]) == "{}"
