"""GET /metrics of in-process nodes over real HTTP, the gossip-lag gauge, and the JSON log formatter.

Gossip timers are slowed to a crawl (``inproc.SLOW``), so messages flow only
when a test makes them: counts are exact where the protocol fixes them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from collections import Counter
from pathlib import Path
from typing import AsyncIterator

import aiohttp
import pytest

from grid.logs import JsonFormatter
from grid.metrics import families
from grid.metrics.values import gossip_lag_s
from grid.security import Secret
from grid.service import NodeService
from grid.transport.memory import MemoryTransport
from protocol.entry import Entry
from protocol.gossip import GossipConfig, GossipCore
from protocol.messages import UpdateNet

from ..integration.test_metrics import Samples, metric_samples, value
from .inproc import node_config, operator, post, query, start_node, stop_node, wait_for


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def scrape(session: aiohttp.ClientSession, node: NodeService, token: str | None = None) -> Samples:
    headers = {"Authorization": token} if token else {}
    async with session.get(f"http://{node.config.address}/metrics", headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return metric_samples(await resp.text())


def link(a: NodeService, b: NodeService) -> tuple[bytes, dict[str, str]]:
    return operator("AddSibling", {"siblingName": b.config.name, "siblingAddress": b.config.address,
                                   "siblingId": b.config.id}, a.config.token)  # fmt: skip


async def test_counters_move_per_node_when_messages_flow_over_http(session) -> None:
    a = await start_node(node_config("A", "1", token="ta"))
    b = await start_node(node_config("B", "2", token="tb"))
    try:
        assert (await post(session, a.config.address, *link(a, b)))[0] == 202
        energy = operator("UpdateEnergy", {"production": 3, "consumption": 1}, "ta")
        assert (await post(session, a.config.address, *energy))[0] == 202
        await wait_for(lambda: _gridnet(b, 2000))
        before_a, before_b = await scrape(session, a, "ta"), await scrape(session, b)

        sent = lambda s, t: value(s, "grid_messages_sent_total", msg_type=t)  # noqa: E731
        got = lambda s, t: value(s, "grid_messages_received_total", msg_type=t, transport="http")  # noqa: E731
        assert (got(before_a, "UpdateEnergy"), got(before_a, "AddSibling"), sent(before_a, "AddSibling")) == (1, 1, 1)
        assert (got(before_b, "UpdateEnergy"), got(before_b, "AddSibling")) == (0, 1)
        assert sent(before_a, "UpdateNet") >= 1 and got(before_b, "UpdateNet") >= 1
        assert value(before_b, "grid_net_watts") == 2000 and value(before_b, "grid_node_net_watts") == 0
        assert value(before_a, "grid_node_production_watts") == 3000 and value(before_a, "grid_siblings") == 1
        assert (value(before_b, "grid_nodes", status="live"), value(before_b, "grid_nodes", status="stale")) == (2, 0)
        assert value(before_b, "grid_requests_in_flight") == 0 and value(before_b, "grid_requests_in_flight_limit") > 0
        assert value(before_b, "process_resident_memory_bytes") > 0

        energy = operator("UpdateEnergy", {"production": 5, "consumption": 1}, "ta")
        assert (await post(session, a.config.address, *energy))[0] == 202
        await wait_for(lambda: _gridnet(b, 4000))
        after_a, after_b = await scrape(session, a), await scrape(session, b)
        assert got(after_a, "UpdateEnergy") == 2 and sent(after_a, "UpdateNet") > sent(before_a, "UpdateNet")
        assert got(after_b, "UpdateNet") > got(before_b, "UpdateNet") and value(after_b, "grid_net_watts") == 4000
    finally:
        await stop_node(a)
        await stop_node(b)


async def _gridnet(node: NodeService, watts: int) -> bool:
    return (await query(node))["gridnet_w"] == watts


async def test_refusals_are_counted_by_reason_wherever_they_happen(session) -> None:
    node = await start_node(node_config("A", "1", token="t1"), MemoryTransport())
    address, codes = node.config.address, []
    energy = {"production": 1, "consumption": 0}
    self_link = {"siblingName": "A", "siblingAddress": address, "siblingId": "1"}
    requests = [
        operator("UpdateEnergy", energy, "wrong"),  # 401 in the HTTP layer
        operator("UpdateEnergy", energy),  # 401, no token
        (b'{"envType": "Tell", "msgType": "Nope", "msg": {}}', {"Content-Type": "application/json"}),  # 400
        (b"{", {"Content-Type": "application/json"}),  # 400, not JSON
        (b"{}", {"Content-Type": "text/csv"}),  # 415
        (b"x" * 70_000, {"Content-Type": "application/json"}),  # 413
        operator("AddSibling", self_link, "t1"),  # 409 from the node actor
    ]
    try:
        for body, headers in requests:
            status, answer, _ = await post(session, address, body, headers)
            assert 400 <= status < 500
            codes.append(answer["error"])
        async with session.delete(f"http://{address}/messaging") as resp:  # 405 from aiohttp's router
            codes.append((await resp.json())["error"])
        samples = await scrape(session, node)
    finally:
        await stop_node(node)
    rejected = {labels: n for (name, labels), n in samples.items() if name == "grid_requests_rejected_total"}
    counted = {dict(labels)["reason"]: n for labels, n in rejected.items()}
    assert counted == Counter(codes) and len(counted) >= 6
    assert {"wrong_token", "missing_token", "self_link"} <= set(counted)


async def test_metrics_are_as_private_as_state(session) -> None:
    config = dataclasses.replace(node_config("A", "1", token="t1"), private_reads=True)
    node = await start_node(config, MemoryTransport())
    try:
        async with session.get(f"http://{node.config.address}/metrics") as resp:
            assert resp.status == 401 and (await resp.json())["error"] == "missing_token"
        samples = await scrape(session, node, "Bearer t1")
        assert value(samples, "grid_requests_rejected_total", reason="missing_token") == 1
    finally:
        await stop_node(node)


async def test_in_memory_deliveries_are_counted_at_the_receiver(session) -> None:
    transport = MemoryTransport()
    a = await start_node(node_config("A", "1"), transport)
    b = await start_node(node_config("B", "2"), transport)
    try:
        assert (await post(session, a.config.address, *link(a, b)))[0] == 202
        await wait_for(lambda: _live(b, 2))
        samples = await scrape(session, b)
        assert value(samples, "grid_messages_received_total", msg_type="UpdateNet", transport="memory") >= 1
        assert value(samples, "grid_messages_received_total", msg_type="AddSibling", transport="memory") == 1
        assert value(samples, "grid_messages_received_total", msg_type="AddSibling", transport="http") == 0
        a_samples = await scrape(session, a)
        assert value(a_samples, "grid_messages_sent_total", msg_type="AddSibling") == 1
        assert value(a_samples, "grid_messages_received_total", msg_type="AddSibling", transport="http") == 1
    finally:
        await stop_node(a)
        await stop_node(b)


async def _live(node: NodeService, count: int) -> bool:
    return (await query(node))["nodes_live"] == count


def _entry(origin: str) -> Entry:
    return Entry(origin=origin, incarnation=1, version=1, name=origin, address=f"{origin}:1")


def test_gossip_lag_is_the_age_of_the_oldest_live_entry() -> None:
    core = GossipCore(_entry("A"), 0.0, GossipConfig(heartbeat_s=1.0, ttl_s=5.0))
    assert gossip_lag_s(core, 3.0) == 0.0  # alone: its own entry does not count
    core.receive_update("B", UpdateNet(entries=(_entry("B"), _entry("C")), ages_ms=(300, 1200)), 10.0)
    assert gossip_lag_s(core, 10.5) == pytest.approx(1.7)  # C was refreshed 1.2 s before it arrived
    core.expire(13.9)  # C is 5.1 s old: stale, and no longer counted
    assert "C" in core.stale and gossip_lag_s(core, 13.9) == pytest.approx(4.2)


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord("grid.node", logging.WARNING, __file__, 1, "A: %s is stale", ("B",), None)
    record.__dict__.update(extra)
    return record


def test_json_lines_carry_extra_fields_and_never_secrets() -> None:
    formatter = JsonFormatter({"node": "A"})
    line = formatter.format(_record(peer="B", token="t-123", grid_key="k1:s3cret", body={"password": "p"},
                                    label=Secret("hidden")))  # fmt: skip
    assert "\n" not in line and "t-123" not in line and "s3cret" not in line and "hidden" not in line
    data = json.loads(line)
    assert data["message"] == "A: B is stale" and (data["level"], data["logger"]) == ("WARNING", "grid.node")
    assert data["time"].endswith("+00:00") and data["node"] == "A" and data["peer"] == "B"
    assert (data["token"], data["grid_key"], data["body"], data["label"]) == ("***", "***", {"password": "***"}, "***")


def test_json_lines_hold_exceptions_on_one_line() -> None:
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        record = logging.LogRecord("grid", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    line = JsonFormatter().format(record)
    assert "\n" not in line and "ValueError: boom" in json.loads(line)["exception"]



def test_every_metric_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "observability.md").read_text()
    suffix = {"counter": "_total", "info": "_info"}
    names = {family.name + suffix.get(family.type, "") for family in families.build({}, {}, None)}
    assert len(names) > 15 and {name for name in names if f"`{name}`" not in doc} == set()
