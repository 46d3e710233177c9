"""The metering feature in a node on a real loopback port: every ingest path, duplicates,
out-of-order readings, consumption, the read endpoints, bad input, and restarts."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import msgpack
import pytest

from grid.service import NodeService
from nodes.market import manual_offer
from nodes.metering import HOUR_MS

from .inproc import node_config, start_node, stop_node, wait_for

T0 = 1_570_406_400_000  # 2019-10-07T00:00Z
TEN_MIN = 600_000
OWNER, VIEWER = "owner-token-1", "viewer-token-1"
METERING = {"devices": [{"id": "m1", "description": "flat 1", "address": "Str. Baritiu 26", "max_hourly_kwh": 1.0},
                        {"id": "m2", "max_hourly_kwh": 5.0}]}  # fmt: skip
JSON = {"Content-Type": "application/json", "Authorization": "t1"}
MSGPACK = {"Content-Type": "application/msgpack", "Authorization": "t1"}


def reading(i: int, kwh: Any, device: str = "m1") -> dict[str, Any]:
    """The original simulator's JSON for interval ``i`` of the day."""
    return {"timestamp": T0 + i * TEN_MIN, "device_id": device, "measurement_value": kwh}


def envelope(msg: dict[str, Any], **meta: Any) -> bytes:
    return json.dumps({"envType": "Tell", "msgType": "MeterReading", "msg": msg, **meta}).encode()


async def start(data_dir: Path, port: int | None = None) -> NodeService:
    config = node_config("A", "1", token="t1", data_dir=data_dir, port=port,
                         operators=(f"owner:o:{OWNER}", f"viewer:v:{VIEWER}"))  # fmt: skip
    return await start_node(dataclasses.replace(config, features={**config.features, "metering": METERING}))


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[NodeService]:
    service = await start(tmp_path / "data")
    yield service
    await stop_node(service)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(session: aiohttp.ClientSession, node: NodeService, method: str, path: str, body: bytes | None = None,
               headers: dict[str, str] | None = None) -> tuple[int, Any]:  # fmt: skip
    async with session.request(method, f"http://{node.config.address}{path}", data=body, headers=headers) as resp:
        raw = await resp.read()
        return resp.status, json.loads(raw) if resp.content_type == "application/json" else raw


async def batch(session: aiohttp.ClientSession, node: NodeService, items: Any) -> tuple[int, Any]:
    return await call(session, node, "POST", "/meter/readings", json.dumps(items).encode(), JSON)


async def snapshot(session: aiohttp.ClientSession, node: NodeService) -> tuple[Any, ...]:
    """Everything a refused reading could have changed."""
    parts = []
    for path in ("/meter/m1", "/meter/m2", "/meter/m1/hourly?day=2019-10-07", "/meter?day=2019-10-07",
                 "/meter/alerts"):  # fmt: skip
        status, body = await call(session, node, "GET", path)
        assert status == 200, body
        parts.append(body)
    _, state = await call(session, node, "GET", "/state")
    return (*parts, state["consumption"], state["metering"])


async def test_every_shape_is_accepted_and_counted_once(node: NodeService, http: aiohttp.ClientSession) -> None:
    status, body = await call(http, node, "POST", "/messaging", envelope(reading(0, 0.1)), JSON)
    assert (status, body["status"], body["hour_total_kwh"]) == (202, "accepted", 0.1)
    camel = {"timestamp": str(T0 + TEN_MIN), "deviceId": "m1", "measurementValue": "0.2"}
    assert (await call(http, node, "POST", "/messaging", envelope(camel), JSON))[0] == 202
    packed = msgpack.packb({"envType": "Tell", "msgType": "MeterReading", "msg": reading(2, 0.05)})
    assert (await call(http, node, "POST", "/messaging", packed, MSGPACK))[0] == 202
    assert (await batch(http, node, reading(3, 0.01)))[0] == 202  # one bare reading
    status, body = await batch(http, node, [reading(4, 0.02), reading(5, 0.03), reading(0, 0.1), reading(0, 0.1)])
    assert (status, body["accepted"], body["duplicate"]) == (202, 2, 2)
    assert body["last_timestamp"] == {"m1": T0 + 5 * TEN_MIN}
    packed = msgpack.packb([reading(6, 0.004)])
    assert (await call(http, node, "POST", "/meter/readings", packed, MSGPACK))[0] == 202
    status, again = await call(http, node, "POST", "/messaging", envelope(reading(0, 0.1)), JSON)
    assert (status, again["status"]) == (202, "duplicate")
    status, conflict = await call(http, node, "POST", "/messaging", envelope(reading(0, 0.7)), JSON)
    assert (status, conflict["error"]) == (409, "conflicting_reading")
    status, hourly = await call(http, node, "GET", "/meter/m1/hourly?day=2019-10-07")
    assert status == 200
    assert [bar["kwh"] for bar in hourly["hours"][:2]] == [0.41, 0.004]  # 100+200+50+10+20+30 Wh, then 4 Wh
    status, device = await call(http, node, "GET", "/meter/m1")
    assert (device["readings"], device["last_timestamp"]) == (7, T0 + 6 * TEN_MIN)


