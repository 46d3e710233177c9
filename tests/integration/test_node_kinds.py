"""Node kinds over real HTTP: eight processes of mixed kinds agree on price and carbon.

Topology (a ring with two chords), every node a ``python -m grid.app`` process:

    manual-big -- manual-small -- consumer -- consumer-toml
        |   \\                                      |
      plant  '------------ prosumer-wind ------ prosumer-sun
        |                       |                   |
        '------------------ prosumer-plain ---------'

All model nodes share one simulation clock (same --start, --speed, --epoch),
10 simulated minutes per real second. ``manual-big`` draws 20 kW, more than
all wind and sun can give, so while the plant runs it is the marginal seller
and the price is its marginal cost; with the plant off, supply cannot cover
demand and the price is the cap.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from nodes.market import PRICE_CAP, carbon_intensity, clear_price

from .procs import Cluster, NodeProc, curl_get, free_port, http, wait_until

START = "2024-03-20T12:00:00Z"
SPEED = "600"
COMMON = ["--speed", SPEED, "--start", START, "--step", "300", "--heartbeat", "0.5", "--log-level", "WARNING"]
MARGINAL_COST = 60

#: name -> extra flags (besides the clock); the TOML node gets its kind from its file.
KINDS: dict[str, list[str]] = {
    "manual-big": [],
    "manual-small": [],
    "consumer": ["--kind", "consumer", "--annual-kwh", "5000"],
    "consumer-toml": [],  # --config file, see toml_node()
    "prosumer-sun": ["--kind", "prosumer", "--turbines", "1", "--solar-kw", "3", "--battery-kwh", "10",
                     "--battery-kw", "3"],  # fmt: skip
    "prosumer-wind": ["--kind", "prosumer", "--turbines", "2", "--battery-kwh", "13.5"],
    "prosumer-plain": ["--kind", "prosumer", "--turbines", "2", "--turbine-kw", "1.5"],
    "plant": ["--kind", "plant", "--max-kw", "200", "--marginal-cost", str(MARGINAL_COST),
              "--ramp-kw-per-min", "600", "--emissions", "820"],  # fmt: skip
}
RING = ["manual-big", "manual-small", "consumer", "consumer-toml", "prosumer-sun", "prosumer-plain", "plant"]
CHORDS = [("manual-big", "prosumer-wind"), ("prosumer-wind", "prosumer-sun"), ("prosumer-wind", "prosumer-plain")]


def toml_node(tmp: Path, epoch: str) -> list[str]:
    """A consumer configured by a node TOML file: [model] and [clock] tables."""
    path = tmp / "consumer.toml"
    path.write_text(
        '[model]\nkind = "consumer"\nannual_kwh = 3000\nflexible_share = 0.2\nstep_s = 300\n\n'
        f'[clock]\nspeed = {SPEED}\nstart = "{START}"\nepoch = {epoch}\n'
    )
    return ["--config", str(path), "--heartbeat", "0.5", "--log-level", "WARNING"]


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, NodeProc]]:
    """The eight nodes, linked, with the manual nodes' readings set."""
    tmp = tmp_path_factory.mktemp("kinds")
    cluster = Cluster(tmp)
    epoch = f"{time.time():.3f}"
    nodes = {}
    for i, (name, flags) in enumerate(KINDS.items(), start=1):
        extra = toml_node(tmp, epoch) if name == "consumer-toml" else [*flags, *COMMON, "--epoch", epoch]
        if name.startswith("manual"):
            extra = ["--heartbeat", "0.5", "--log-level", "WARNING"]
        nodes[name] = NodeProc(name, str(i), free_port(), f"t{i}", tmp / f"{name}.log", extra=extra)
    cluster.nodes.extend(nodes.values())
    try:
        with ThreadPoolExecutor(len(nodes)) as pool:  # start together: each takes a second or two
            list(pool.map(NodeProc.start, nodes.values()))
        assert nodes["manual-big"].tell("UpdateEnergy", {"production": 0, "consumption": 20})[0] == 202
        assert nodes["manual-small"].tell("UpdateEnergy", {"production": 3, "consumption": 1})[0] == 202
        for a, b in zip(RING, RING[1:] + RING[:1]):
            assert nodes[a].link(nodes[b])[0] == 202
        for a, b in CHORDS:
            assert nodes[a].link(nodes[b])[0] == 202
        yield nodes
    finally:
        cluster.close()


