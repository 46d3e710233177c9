"""Convergence against its lower bound, as the grid grows (issue 9).

``python -m bench sweep`` measures, for random graphs of average degree 4:

- in one process on the in-memory transport, N = 4, 16, 64, 256, 1,000: the time
  for one change to reach every node, messages and bytes (msgpack, as peers
  would send them) per change and per burst (every node changing at once);
- real ``python -m grid.app`` processes over HTTP, N = 4, 16, 48: the time for
  one change to reach every node, polled through ``/state``.

Each time stands next to its lower bound, the graph's diameter times the
measured one-hop latency (a change between two linked nodes, same transport,
same push window), and their ratio. In memory, nodes run the default push window and
no heartbeats during the measurement; processes run a 10 s heartbeat (PROCESS_TIMING).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from grid.network import LocalGrid, Watch
from grid.node import NodeConfig
from grid.runtime import freeze_heap, thaw_heap
from grid.transport.memory import MemoryTransport
from nodes.topology import diameter, random_graph
from protocol import codec

from .common import in_fresh_process, median_of
from .core import QUIET

MEMORY_SIZES = (4, 16, 64, 256, 1000)
PROCESS_SIZES = (4, 16, 48)


class MeasuringTransport(MemoryTransport):
    """Keeps what is sent while ``measuring`` is on; encodes it afterwards to count bytes,
    so the encoding does not slow down what is being timed."""

    def __init__(self) -> None:
        super().__init__()
        self.measuring = False
        self.kept: list[Any] = []

    def start(self) -> None:
        self.measuring, self.kept = True, []

    def stop(self) -> tuple[int, int]:
        """Messages and msgpack bytes sent since :meth:`start`."""
        self.measuring = False
        return len(self.kept), sum(len(codec.encode(envelope)) for envelope in self.kept)

    def send(self, address, envelope, on_fail):  # type: ignore[no-untyped-def]
        if self.measuring:
            self.kept.append(envelope)
        super().send(address, envelope, on_fail)


async def memory_grid(n: int, seed: int, burst: bool) -> dict[str, Any]:
    """One change (and optionally a burst) in an n-node in-memory grid."""
    watch, transport = Watch(n), MeasuringTransport()
    grid = LocalGrid(transport, LocalGrid.in_memory().scheduler, observers=[watch])
    edges = random_graph(n, 4, seed)
    try:
        for i in range(n):
            await grid.add(NodeConfig(id=str(i), name=f"n{i}", host=f"node{i}", port=1, gossip=QUIET))
        watch.arm(lambda core: len(core.view) == n)
        for a, b in edges:
            grid.link(str(a), str(b))
        assert await watch.wait(300), f"{n} nodes did not link"
        await asyncio.sleep(0.3)
        freeze_heap()  # the grid is built: full collections skip it (see grid.runtime)
        result = {"diameter": diameter(n, edges)}
        result.update(await _change(grid, watch, transport, n))
        if burst:
            result.update(await _burst(grid, watch, transport, n))
        return result
    finally:
        await grid.close()
        thaw_heap()


async def _change(grid: LocalGrid, watch: Watch, transport: MeasuringTransport, n: int) -> dict[str, float]:
    watch.arm(lambda core: core.view["0"].production_w == 3000, already={"0"})
    transport.start()
    started = time.perf_counter()
    grid.set_energy("0", 3, 0)
    assert await watch.wait(120), "one change did not reach every node"
    elapsed = time.perf_counter() - started
    await asyncio.sleep(0.2)  # let the last pushes land before counting
    messages, size = transport.stop()
    return {"change_s": elapsed, "change_messages": messages, "change_bytes": size}


async def _burst(grid: LocalGrid, watch: Watch, transport: MeasuringTransport, n: int) -> dict[str, float]:
    expected = 3000 + (n - 1) * 1000
    watch.arm(lambda core: core.net_w == expected)
    transport.start()
    started = time.perf_counter()
    for i in range(1, n):
        grid.set_energy(str(i), 1, 0)
    assert await watch.wait(300), "the burst did not converge"
    elapsed = time.perf_counter() - started
    await asyncio.sleep(0.2)
    messages, size = transport.stop()
    return {"burst_s": elapsed, "burst_messages": messages, "burst_bytes": size}


def memory_sweep(sizes: tuple[int, ...], runs: int) -> dict[str, Any]:
    """Every in-memory size, with the one-hop latency measured on two nodes."""
    hop = [in_fresh_process("sweep", 2, s, 0)["change_s"] for s in range(runs)]
    out: dict[str, Any] = {"one_hop_s": median_of(hop)}
    for n in sizes:
        results = [in_fresh_process("sweep", n, seed, 1) for seed in range(runs)]
        out[str(n)] = {key: median_of([r[key] for r in results]) for key in results[0]}
    return out


#: Node timing for the process sweep: a 10 s heartbeat, as large grids want (see
#: GossipConfig). At the default 1 s, 48 processes' own refreshes keep both cores busy.
PROCESS_TIMING = ["--heartbeat", "10", "--ttl", "50", "--sync-interval", "10"]


def process_grid(n: int, seed: int, timing: list[str] | None = None) -> dict[str, float]:
    """One change in an n-process grid over HTTP, polled through /state.

    Every pending process is polled at once (a thread per request), so a
    polling round costs about one request, not one per process.
    """
    import tempfile
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path

    from tests.integration.procs import Cluster, http

    edges = random_graph(n, 4, seed)
    extra = ["--log-level", "WARNING", *(PROCESS_TIMING if timing is None else timing)]
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(max_workers=min(n, 48)) as pool:
        cluster = Cluster(Path(tmp))
        try:
            nodes = [cluster.start(f"n{i}", str(i), "t", extra=extra) for i in range(n)]
            for a, b in edges:
                assert nodes[a].link(nodes[b])[0] == 202
            cluster.agree(nodes, gridnet=0.0, live=n, timeout=120)
            started = time.perf_counter()
            assert nodes[0].tell("UpdateEnergy", {"production": 3, "consumption": 0})[0] == 202

            def seen(i: int) -> bool:
                return http("GET", nodes[i].address, "/state")[1]["gridnet_w"] == 3000

            pending = list(range(1, n))
            while pending and time.perf_counter() - started < 60:
                pending = [i for i, done in zip(pending, pool.map(seen, pending)) if not done]
            elapsed = time.perf_counter() - started
            if pending:
                raise RuntimeError(f"{len(pending)} processes never saw the change")
            return {"diameter": diameter(n, edges), "change_s": elapsed}
        finally:
            cluster.close()


def process_sweep(sizes: tuple[int, ...], runs: int) -> dict[str, Any]:
    hop = [process_grid(2, s)["change_s"] for s in range(runs)]
    out: dict[str, Any] = {"one_hop_s": median_of(hop)}
    for n in sizes:
        results = [process_grid(n, seed) for seed in range(runs)]
        out[str(n)] = {key: median_of([r[key] for r in results]) for key in results[0]}
    # The same largest grid at the default 1 s heartbeat, once, for contrast.
    busy = [process_grid(sizes[-1], 0, timing=[])]
    out["default_timing"] = {"nodes": sizes[-1], **{key: median_of([r[key] for r in busy]) for key in busy[0]}}
    return out


def run(quick: bool = False) -> dict[str, Any]:
    """Both sweeps; ``quick`` keeps the small sizes and one run."""
    runs = 1 if quick else 3
    memory = (4, 16, 64) if quick else MEMORY_SIZES
    processes = (4,) if quick else PROCESS_SIZES
    return {"memory": memory_sweep(memory, runs), "processes": process_sweep(processes, 1 if quick else 2)}


def _fmt_ms(stat: dict[str, float]) -> str:
    if stat.get("runs", 1) == 1:
        return f"{stat['median'] * 1000:.0f} ms (one run)"
    return f"{stat['median'] * 1000:.0f} ms ({stat['min'] * 1000:.0f}-{stat['max'] * 1000:.0f})"


def _row(n: str, f: dict[str, Any], hop_s: float, extra: str) -> str:
    bound = f["diameter"]["median"] * hop_s
    change = f["change_s"]["median"]
    ratio = change / bound if bound else float("nan")
    span = f"{change * 1000:.1f} ({f['change_s']['min'] * 1000:.1f}-{f['change_s']['max'] * 1000:.1f})"
    return f"| {n} | {f['diameter']['median']:.0f} | {span} ms | {bound * 1000:.1f} ms | {ratio:.1f} |{extra}"


def report(f: dict[str, Any]) -> str:
    """The sweep section of docs/benchmarks.md."""
    mem, procs = f["memory"], f["processes"]
    mem_hop, proc_hop = mem["one_hop_s"]["median"], procs["one_hop_s"]["median"]
    mem_rows = []
    for n, g in mem.items():
        if n == "one_hop_s":
            continue
        extra = (f" {g['change_messages']['median']:.0f} / {g['change_bytes']['median'] / 1024:.1f} KiB |"
                 f" {g['burst_s']['median'] * 1000:.0f} ms | {g['burst_messages']['median']:.0f} /"
                 f" {g['burst_bytes']['median'] / 2**20:.1f} MiB |")  # fmt: skip
        mem_rows.append(_row(n, g, mem_hop, extra))
    proc_rows = [_row(n, g, proc_hop, "") for n, g in procs.items() if n not in ("one_hop_s", "default_timing")]
    busy = procs.get("default_timing")
    busy_line = "" if busy is None else (
        f"At the default 1 s heartbeat the same {busy['nodes']} processes took "
        f"{_fmt_ms(busy['change_s'])} for one change to reach all."
    )
    nl = "\n"
    return f"""## Convergence against its lower bound

