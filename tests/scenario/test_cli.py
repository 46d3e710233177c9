"""``grid scenario``: exit codes, named failures, the all-problems error, results files, Ctrl-C."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from grid.cli import app

from ..integration.procs import HOST, http, wait_until

ROOT = Path(__file__).resolve().parents[2]
GRID = Path(sys.executable).parent / "grid"

TWO_NODES = """# A -- B
[scenario]
name = "pair"
[clock]
duration = "1.5s"
[defaults]
heartbeat = "0.2s"
ttl = "1s"
[[nodes]]
name = "A"
params = { production_kw = 3 }
[[nodes]]
name = "B"
params = { consumption_kw = 1 }
[links]
pairs = [["A", "B"]]
[[expect]]
check = "gridnet"
equals_kw = 2
[[expect]]
name = "deliberately wrong"
check = "gridnet"
equals_kw = 99
"""


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_failing_expectation_exits_1_and_is_named(tmp_path: Path) -> None:
    scenario = write(tmp_path, TWO_NODES)
    out_json, out_png = tmp_path / "r.json", tmp_path / "r.png"
    result = CliRunner().invoke(app, ["scenario", "run", str(scenario), "--progress", "none", "--json", str(out_json),
                                      "--plot", str(out_png)])  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "failed: deliberately wrong" in result.output
    assert "2/3 expectations met" in result.output
    results = json.loads(out_json.read_text())
    verdicts = {e["name"]: e["passed"] for e in results["expectations"]}
    assert verdicts == {"timeline ran": True, "gridnet = 2 kW at the end": True, "deliberately wrong": False}
    assert results["ok"] is False and results["recording"]["samples"]
    assert out_png.read_bytes().startswith(b"\x89PNG")


def test_the_same_file_without_the_wrong_expectation_exits_0(tmp_path: Path) -> None:
    scenario = write(tmp_path, TWO_NODES.split('[[expect]]\nname = "deliberately wrong"')[0])
    result = CliRunner().invoke(app, ["scenario", "run", str(scenario), "--progress", "lines"])
    assert result.exit_code == 0, result.output
    assert "2/2 expectations met" in result.output


def test_a_malformed_file_exits_2_listing_every_problem(tmp_path: Path) -> None:
    broken = TWO_NODES.replace('duration = "1.5s"', 'duration = "later"')
    broken = broken.replace('name = "B"\n', 'name = "B"\nkind = "reactor"\n')
    broken = broken.replace("equals_kw = 99", "equals_kw = 99\nat = \"soon\"") + '[[timeline]]\nat = "1s"\nkill = "Z"\n'
    result = CliRunner().invoke(app, ["scenario", "run", str(write(tmp_path, broken))])
    assert result.exit_code == 2, result.output
    assert "4 problem(s)" in result.output
    for needle in ("line 5: clock.duration: not a duration", "nodes[1].kind: unknown kind 'reactor'",
                   "expect[1].at", "timeline[0].kill: 'Z' matches no node"):  # fmt: skip
        assert needle in result.output
    assert re.search(r"line \d+: timeline\[0\]\.kill", result.output)


def test_check_and_a_mode_the_scenario_does_not_fit(tmp_path: Path) -> None:
    runner = CliRunner()
    checked = runner.invoke(app, ["scenario", "check", str(ROOT / "scenarios" / "village.toml")])
    assert checked.exit_code == 0 and "village: 30 nodes" in checked.output
    refused = runner.invoke(app, ["scenario", "run", str(ROOT / "scenarios" / "large.toml"), "--processes"])
    assert refused.exit_code == 2 and "fits in-process, not processes" in refused.output


def test_ctrl_c_stops_every_process_it_started(tmp_path: Path) -> None:
    workdir = tmp_path / "run"
    argv = [str(GRID), "scenario", "run", str(ROOT / "scenarios" / "original-demo.toml"), "--processes",
            "--duration", "60s", "--workdir", str(workdir), "--progress", "lines"]  # fmt: skip
    runner = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        addresses = wait_until(lambda: _listening(workdir, 4), timeout=60, interval=0.2)
        assert all(http("GET", a, "/healthz", timeout=2)[0] == 200 for a in addresses)
        runner.send_signal(signal.SIGINT)
        output, _ = runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(timeout=10)
    assert runner.returncode == 130, output
    assert "interrupted" in output
    assert not [a for a in addresses if _answers(a)], "a node outlived the interrupted run"


def _answers(address: str) -> bool:
    try:
        return http("GET", address, "/healthz", timeout=1)[0] == 200
    except OSError:  # connection refused: nobody listens any more
        return False


def _listening(workdir: Path, count: int) -> list[str] | None:
    """Addresses the node logs say they listen on, once all ``count`` do."""
    found = []
    for log in sorted((workdir / "logs").glob("*.log")) if (workdir / "logs").exists() else []:
        match = re.search(r"listening on http://([\d.]+:\d+)/messaging", log.read_text(errors="replace"))
        if match:
            found.append(match.group(1))
    return found if len(found) == count and all(a.startswith(HOST) for a in found) else None