async def test_out_of_order_readings_land_in_their_hours(node: NodeService, http: aiohttp.ClientSession) -> None:
    items = [reading(i, round(0.001 * (i + 1), 3), "m2") for i in range(144)]
    for start in (96, 48, 0):  # newest day part first, and reversed inside each batch
        assert (await batch(http, node, list(reversed(items[start:start + 48]))))[0] == 202
    status, hourly = await call(http, node, "GET", "/meter/m2/hourly?day=2019-10-07")
    expected = [sum(range(6 * h + 1, 6 * h + 7)) / 1000 for h in range(24)]
    assert (status, [bar["kwh"] for bar in hourly["hours"]]) == (200, expected)
    assert hourly["total_kwh"] == sum(range(1, 145)) / 1000


async def test_consumption_is_the_newest_interval_as_power(node: NodeService, http: aiohttp.ClientSession) -> None:
    energy = {"envType": "Tell", "msgType": "UpdateEnergy", "msg": {"production": 5, "consumption": 1}}
    assert (await call(http, node, "POST", "/messaging", json.dumps(energy).encode(), JSON))[0] == 202
    await batch(http, node, [reading(10, 0.1), reading(11, 0.25), reading(3, 0.1, "m2")])
    _, state = await call(http, node, "GET", "/state")
    # m1's newest interval: 0.25 kWh in 10 min = 1.5 kW; m2's: 0.1 kWh = 0.6 kW.
    assert (state["production"], state["consumption"]) == (5.0, 2.1)
    _, view = await call(http, node, "GET", "/grid")
    (me,) = [row for row in view["nodes"] if row["id"] == "1"]
    assert me["offer"] == [list(seg) for seg in manual_offer(5000, 2100)]  # bids its metered net, as UpdateEnergy does
    await batch(http, node, [reading(2, 0.6)])  # an older interval of m1: not its current power
    _, state = await call(http, node, "GET", "/state")
    assert state["consumption"] == 2.1


