"""Dispatch across real node processes: ten nodes shed and answer; forgeries are refused everywhere.

Topology of the ten-node test (a ring with two chords)::

    1 - 2 - 3 - 4 - 5
    |   .       .   |       chords: 1-6, 3-8
    10- 9 - 8 - 7 - 6

Node 1 holds the operator key; node 2 answers by hand (an owner token), node 3
opts out by policy, the others acknowledge by policy; node 10 is down while
the dispatch is issued and catches up when it returns.
"""

from __future__ import annotations

import json
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from grid.cli import app
from protocol.dispatch import Dispatch, DispatchUpdate, public_key_from_seed, sign_dispatch

from .procs import Cluster, NodeProc, curl_get, http, wait_until

SEED = bytes(range(32))
WRONG_SEED = bytes(range(64, 96))
OP = "op-main"
FAST = ["--heartbeat", "0.3", "--ttl", "3", "--sync-interval", "0.5", "--log-level", "INFO"]
WINDOW_MS = 15_000


def write_config(path: Path, policy: str, *, issuer: bool = False, webhook: str | None = None) -> Path:
    """A node TOML file with its ``[dispatch]`` table."""
    lines = ["[dispatch]", f'ack_policy = "{policy}"', "digest_every = 1"]
    if issuer:
        lines += [f'operator_seed = "{SEED.hex()}"', f'operator_id = "{OP}"']
    lines += ["[dispatch.operators]", f'{OP} = "{public_key_from_seed(SEED).hex()}"']
    channels = '["events", "webhook"]' if webhook else '["events"]'
    lines += ["[[dispatch.programs]]", 'program_id = "p1"', 'name = "Peak saver"', f"channels = {channels}",
              "offered_kw = 3.0"]  # fmt: skip
    if webhook:
        lines += ["[dispatch.webhook]", f'url = "{webhook}"']
    path.write_text("\n".join(lines) + "\n")
    return path


def start_all(cluster: Cluster, specs: list[tuple[str, str, list[str]]]) -> list[NodeProc]:
    """Start nodes a few at a time (each start waits for its /healthz); returns them in order.

    A few, not all at once: ten interpreters importing together on a busy
    2-core machine can take longer than a start may.
    """
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(cluster.start, f"N{i}", i, f"t{i}", persist=True, extra=FAST + extra)
                   for i, _, extra in specs]  # fmt: skip
        return [f.result() for f in futures]


def consumption(node: NodeProc) -> float:
    return node.state()["consumption"]


def dispatch_of(node: NodeProc, dispatch_id: str) -> dict[str, Any] | None:
    status, body = http("GET", node.address, f"/dispatches/{dispatch_id}")
    return body if status == 200 else None


def audit(node: NodeProc, kind: str) -> list[dict[str, Any]]:
    return http("GET", node.address, f"/audit?kind={kind}&limit=1000")[1]["records"]


def test_ten_nodes_shed_during_the_window_and_the_issuer_sees_every_answer(cluster: Cluster, tmp_path: Path) -> None:
    policies = {"1": "opt_in", "2": "manual", "3": "opt_out"}
    specs = []
    for n in range(1, 11):
        i = str(n)
        path = write_config(tmp_path / f"n{i}.toml", policies.get(i, "opt_in"), issuer=i == "1")
        extra = ["--config", str(path)] + (["--operator", "owner:own2:o2"] if i == "2" else [])
        specs.append((i, "", extra))
    nodes = start_all(cluster, specs)
    by_id = {n.node_id: n for n in nodes}
    ring = [(str(i), str(i % 10 + 1)) for i in range(1, 11)] + [("1", "6"), ("3", "8")]
    for a, b in ring:
        assert by_id[a].link(by_id[b])[0] == 202
    for node in nodes:
        assert node.tell("UpdateEnergy", {"production": 0, "consumption": 5})[0] == 202
    cluster.agree(nodes, gridnet=-50.0, live=10, timeout=30)
    issuer, manual, opted, away = by_id["1"], by_id["2"], by_id["3"], by_id["10"]
    everyone = sorted(by_id)
    wait_until(lambda: http("GET", issuer.address, "/dispatches")[1]["enrolled"] == {"p1": everyone}, timeout=20)

    away.kill()  # down while the dispatch is issued
    start = int(time.time() * 1000)
    envelope = {"envType": "Tell", "msgType": "Dispatch", "msg": {
        "dispatchId": "peak-1", "programId": "p1", "eventType": "curtail", "startTime": start,
        "endTime": start + WINDOW_MS, "curtailmentKw": 2, "message": "Evening peak"}}  # fmt: skip
    assert curl_get(manual.address, envelope, "o2")[0] == 403  # an owner may not issue
    status, answer = curl_get(issuer.address, envelope, issuer.token)
    assert status == 202 and answer["issuer"] == OP and len(answer["signature"]) == 128
    wait_until(lambda: (dispatch_of(issuer, "peak-1") or {}).get("ack_status", {}).get("pending") == ["10", "2"])

    away.start()  # same port and data directory: it pulls what it missed and acts
    shedding = [n for n in nodes if n is not opted]
    wait_until(lambda: all(consumption(n) == 3.0 for n in shedding), timeout=10)
    assert consumption(opted) == 5.0
    ack = {"dispatchId": "peak-1", "modificationNumber": 0, "nodeId": "2", "response": "ack"}
    assert curl_get(manual.address, {"envType": "Tell", "msgType": "Acknowledge", "msg": ack}, "o2")[0] == 202
    everyone_but_3 = [i for i in everyone if i != "3"]
    expected = {"modification_number": 0, "acknowledged": everyone_but_3, "opted_out": ["3"], "pending": []}
    wait_until(lambda: (dispatch_of(issuer, "peak-1") or {}).get("ack_status") == expected, timeout=10)
    wait_until(lambda: issuer.state()["gridnet"] == -(9 * 3 + 5), timeout=10)
    assert any(r["subject"] == "peak-1" for r in audit(away, "dispatch"))

    # The window closes: every node consumes what its meter says again.
    wait_until(lambda: all(consumption(n) == 5.0 for n in nodes), timeout=WINDOW_MS / 1000 + 10)
    assert all(n.state()["gridnet"] == -50.0 for n in (issuer, away))
    assert (dispatch_of(away, "peak-1") or {}).get("phase") == "ended"
    for node in nodes:  # stop all at once; the fixture then only reaps them
        node.signal(signal.SIGTERM)


