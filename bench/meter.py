"""Meter readings one node ingests durably per second, over HTTP, into a real node process.

A reading counts once the node has answered 202, which it does only after the
reading is committed to its SQLite store. Two ways in:

- batched: lists of readings (the original JSON shape) on ``POST /meter/readings``,
  a few requests in flight (how the simulator catches up, and how a gateway
  of many meters would send);
- single: one ``MeterReading`` envelope per ``POST /messaging`` (the protocol
  path; one transaction per reading).

Afterwards the node is killed with SIGKILL and restarted on the same data
directory, and must report every acknowledged reading: durable, not just fast.
``python -m bench.meter`` prints the figures and returns them as a dict.
"""

from __future__ import annotations

import asyncio
import json
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from .common import free_port, machine, start_process, stop_process, wait_http

T0 = 1_570_406_400_000  # 2019-10-07T00:00Z
MINUTE_MS = 60_000


def reading(device: str, i: int) -> dict[str, Any]:
    """The ``i``-th reading of a device, one minute apart, 1..50 Wh."""
    return {"timestamp": T0 + i * MINUTE_MS, "device_id": device, "measurement_value": (i % 50 + 1) / 1000}


async def _drain(session: aiohttp.ClientSession, url: str, bodies: list[bytes], headers: dict[str, str],
                 connections: int) -> int:  # fmt: skip
    """POST every body with ``connections`` requests in flight; returns readings accepted."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    accepted = 0

    async def worker() -> None:
        nonlocal accepted
        while not queue.empty():
            body = queue.get_nowait()
            async with session.post(url, data=body, headers=headers) as resp:
                answer = await resp.json()
                if resp.status != 202:
                    raise RuntimeError(f"HTTP {resp.status}: {answer}")
                accepted += answer.get("accepted", 1 if answer.get("status") == "accepted" else 0)

    await asyncio.gather(*(worker() for _ in range(connections)))
    return accepted


async def _measure(address: str, total: int, batch: int, singles: int, connections: int) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", "Authorization": "bench"}
    batched = [json.dumps([reading("bench-1", i) for i in range(start, min(total, start + batch))]).encode()
               for start in range(0, total, batch)]  # fmt: skip
    single = [json.dumps({"envType": "Tell", "msgType": "MeterReading", "msg": reading("bench-2", i)}).encode()
              for i in range(singles)]  # fmt: skip
    connector = aiohttp.TCPConnector(limit=16)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        started = time.perf_counter()
        got = await _drain(session, f"http://{address}/meter/readings", batched, headers, connections)
        batched_s = time.perf_counter() - started
        started = time.perf_counter()
        got_single = await _drain(session, f"http://{address}/messaging", single, headers, connections * 2)
        single_s = time.perf_counter() - started
    if (got, got_single) != (total, singles):
        raise RuntimeError(f"accepted {got}/{total} batched and {got_single}/{singles} single readings")
    return {
        "batched_readings_per_s": round(total / batched_s),
        "batched_seconds": round(batched_s, 3),
        "single_readings_per_s": round(singles / single_s),
        "single_seconds": round(single_s, 3),
    }


def _count(address: str, device: str) -> int:
    import urllib.request

    with urllib.request.urlopen(f"http://{address}/meter/{device}", timeout=5) as resp:
        return json.loads(resp.read())["readings"]


def run(quick: bool = False, total: int = 40_000, batch: int = 250, singles: int = 2_000,
        connections: int = 4) -> dict[str, Any]:  # fmt: skip
    """Measure batched and single ingest, then check every reading survived SIGKILL."""
    if quick:
        total, singles = 5_000, 500
    with tempfile.TemporaryDirectory(prefix="bench-meter-") as tmp:
        port = free_port()
        address = f"127.0.0.1:{port}"
        argv = ["-m", "grid.app", "-p", str(port), "-n", "bench", "-i", "bench", "-t", "bench",
                "--data-dir", str(Path(tmp) / "data"), "--device", "bench-1:1000", "--device", "bench-2:1000",
                "--log-level", "WARNING"]  # fmt: skip
        proc = start_process(argv)
        try:
            wait_http(f"http://{address}/healthz")
            figures = asyncio.run(_measure(address, total, batch, singles, connections))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            proc = start_process(argv)
            wait_http(f"http://{address}/healthz", timeout=60)
            stored = (_count(address, "bench-1"), _count(address, "bench-2"))
        finally:
            stop_process(proc)
    if stored != (total, singles):
        raise RuntimeError(f"after SIGKILL the node has {stored} readings, expected {(total, singles)}")
    return {"readings": total, "batch": batch, "connections": connections, "singles": singles,
            **figures, "survived_sigkill": True, "machine": machine()}  # fmt: skip


def report(f: dict[str, Any]) -> str:
    """The metering section of docs/benchmarks.md."""
    return f"""## Metering

Command: `python -m bench meter` (about {f.get('_seconds', 0):.0f} s). One real node process with two devices;
a reading counts once the node answered 202, which it does after the SQLite commit.

| what | goal | measured |
|---|---|---|
| readings/s ingested durably, batches of {f['batch']} on `POST /meter/readings`, {f['connections']} in flight | >= 2,000 | {f['batched_readings_per_s']:,} |
| readings/s ingested durably, one `MeterReading` envelope per request | | {f['single_readings_per_s']:,} |
| every acknowledged reading present after kill -9 and restart | all | {'all' if f['survived_sigkill'] else 'NOT ALL'} ({f['readings']:,} + {f['singles']:,}) |
"""


def main() -> dict[str, Any]:
    """Run and print the figures."""
    figures = run()
    print(f"batched: {figures['batched_readings_per_s']:,} readings/s durable "
          f"({figures['readings']:,} readings in batches of {figures['batch']}, {figures['connections']} in flight)")
    print(f"single:  {figures['single_readings_per_s']:,} readings/s durable (one MeterReading envelope per request)")
    print("all acknowledged readings present after kill -9 and restart")
    return figures


if __name__ == "__main__":
    main()