def states(nodes: dict[str, NodeProc]) -> list[dict[str, Any]]:
    """Every node's /state, fetched at the same time (the view moves on every step)."""
    with ThreadPoolExecutor(len(nodes)) as pool:
        return list(pool.map(NodeProc.state, nodes.values()))


def settled(nodes: dict[str, NodeProc], extra: Any = None) -> list[dict[str, Any]]:
    """Wait until all eight nodes have the same view (same digest), live, and ``extra(states)`` holds."""

    def check() -> list[dict[str, Any]] | None:
        seen = states(nodes)
        same = len({s["view_digest"] for s in seen}) == 1 and all(s["nodes_live"] == len(nodes) for s in seen)
        return seen if same and (extra is None or extra(seen)) else None

    return wait_until(check, timeout=30, interval=0.02)


def test_every_node_reports_the_same_price_carbon_and_digest(grid: dict[str, NodeProc]) -> None:
    seen = settled(grid)
    assert len({s["price"] for s in seen}) == 1
    assert len({s["carbon_intensity"] for s in seen}) == 1
    assert all(s["price_digest"] == s["view_digest"] for s in seen)
    # The plant covers what wind and sun cannot: it is the marginal seller.
    assert seen[0]["price"] == MARGINAL_COST
    # Once the plant has ramped up to the deficit it sees, the grid's power is partly coal.
    seen = settled(grid, lambda seen: seen[0]["carbon_intensity"] > 0)
    assert len({(s["price"], s["carbon_intensity"]) for s in seen}) == 1
    assert 0 < seen[0]["carbon_intensity"] < 820  # wind and sun produce too
    kinds = {s["name"]: s["kind"] for s in seen}
    assert kinds == {"manual-big": "manual", "manual-small": "manual", "consumer": "consumer",
                     "consumer-toml": "consumer", "prosumer-sun": "prosumer", "prosumer-wind": "prosumer",
                     "prosumer-plain": "prosumer", "plant": "plant"}  # fmt: skip


def test_the_price_is_the_clearing_of_the_offers_in_grid(grid: dict[str, NodeProc]) -> None:
    """What /state reports follows from the offers GET /grid shows, for the same view."""

    def same_view() -> tuple[dict[str, Any], dict[str, Any]] | None:
        state, (status, view) = grid["consumer"].state(), http("GET", grid["consumer"].address, "/grid")
        assert status == 200
        return (state, view) if state["view_digest"] == view["view_digest"] else None

    state, view = wait_until(same_view, timeout=20, interval=0.02)
    live = [row for row in view["nodes"] if row["status"] == "alive"]
    assert len(live) == 8 and all(row["offer"] for row in live)  # manual nodes carry an offer too
    assert state["price"] == clear_price([tuple(seg) for seg in row["offer"]] for row in live)
    rows = [(round(row["production"] * 1000), row["emissions"]) for row in live]
    assert state["carbon_intensity"] == carbon_intensity(rows)


def test_model_nodes_show_kind_source_battery_and_plant(grid: dict[str, NodeProc]) -> None:
    blocks = {name: node.state()["model"] for name, node in grid.items()}
    assert blocks["manual-big"]["kind"] == "manual" and blocks["manual-big"]["controls"] is None
    wind = wait_until(lambda: grid["prosumer-wind"].state()["model"], timeout=10)
    assert wind["source"] in ("own", "battery", "market")
    assert 0 <= wind["battery"]["soc"] <= 1 and wind["battery"]["capacity_kwh"] == 13.5
    assert wind["params"] == {"turbines": 2, "battery_kwh": 13.5}
    assert blocks["prosumer-plain"].get("battery") is None
    assert blocks["consumer-toml"]["params"] == {"annual_kwh": 3000, "flexible_share": 0.2}
    plant = blocks["plant"]["plant"]
    assert plant["status"] == "on" and plant["max_kw"] == 200 and plant["marginal_cost"] == MARGINAL_COST
    clocks = {json.dumps({k: b["clock"][k] for k in ("start", "speed", "epoch")}) for b in blocks.values()
              if b["kind"] != "manual"}  # fmt: skip
    assert len(clocks) == 1  # one shared simulation clock


