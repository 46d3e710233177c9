"""Operators: several tokens with roles, 403 for the wrong role, 429 + Retry-After
for guessers, and tokens that never reach a log line."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import AsyncIterator

import aiohttp
import pytest

from grid.cli.node import load_features
from grid.node import NodeConfig
from grid.security import Secret, SecuritySettings, with_flags
from grid.service import NodeService
from grid.transport.memory import MemoryTransport
from protocol.roles import Role

from .inproc import node_config, operator, post, query, start_node, stop_node

TOKENS = {"admin": "adm-7f3e9c", "manager": "mgr-1b2d4f", "owner": "own-9a8b7c", "viewer": "view-5e6d7c"}
OPERATORS = tuple(f"{role}:{role}-label:{token}" for role, token in TOKENS.items() if role != "admin")
ENERGY = ("UpdateEnergy", {"production": 3, "consumption": 1})
LINK = ("AddSibling", {"siblingName": "B", "siblingAddress": "127.0.0.1:9", "siblingId": "2"})


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def node() -> AsyncIterator[NodeService]:
    service = await start_node(node_config("A", "1", token=TOKENS["admin"], operators=OPERATORS), MemoryTransport())
    yield service
    await stop_node(service)


@pytest.mark.parametrize(
    "role, message, allowed",
    [("viewer", ENERGY, False), ("owner", ENERGY, True), ("owner", LINK, False), ("manager", LINK, True),
     ("manager", ("SyncGrid", {}), True), ("viewer", ("SyncGrid", {}), False), ("admin", ENERGY, True)],
)  # fmt: skip
async def test_each_role_may_send_what_it_covers(node, session, role, message, allowed) -> None:
    before = await query(node)
    status, answer, _ = await post(session, node.config.address, *operator(*message, TOKENS[role]))
    if allowed:
        assert status in (200, 202), answer
    else:
        assert (status, answer["error"]) == (403, "forbidden")
        after = await query(node)
        assert (after["version"], after["links"], after["gridnet_w"]) == (
            before["version"], before["links"], before["gridnet_w"])  # fmt: skip


async def test_repeated_wrong_tokens_get_429_with_retry_after(node, session) -> None:
    statuses = []
    for guess in range(12):
        status, answer, headers = await post(session, node.config.address, *operator(*ENERGY, f"guess-{guess}"))
        statuses.append(status)
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]
    assert int(headers["Retry-After"]) >= 1 and answer["error"] == "too_many_failures"
    # Blocked means blocked: even the right token waits out the back-off.
    status, _, headers = await post(session, node.config.address, *operator(*ENERGY, TOKENS["owner"]))
    assert status == 429 and "Retry-After" in headers
    assert (await query(node))["production"] == 0


async def test_tokens_and_secrets_never_reach_the_log(session, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    config = node_config("A", "1", token=Secret(TOKENS["admin"]), operators=OPERATORS,  # as `grid node -t` does
                         keys=(("k1", "grid-secret-never-logged"),))  # fmt: skip
    service = await start_node(config, MemoryTransport())
    try:
        for token in (*TOKENS.values(), "wrong-token-xyz"):
            await post(session, service.config.address, *operator(*ENERGY, token))
        await post(session, service.config.address, *operator(*LINK, TOKENS["owner"]))
        settings = SecuritySettings.parse(config.feature("security"))
        logging.getLogger("test").info("config %r settings %r", config, settings)
    finally:
        await stop_node(service)
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "config NodeConfig(" in text
    for secret in (*TOKENS.values(), "wrong-token-xyz", "grid-secret-never-logged"):
        assert secret not in text


def test_operators_from_node_toml_and_flags(tmp_path: Path) -> None:
    toml = tmp_path / "node.toml"
    toml.write_text(
        '[security]\ngrid_keys = ["k1:toml-secret-0123456789"]\nmax_inflight = 32\n\n'
        '[[operators]]\ntoken = "tok-meter"\nrole = "owner"\nlabel = "meter"\n\n'
        '[[operators]]\ntoken = "tok-ops"\nrole = "manager"\nlabel = "ops"\n'
    )
    features = with_flags(load_features(toml), ["k2:flag-secret-0123456789"], ["viewer:wall:tok-wall"])
    settings = SecuritySettings.parse(NodeConfig(id="1", name="A", features=features).feature("security"))
    assert [(o.label, o.role) for o in settings.operators] == [
        ("meter", Role.OWNER), ("ops", Role.MANAGER), ("wall", Role.VIEWER)]  # fmt: skip
    assert settings.keyring().ids() == ("k1", "k2") and settings.keyring().active_id == "k1"
    assert settings.max_inflight == 32
    tokens = settings.token_store("tok-admin")
    assert tokens.labels() == ("cli", "meter", "ops", "wall")
    assert "tok-" not in repr(settings) + repr(features) + repr(tokens)


@pytest.mark.parametrize("flags", [
    {"operators": ["boss:x:tok"]}, {"operators": ["owner:only-two"]}, {"operators": ["owner:a:t", "viewer:a:u"]},
    {"grid_keys": ["k1:short"]}, {"grid_keys": ["no-secret"]},
    {"grid_keys": ["k1:one-secret-000000", "k1:two-secret-00000"]},
])  # fmt: skip
def test_bad_security_flags_stop_the_node_before_it_starts(flags) -> None:
    with pytest.raises(ValueError):
        with_flags({}, flags.get("grid_keys"), flags.get("operators"))
