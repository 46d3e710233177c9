"""Smart metering with real processes: the simulator replays a day into a node that is
killed midway; alerts reach a real webhook receiver once per device-hour; bad readings
get a 4xx and are not stored."""

from __future__ import annotations

import asyncio
import csv
import json
import subprocess
import sys
import threading
from collections import Counter
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import pytest
from aiohttp import web

from grid.cli.meter import sample_text
from nodes.metering import (
    HOUR_MS,
    Device,
    MeterLedger,
    Reading,
    format_reading_rows,
    generate_sample_readings,
    hour_start,
)

from .procs import HOST, ROOT, Cluster, NodeProc, free_port, http, wait_until

DEVICE, MAX_KWH = "meter-1", 2.0
DAY = date(2019, 10, 12)  # a Saturday of the sample week: noon oven, cooking evening, late dishwasher
JSON = {"Content-Type": "application/json", "Authorization": "t1"}


def day_rows(day: date = DAY) -> list[Reading]:
    """The sample's rows of one UTC day, relabelled to this test's device."""
    return [Reading(r.timestamp_ms, DEVICE, r.wh) for r in generate_sample_readings()
            if datetime.fromtimestamp(r.timestamp_ms / 1000, timezone.utc).date() == day]  # fmt: skip


def direct_hourly_sum(csv_text: str, day: date) -> list[float]:
    """kWh per UTC hour of ``day`` summed straight from the CSV text, in Decimal."""
    sums = [Decimal(0)] * 24
    for row in csv.DictReader(line for line in csv_text.splitlines() if not line.startswith("#")):
        moment = datetime.fromtimestamp(int(row["timestamp"]) / 1000, timezone.utc)
        if moment.date() == day:
            sums[moment.hour] += Decimal(row["measurement_value"])
    return [float(value) for value in sums]


def stored(node: NodeProc) -> dict[str, Any]:
    status, body = http("GET", node.address, f"/meter/{DEVICE}")
    assert status == 200, body
    return body


def simulate(csv_path: Path, node: NodeProc, *options: str) -> subprocess.Popen[str]:
    """``grid meter simulate`` as its own process."""
    argv = [sys.executable, "-c", "import sys; from grid.cli import main; sys.argv[0] = 'grid'; main()",
            "meter", "simulate", "--csv", str(csv_path), "--device", DEVICE, "--node", node.address,
            "-t", "t1", "--give-up", "60", *options]  # fmt: skip
    return subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_the_simulator_survives_a_node_killed_midway(cluster: Cluster, tmp_path: Path) -> None:
    text = format_reading_rows(day_rows())
    path = tmp_path / "day.csv"
    path.write_text(text)
    node = cluster.start("M", "1", "t1", persist=True, extra=["--device", f"{DEVICE}:{MAX_KWH}"])
    sim = simulate(path, node, "--speed", "12000")  # 10 minutes in 50 ms: a day in about 7 s
    try:
        wait_until(lambda: stored(node)["readings"] >= 40, timeout=30)
        node.kill()  # SIGKILL: no goodbye, whatever was in flight is lost
        node.start()  # same port, same --data-dir
        out, _ = sim.communicate(timeout=90)
    finally:
        if sim.poll() is None:
            sim.kill()
            sim.wait(timeout=10)
    assert sim.returncode == 0, out
    assert "done: " in out and " 0 failed attempts" not in out, out  # the kill was felt
    assert stored(node)["readings"] == 144
    status, hourly = http("GET", node.address, f"/meter/{DEVICE}/hourly?day={DAY.isoformat()}")
    assert status == 200
    assert [bar["kwh"] for bar in hourly["hours"]] == direct_hourly_sum(text, DAY)
    status, csv_body = http("GET", node.address, f"/meter/{DEVICE}/hourly.csv?day={DAY.isoformat()}")
    rows = [line.split(",") for line in csv_body.decode().splitlines()[2:]]
    assert [Decimal(row[2]) for row in rows] == [Decimal(str(v)) for v in direct_hourly_sum(text, DAY)]