def grid_cli(*args: str) -> Result:
    """``grid ARGS`` in this process (the commands only speak HTTP to the nodes)."""
    return CliRunner().invoke(app, list(args), terminal_width=200)


def test_forgeries_are_refused_everywhere_and_an_open_ended_dispatch_runs_until_cancelled(
    cluster: Cluster, tmp_path: Path
) -> None:
    specs = [(i, "", ["--config", str(write_config(tmp_path / f"n{i}.toml", "opt_in", issuer=i == "1"))])
             for i in ("1", "2", "3")]  # fmt: skip
    a, b, c = start_all(cluster, specs)
    assert a.link(b)[0] == 202 and b.link(c)[0] == 202
    for node in (a, b, c):
        assert node.tell("UpdateEnergy", {"production": 0, "consumption": 5})[0] == 202
    cluster.agree([a, b, c], gridnet=-15.0, live=3, timeout=20)

    now = int(time.time() * 1000)
    fields = {"dispatch_id": "forged", "program_id": "p1", "event_type": "curtail", "start_time": now,
              "curtailment_kw": 4.0, "issuer": OP}  # fmt: skip
    forged = sign_dispatch(Dispatch.model_validate(fields), WRONG_SEED)
    altered = sign_dispatch(Dispatch.model_validate({**fields, "dispatch_id": "altered"}), SEED)
    altered = altered.model_copy(update={"curtailment_kw": 5.0})
    for node in (a, b, c):  # straight from an operator, and from a "peer"
        status, body = node.tell("Dispatch", forged.to_wire())
        assert (status, body["error"]) == (403, "bad_signature")
        envelope = {"envType": "Tell", "msgType": "DispatchUpdate", "returnId": "99",
                    "msg": DispatchUpdate(dispatches=(altered,)).to_wire()}  # fmt: skip
        status, body = http("POST", node.address, "/messaging", json.dumps(envelope).encode(),
                            {"Content-Type": "application/json"})  # fmt: skip
        assert status == 202 and body["rejected"] == 1
        assert {r["subject"] for r in audit(node, "rejection")} == {"forged", "altered"}
        assert http("GET", node.address, "/dispatches")[1]["dispatches"] == []
        assert "rejected dispatch forged" in node.log_path.read_text()

    issued = grid_cli("dispatch", "issue", a.address, "--program", "p1", "--id", "open-1", "--curtail-kw", "2",
                      "-t", a.token or "")  # fmt: skip
    assert issued.exit_code == 0, issued.output
    wait_until(lambda: all(consumption(n) == 3.0 for n in (a, b, c)), timeout=10)
    assert (dispatch_of(c, "open-1") or {}).get("endTime") is None
    for _ in range(5):  # a few heartbeats later it still binds: it has no end
        time.sleep(0.3)
        assert all(consumption(n) == 3.0 for n in (a, b, c))
    shown = grid_cli("dispatch", "show", a.address, "open-1")
    assert shown.exit_code == 0 and "acknowledged" in shown.output

    cancelled = grid_cli("dispatch", "cancel", c.address, "open-1", "-t", c.token or "")  # node 1 signs it
    assert cancelled.exit_code != 0 and "bad_signature" in cancelled.output  # node 3 holds no operator key
    cancelled = grid_cli("dispatch", "cancel", a.address, "open-1", "-t", a.token or "")
    assert cancelled.exit_code == 0, cancelled.output
    wait_until(lambda: all(consumption(n) == 5.0 for n in (a, b, c)), timeout=10)
    assert (dispatch_of(c, "open-1") or {}).get("phase") == "cancelled"
    listed = grid_cli("dispatch", "list", b.address)
    assert listed.exit_code == 0 and "open-1" in listed.output