BAD = {
    "unknown device": (envelope(reading(0, 0.1, "m9")), "/messaging", 400, "unknown_device"),
    "unknown device in a batch": (json.dumps([reading(0, 0.1), reading(1, 0.1, "m9")]).encode(), "/meter/readings",
                                  400, "unknown_device"),
    "timestamp in seconds": (envelope({**reading(0, 0.1), "timestamp": T0 // 1000}), "/messaging", 400,
                             "bad_timestamp"),
    "timestamp as a date": (envelope({**reading(0, 0.1), "timestamp": "2019-10-07T00:00"}), "/messaging", 400,
                            "invalid_msg"),
    "fractional timestamp": (json.dumps([{**reading(0, 0.1), "timestamp": T0 + 0.5}]).encode(), "/meter/readings",
                             400, "invalid_reading"),
    "boolean timestamp": (json.dumps({**reading(0, 0.1), "timestamp": True}).encode(), "/meter/readings", 400,
                          "invalid_reading"),
    "timestamp in 2200": (json.dumps([reading(0, 0.1), {**reading(1, 0.1), "timestamp": 7_258_118_400_000}]).encode(),
                          "/meter/readings", 400, "bad_timestamp"),
    "negative value": (envelope(reading(0, -0.1)), "/messaging", 400, "invalid_msg"),
    "negative value in a batch": (json.dumps([reading(0, 0.1), reading(1, -1)]).encode(), "/meter/readings", 400,
                                  "invalid_reading"),
    "NaN": (b'{"envType":"Tell","msgType":"MeterReading","msg":{"timestamp":1570406400000,"device_id":"m1",'
            b'"measurement_value":NaN}}', "/messaging", 400, None),
    "NaN in a batch": (b'[{"timestamp":1570406400000,"device_id":"m1","measurement_value":NaN}]', "/meter/readings",
                       400, None),
    "Infinity": (b'{"timestamp":1570406400000,"device_id":"m1","measurement_value":1e999}', "/meter/readings", 400,
                 None),
    "absurd energy": (envelope(reading(0, 5e6)), "/messaging", 400, "bad_value"),
    "value as words": (envelope(reading(0, "lots")), "/messaging", 400, "invalid_msg"),
    "extra field": (envelope({**reading(0, 0.1), "unit": "kWh"}), "/messaging", 400, "invalid_msg"),
    "missing value": (json.dumps([{"timestamp": T0, "device_id": "m1"}]).encode(), "/meter/readings", 400,
                      "invalid_reading"),
    "not JSON": (b"[{\"timestamp\": ", "/meter/readings", 400, "invalid_json"),
    "empty body": (b"", "/meter/readings", 400, "empty_body"),
    "a number, not a reading": (b"42", "/meter/readings", 400, "invalid_reading"),
    # Readings come from the node's own operator or meter, never from another node.
    "asked by a peer": (envelope(reading(0, 0.1), envType="Ask", reqId="r1", returnId="2"), "/messaging", 403, None),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD))
async def test_bad_readings_get_a_4xx_and_change_nothing(case: str, node: NodeService,
                                                        http: aiohttp.ClientSession) -> None:  # fmt: skip
    await batch(http, node, [reading(0, 0.5), reading(1, 0.4)])  # something to keep
    before = await snapshot(http, node)
    body, path, expected, code = BAD[case]
    status, answer = await call(http, node, "POST", path, body, JSON)
    assert status == expected, answer
    assert set(answer) == {"error", "detail"}
    if code is not None:
        assert answer["error"] == code
    assert await snapshot(http, node) == before


async def test_readings_need_the_owner_role(node: NodeService, http: aiohttp.ClientSession) -> None:
    body = json.dumps([reading(0, 0.1)]).encode()
    for token, expected in [(None, 401), ("wrong", 401), (VIEWER, 403), (OWNER, 202)]:
        headers = {"Content-Type": "application/json", **({"Authorization": token} if token else {})}
        status, _ = await call(http, node, "POST", "/meter/readings", body, headers)
        assert status == expected, token
    status, _ = await call(http, node, "POST", "/messaging", envelope(reading(1, 0.1)),
                           {"Content-Type": "application/json", "Authorization": VIEWER})  # fmt: skip
    assert status == 403
    status, _ = await call(http, node, "POST", "/meter/readings", body, {"Content-Type": "text/plain",
                                                                        "Authorization": OWNER})  # fmt: skip
    assert status == 415


async def test_read_endpoints(node: NodeService, http: aiohttp.ClientSession) -> None:
    await batch(http, node, [reading(i, 0.2) for i in range(6)] + [reading(6, 0.333)])  # hour 0: 1.2 kWh > 1.0
    status, hourly = await call(http, node, "GET", "/meter/m1/hourly?day=2019-10-07")
    assert (status, hourly["max_kwh"], hourly["exceeded_hours"], hourly["total_kwh"]) == (200, 1.0, [0], 1.533)
    assert hourly["hours"][0] == {"hour": 0, "kwh": 1.2, "max_kwh": 1.0, "exceeded": True}
    assert len(hourly["hours"]) == 24
    status, local = await call(http, node, "GET", "/meter/m1/hourly?day=2019-10-07&tz=Europe/Bucharest")
    assert [bar["kwh"] for bar in local["hours"][3:5]] == [1.2, 0.333]  # UTC+3 in October
    status, csv = await call(http, node, "GET", "/meter/m1/hourly.csv?day=2019-10-07")
    lines = csv.decode().splitlines()
    assert lines[1:3] == ["hour_start,hour,kwh,max_kwh,exceeded", "2019-10-07T00:00:00+00:00,0,1.2,1.0,true"]
    assert lines[3] == "2019-10-07T01:00:00+00:00,1,0.333,1.0,false" and len(lines) == 26
    status, png = await call(http, node, "GET", "/meter/m1/chart.png?day=2019-10-07")
    assert status == 200 and png[:8] == b"\x89PNG\r\n\x1a\n"
    status, overview = await call(http, node, "GET", "/meter?day=2019-10-07")
    assert [(d["id"], d["day_kwh"], d["exceeded_hours"]) for d in overview["devices"]] == [("m1", 1.533, [0]),
                                                                                          ("m2", 0.0, [])]
    assert overview["node"]["hours_kwh"][:2] == [1.2, 0.333]
    status, alerts = await call(http, node, "GET", "/meter/alerts?device=m1")
    assert [(a["kind"], a["hour_start_ms"], a["delivery"]) for a in alerts["alerts"]] == [
        ("exceeded", T0, "none"), ("warning", T0, "none")]  # fmt: skip
    for path, expected in [("/meter/m9/hourly", 404), ("/meter/m9", 404), ("/meter/m9/hourly.csv", 404),
                           ("/meter/m9/chart.png", 404), ("/meter/m1/hourly?day=07-10-2019", 400),
                           ("/meter/m1/hourly?day=2019-02-30", 400), ("/meter/m1/hourly?tz=Nowhere/Land", 400),
                           ("/meter/alerts?device=m9", 404)]:  # fmt: skip
        status, answer = await call(http, node, "GET", path)
        assert (status, set(answer)) == (expected, {"error", "detail"}), path


async def test_a_restart_rebuilds_everything_from_the_store(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    first = await start(tmp_path / "data")
    port = first.config.port
    day = [reading(i, 0.6 if i % 6 == 5 else 0.1) for i in range(24)]  # each hour's last reading: 1.1 kWh > 1.0
    try:
        await batch(http, first, day[:12])
        before = await snapshot(http, first)
        alerts_before = len(first.events.recent(kinds=frozenset({"alert"})))
    finally:
        await stop_node(first)
    second = await start(tmp_path / "data", port=port)
    try:
        assert await snapshot(http, second) == before
        status, answer = await batch(http, second, day[:12])  # the simulator resending what was stored
        assert (status, answer["accepted"], answer["duplicate"], answer["alerts"]) == (202, 0, 12, 0)
        status, answer = await batch(http, second, day[12:])
        assert (status, answer["accepted"]) == (202, 12)
        alerts = (await call(http, second, "GET", "/meter/alerts"))[1]["alerts"]
        keys = [(a["kind"], a["hour_start_ms"]) for a in alerts]
        assert len(keys) == len(set(keys))
        assert {start for kind, start in keys if kind == "exceeded"} == {T0, T0 + HOUR_MS, T0 + 2 * HOUR_MS,
                                                                           T0 + 3 * HOUR_MS}  # fmt: skip
        new = second.events.recent(kinds=frozenset({"alert"}))
        assert {e.data["hour_start_ms"] for e in new} == {T0 + 2 * HOUR_MS, T0 + 3 * HOUR_MS}  # only the new hours
        assert alerts_before >= 2
    finally:
        await stop_node(second)


async def test_a_batch_reaches_the_siblings_at_once(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    """Gossip timers are slowed to a crawl here: only the push after the batch can carry it."""
    a = await start(tmp_path / "a")
    b = await start_node(node_config("B", "2", token="t2"))
    try:
        link = {"envType": "Tell", "msgType": "AddSibling",
                "msg": {"siblingName": "B", "siblingAddress": b.config.address, "siblingId": "2"}}  # fmt: skip
        assert (await call(http, a, "POST", "/messaging", json.dumps(link).encode(), JSON))[0] == 202

        async def b_sees_a(consumption: float) -> bool:
            _, view = await call(http, b, "GET", "/grid")
            return any(row["id"] == "1" and row["consumption"] == consumption for row in view["nodes"])

        assert await wait_for(lambda: b_sees_a(0.0))
        assert (await batch(http, a, [reading(0, 0.5)]))[0] == 202
        assert await wait_for(lambda: b_sees_a(3.0), timeout=5.0)  # 0.5 kWh in 10 min = 3 kW
    finally:
        await stop_node(b)
        await stop_node(a)