class Receiver:
    """A webhook receiver: an aiohttp server on its own loop in a thread."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}/hook"
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests.append({"body": await request.json(), "key": request.headers.get("X-Grid-Delivery")})
        return web.json_response({}, status=self.status)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(web.TCPSite(self._runner, HOST, self.port).start())
        self._ready.set()
        self._loop.run_forever()

    def start(self) -> "Receiver":
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    recv = Receiver().start()
    yield recv
    recv.stop()


def expected_alerts(readings: list[Reading]) -> set[tuple[str, int, int]]:
    """(kind, hour, at_ms) of every alert: exceeded from a plain running sum, warnings from the ledger."""
    running: Counter[int] = Counter()
    exceeded = {}
    for r in readings:
        hour = hour_start(r.timestamp_ms)
        running[hour] += r.wh
        if running[hour] > MAX_KWH * 1000 and hour not in exceeded:
            exceeded[hour] = r.timestamp_ms
    ledger = MeterLedger([Device(DEVICE, "", "", MAX_KWH)])
    warnings = {(a.kind, a.hour_start_ms, a.at_ms) for r in readings for a in ledger.ingest(r).alerts
                if a.kind == "warning"}  # fmt: skip
    assert exceeded and warnings  # the sample day has both
    return {("exceeded", hour, at) for hour, at in exceeded.items()} | warnings


def post_batches(node: NodeProc, readings: list[Reading], size: int = 36) -> list[dict[str, Any]]:
    answers = []
    for start in range(0, len(readings), size):
        body = json.dumps([r.to_wire() for r in readings[start:start + size]]).encode()
        status, answer = http("POST", node.address, "/meter/readings", body, JSON)
        assert status == 202, answer
        answers.append(answer)
    return answers


def test_alerts_reach_a_webhook_once_per_device_hour(cluster: Cluster, tmp_path: Path, receiver: Receiver) -> None:
    config = tmp_path / "node.toml"
    config.write_text(f'[metering]\ndevices = [{{id = "{DEVICE}", max_hourly_kwh = {MAX_KWH}}}]\n'
                      f'[metering.webhook]\nurl = "{receiver.url}"\nretries = 2\nbackoff_s = 0.05\n')  # fmt: skip
    node = cluster.start("M", "1", "t1", persist=True, extra=["--config", str(config)])
    readings = day_rows()
    expected = expected_alerts(readings)
    post_batches(node, readings)

    def all_delivered() -> list[dict[str, Any]] | None:
        alerts = http("GET", node.address, "/meter/alerts")[1]["alerts"]
        return alerts if len(alerts) == len(expected) and all(a["delivery"] == "delivered" for a in alerts) else None

    wait_until(all_delivered, timeout=20)
    got = [(r["body"]["alert"], r["body"]["hour_start_ms"], r["body"]["at_ms"]) for r in receiver.requests]
    assert sorted(got) == sorted(expected)  # each once, raised at the reading that crossed the line
    assert all(r["body"]["device_id"] == DEVICE and r["body"]["kind"] == "meter_alert" for r in receiver.requests)
    assert len({r["key"] for r in receiver.requests}) == len(expected)

    # Redelivered readings, before and after a kill -9, raise nothing again.
    assert sum(a["alerts"] for a in post_batches(node, readings)) == 0
    node.kill()
    node.start()
    assert sum(a["alerts"] + a["accepted"] for a in post_batches(node, readings)) == 0
    assert len(receiver.requests) == len(expected)

    # A receiver that fails: retried, then shown as failed.
    receiver.status = 500
    before = len(receiver.requests)
    late = [Reading(hour_start(readings[-1].timestamp_ms) + HOUR_MS + i * 600_000, DEVICE, 700) for i in range(3)]
    post_batches(node, late)  # 2.1 kWh in the next day's first hour: exceeded at the third reading

    def failed() -> dict[str, Any] | None:
        body = http("GET", node.address, "/meter/alerts")[1]
        return body if [a["delivery"] for a in body["alerts"][:2]] == ["failed", "failed"] else None

    body = wait_until(failed, timeout=20)
    kinds = [(a["kind"], a["at_ms"], a["attempts"], a["last_error"]) for a in body["alerts"][:2]]
    assert kinds == [("exceeded", late[2].timestamp_ms, 3, "HTTP 500"),
                     ("warning", late[1].timestamp_ms, 3, "HTTP 500")]
    assert len(receiver.requests) - before == 6  # two alerts, three attempts each
    assert body["webhook"]["failed"] == 2 and body["webhook"]["deliveries"][0]["status"] == "failed"


BAD_READINGS = [
    ("/meter/readings", {"timestamp": 1570838400000, "device_id": "meter-9", "measurement_value": 0.1},
     "unknown_device"),
    ("/messaging", {"timestamp": 1570838400000, "device_id": "meter-9", "measurement_value": 0.1}, "unknown_device"),
    ("/meter/readings", {"timestamp": "12 Oct 2019", "device_id": DEVICE, "measurement_value": 0.1}, "invalid_reading"),
    ("/meter/readings", {"timestamp": 1570838400, "device_id": DEVICE, "measurement_value": 0.1}, "bad_timestamp"),
    ("/messaging", {"timestamp": 1570838400000.5, "device_id": DEVICE, "measurement_value": 0.1}, "invalid_msg"),
    ("/meter/readings", {"timestamp": 1570838400000, "device_id": DEVICE, "measurement_value": -0.1},
     "invalid_reading"),
    ("/messaging", {"timestamp": 1570838400000, "device_id": DEVICE, "measurement_value": -0.1}, "invalid_msg"),
    ("/meter/readings", {"timestamp": 1570838400000, "device_id": DEVICE, "measurement_value": "NaN"},
     "invalid_reading"),
]  # fmt: skip


def test_bad_readings_get_a_4xx_and_are_not_stored(cluster: Cluster) -> None:
    node = cluster.start("M", "1", "t1", persist=True, extra=["--device", f"{DEVICE}:{MAX_KWH}"])
    post_batches(node, day_rows()[:6])
    before = (stored(node), http("GET", node.address, f"/meter/{DEVICE}/hourly?day={DAY.isoformat()}")[1])
    cases = [(path, item, code) for path, item, code in BAD_READINGS]
    nan = b'{"timestamp": 1570838400000, "device_id": "meter-1", "measurement_value": NaN}'
    for path, item, code in cases:
        msg = {"envType": "Tell", "msgType": "MeterReading", "msg": item} if path == "/messaging" else [item]
        status, answer = http("POST", node.address, path, json.dumps(msg).encode(), JSON)
        assert (status, answer["error"]) == (400, code), (path, item, answer)
    status, answer = http("POST", node.address, "/meter/readings", nan, JSON)
    assert status == 400 and set(answer) == {"error", "detail"}
    after = (stored(node), http("GET", node.address, f"/meter/{DEVICE}/hourly?day={DAY.isoformat()}")[1])
    assert after == before
    node.kill()  # and nothing refused shows up after a restart either
    node.start()
    assert (stored(node), http("GET", node.address, f"/meter/{DEVICE}/hourly?day={DAY.isoformat()}")[1]) == before


def test_the_shipped_sample_is_what_the_simulator_sends_by_default() -> None:
    assert format_reading_rows(generate_sample_readings()).split("\n")[-3:] == sample_text().split("\n")[-3:]