Command: `python -m bench sweep` (about {f.get('_seconds', 0):.0f} s). Random graphs of average degree 4
(a ring plus chords), default push window (5 ms); one change at one node until
every node has it. The lower bound is the graph's diameter times the one-hop latency measured
on two linked nodes with the same transport ({mem_hop * 1000:.1f} ms in memory,
{proc_hop * 1000:.1f} ms between processes); the ratio is measured / bound. Messages and bytes
count every envelope sent, encoded as msgpack as peers send them. Medians (min-max) of 3 graphs in
memory, 2 with processes.

In one process, in-memory transport:

| nodes | diameter | one change reaches all | lower bound | ratio | messages / bytes per change | burst: all nodes change | messages / bytes per burst |
|---|---|---|---|---|---|---|---|
{nl.join(mem_rows)}

Bytes are counted after each measurement (every message kept, then encoded), so the timings
do not include encoding. The burst here has N - 1 nodes change (node 0 changed just before).

Real `python -m grid.app` processes over HTTP on loopback, with a 10 s heartbeat (TTL 50 s,
digest sync every 10 s), as a grid of this size should run; completion is polled through
`/state` of every pending process at once, which adds up to one polling round. Why not the
default 1 s: all processes share this machine's 2 cores, and each heartbeat is a change that
floods the whole grid. 48 processes make 48 changes a second, each delivered over HTTP to
every process; that traffic keeps both cores busy, and a change then waits in queues behind
it. {busy_line} With the longer heartbeat the ratio still grows with the number of
processes because they time-share 2 cores: a hop costs more than between two processes on
an otherwise idle machine, where the bound's one-hop latency was measured.

| processes | diameter | one change reaches all | lower bound | ratio |
|---|---|---|---|---|
{nl.join(proc_rows)}
"""


if __name__ == "__main__":
    if "--fresh" in sys.argv:  # one in-memory grid, for in_fresh_process: --fresh N SEED BURST
        n, seed, burst = (int(a) for a in sys.argv[sys.argv.index("--fresh") + 1 :][:3])
        print(json.dumps(asyncio.run(memory_grid(n, seed, burst=bool(burst)))))
    else:
        print(json.dumps(run(quick="--quick" in sys.argv), indent=2, default=str))