def control(node: NodeProc, msg: dict[str, Any], token: str | None = "own") -> tuple[int, Any]:
    """A Control sent as the protocol docs show: curl, GET /messaging, JSON, the node's token."""
    envelope = {"envType": "Tell", "msgType": "Control", "msg": msg}
    return curl_get(node.address, envelope, node.token if token == "own" else token)


def test_control_turns_the_plant_off_and_on_and_the_price_follows(grid: dict[str, NodeProc]) -> None:
    plant = grid["plant"]
    settled(grid, lambda seen: seen[0]["price"] == MARGINAL_COST)

    status, body = control(plant, {"status": "off"})
    assert status == 202, body
    assert body["controls"] == {"status": "off", "ratio": 1.0, "auto": True}
    # No plant: wind, sun and batteries cannot feed 20 kW, every node sees scarcity.
    seen = settled(grid, lambda seen: seen[0]["price"] == PRICE_CAP)
    assert {s["price"] for s in seen} == {PRICE_CAP}
    wait_until(lambda: plant.state()["production"] == 0.0, timeout=10)

    status, body = control(plant, {"status": "on", "ratio": 0.5})
    assert status == 202, body
    seen = settled(grid, lambda seen: seen[0]["price"] == MARGINAL_COST)
    assert len({s["carbon_intensity"] for s in seen}) == 1
    block = wait_until(lambda: (b := plant.state()["model"]["plant"])["output_kw"] > 0 and b, timeout=10)
    assert block["ratio"] == 0.5 and block["ceiling_kw"] == 100.0


def test_bad_controls_are_refused_and_change_nothing(grid: dict[str, NodeProc]) -> None:
    plant, consumer, wind = grid["plant"], grid["consumer"], grid["prosumer-wind"]
    before = plant.state()["model"]["controls"]
    cases = [
        (plant, {"ratio": 1.5}, "own", 400, "invalid_msg"),
        (plant, {}, "own", 400, "invalid_msg"),
        (plant, {"status": "off"}, None, 401, "missing_token"),
        (plant, {"status": "off"}, "t1", 401, "wrong_token"),
        (plant, {"buyBelow": 10}, "own", 409, "no_battery"),
        (consumer, {"status": "off"}, "own", 409, "not_a_plant"),
        (wind, {"buyBelow": 200, "sellAbove": 100}, "own", 400, "invalid_msg"),
        (wind, {"buyBelow": 500}, "own", 400, "bad_policy"),  # above the current sellAbove 120
        (grid["manual-big"], {"ratio": 0.5}, "own", 409, "not_a_plant"),
    ]
    for node, msg, token, expected, code in cases:
        status, body = control(node, msg, token)
        assert (status, body["error"]) == (expected, code), (node.name, msg, body)
    assert plant.state()["model"]["controls"] == before
    assert wind.state()["model"]["controls"] == {"buyBelow": 40, "sellAbove": 120, "reserve": 0.2}


def test_a_battery_policy_changes_by_control(grid: dict[str, NodeProc]) -> None:
    wind = grid["prosumer-wind"]
    status, body = control(wind, {"buyBelow": 20, "sellAbove": 150})
    assert status == 202 and body["controls"] == {"buyBelow": 20, "sellAbove": 150, "reserve": 0.2}

    def new_policy_in_the_offer() -> bool:
        # The battery now buys charge at 20 or sells above 150 (a full battery has
        # nothing to buy, an empty one nothing to sell): the entry every node gossips says so.
        rows = http("GET", grid["plant"].address, "/grid")[1]["nodes"]
        offer = next(r["offer"] for r in rows if r["name"] == "prosumer-wind")
        return any((power_w > 0 and price == 20) or (power_w < 0 and price == 150) for power_w, price in offer)

    wait_until(new_policy_in_the_offer, timeout=20)


def test_model_nodes_refuse_update_energy(grid: dict[str, NodeProc]) -> None:
    status, body = grid["plant"].tell("UpdateEnergy", {"production": 1, "consumption": 0})
    assert status == 409 and body["error"] == "model_node"
