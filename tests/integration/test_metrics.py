"""GET /metrics and --log-format json of real node processes on loopback.

The exposition must parse with Prometheus' own text parser, its counters must
move when messages flow, refusals must be counted by reason, and a JSON log
must hold nothing but JSON lines (and never the operator's token).
"""

from __future__ import annotations

import json
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from .procs import Cluster, http, wait_until

#: (metric sample name, sorted label pairs) -> value
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def metric_samples(text: str) -> Samples:
    """Every sample of a Prometheus text exposition (raises on anything the parser refuses)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, metric: str, /, **labels: str) -> float:
    """One sample's value; 0 when the series does not exist (yet)."""
    return samples.get((metric, tuple(sorted(labels.items()))), 0.0)


def scrape(address: str) -> Samples:
    status, body = http("GET", address, "/metrics")
    assert status == 200 and isinstance(body, bytes), body
    return metric_samples(body.decode())


def received(samples: Samples, msg_type: str) -> float:
    return value(samples, "grid_messages_received_total", msg_type=msg_type, transport="http")


def test_metrics_of_real_processes_parse_and_move_when_messages_flow(cluster: Cluster) -> None:
    a, b = cluster.start("A", "1", "ta"), cluster.start("B", "2", "tb")
    assert a.link(b)[0] == 202
    assert a.tell("UpdateEnergy", {"production": 3, "consumption": 1})[0] == 202
    cluster.agree([a, b], gridnet=2.0, live=2)

    first_a, first_b = scrape(a.address), scrape(b.address)
    assert received(first_a, "UpdateEnergy") == 1 and received(first_a, "AddSibling") == 1
    assert received(first_b, "UpdateEnergy") == 0  # each node has its own registry
    assert received(first_b, "AddSibling") == 1  # A's Ask of the handshake
    assert value(first_a, "grid_messages_sent_total", msg_type="AddSibling") == 1
    assert value(first_a, "grid_messages_sent_total", msg_type="UpdateNet") >= 1
    assert received(first_b, "UpdateNet") >= 1
    assert value(first_b, "grid_net_watts") == 2000 and value(first_b, "grid_nodes", status="live") == 2
    assert value(first_b, "grid_view_digest_agreement_ratio") <= 1.0
    assert value(first_b, "grid_node_info", id="2", name="B", kind="manual", address=b.address) == 1

    assert a.tell("UpdateEnergy", {"production": 3, "consumption": 1}, token="wrong")[0] == 401
    assert b.tell("UpdateEnergy", {"production": 1, "consumption": 0})[0] == 202
    cluster.agree([a, b], gridnet=3.0, live=2)
    later_a = scrape(a.address)
    assert value(later_a, "grid_requests_rejected_total", reason="wrong_token") == 1
    assert value(later_a, "grid_net_watts") == 3000
    # B's new reading (and the heartbeats meanwhile) arrived at A: its counter moved.
    assert received(later_a, "UpdateNet") > received(first_a, "UpdateNet")
    assert value(later_a, "grid_messages_sent_total", msg_type="UpdateNet") >= value(
        first_a, "grid_messages_sent_total", msg_type="UpdateNet"
    )


def test_json_log_format_writes_only_json_lines_without_the_token(cluster: Cluster) -> None:
    token = "operator-token-7f3a9c"
    a = cluster.start("A", "1", token, extra=["--log-format", "json"])
    assert a.tell("UpdateEnergy", {"production": 4, "consumption": 1})[0] == 202
    assert a.tell("UpdateEnergy", {"production": 4, "consumption": 1}, token="not-" + token)[0] == 401
    wait_until(lambda: "production 4.000 kW" in a.log_path.read_text())
    assert a.stop() == 0
    text = a.log_path.read_text()
    assert token not in text
    lines: list[dict[str, Any]] = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert all(line["node"] == "A" and line["node_id"] == "1" for line in lines)
    change = next(line for line in lines if "production 4.000 kW" in line["message"])
    assert (change["level"], change["logger"]) == ("INFO", "grid.node")
    assert any(line["message"].startswith("stopping A") for line in lines)
