"""Helpers shared by the benchmarks: processes, ports, statistics, machine facts."""

from __future__ import annotations

import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_process(args: list[str]) -> subprocess.Popen[bytes]:
    """``python ARGS`` from the project root, output discarded."""
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 10 s; always reaped."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def wait_http(url: str, timeout: float = 20.0, expect_status: int = 200) -> None:
    """Wait until ``url`` answers with ``expect_status``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == expect_status:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code == expect_status:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def fmt_stat(stat: dict[str, float], scale: float = 1.0, digits: int = 2) -> str:
    """``median (min-max)`` of a measurement (just the median when it was measured once)."""
    if stat.get("runs", 1) == 1:
        return f"{stat['median'] * scale:.{digits}f}"
    return f"{stat['median'] * scale:.{digits}f} ({stat['min'] * scale:.{digits}f}-{stat['max'] * scale:.{digits}f})"


def median_of(values: list[float]) -> dict[str, float]:
    """Median, min and max of repeated measurements."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": len(values)}


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_gib, 1), "python": platform.python_version(),
            "system": f"{platform.system()} {platform.release()}"}  # fmt: skip


def in_fresh_process(module: str, *args: object, timeout: float = 900) -> Any:
    """Run ``python -m bench.MODULE --fresh ARGS`` and return the JSON it prints.

    For measurements that must not inherit another run's heap: a process that
    already built large grids reuses the memory they freed, which slows later
    grids down and hides their memory use.
    """
    argv = [sys.executable, "-m", f"bench.{module}", "--fresh", *map(str, args)]
    out = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=timeout, check=True).stdout
    return json.loads(out)
