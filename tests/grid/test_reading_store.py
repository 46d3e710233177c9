"""Readings are stored before they are acknowledged, with one write per batch of messages.

A node hosted on the loop handles its mail in batches; the readings of one
batch cost one SQLite write (the store keeps only the last), and every answer
of the batch goes out after it (a group commit). A failed write answers 503
and stops the node rather than acknowledge what it could not store.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from grid.node import Inbound, Outcome
from grid.store import NodeStore
from grid.transport.memory import MemoryTransport
from protocol.envelopes import ask, tell
from protocol.messages import SyncGrid, UpdateEnergy

from .inproc import node_config, query, start_node, stop_node, wait_for


class Answers:
    """A reply target that notes each answer with the writes made before it."""

    def __init__(self, writes: list[tuple[int, int]]) -> None:
        self.writes = writes
        self.seen: list[tuple[Outcome, list[tuple[int, int]]]] = []

    def send(self, outcome: Any) -> None:
        self.seen.append((outcome, list(self.writes)))


def spy_on_writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    writes: list[tuple[int, int]] = []
    original = NodeStore.save_energy

    def save_energy(store: NodeStore, production_w: int, consumption_w: int) -> None:
        original(store, production_w, consumption_w)
        writes.append((production_w, consumption_w))

    monkeypatch.setattr(NodeStore, "save_energy", save_energy)
    return writes


def reading(production_kw: float, consumption_kw: float = 0.0) -> Any:
    return tell(UpdateEnergy(production=production_kw, consumption=consumption_kw))


async def test_a_batch_of_readings_costs_one_write_and_every_answer_follows_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = spy_on_writes(monkeypatch)
    config = node_config("A", "1", data_dir=tmp_path / "a")
    service = await start_node(config, MemoryTransport(), serve_http=False)
    answers = Answers(writes)
    try:
        for kw in (1, 2, 3, 4, 5):  # told from the loop's thread: one batch when the actor next runs
            service.actor.tell(Inbound(reading(kw), answers))
        await wait_for(lambda: len(answers.seen) == 5)
    finally:
        await stop_node(service)
    assert writes == [(5000, 0)]
    assert [(outcome.status, seen) for outcome, seen in answers.seen] == [(202, [(5000, 0)])] * 5

    again = await start_node(config, MemoryTransport(), serve_http=False)
    try:
        assert (await query(again))["production"] == 5.0  # the acknowledged reading came back
    finally:
        await stop_node(again)


async def test_a_refusal_in_the_batch_waits_for_the_write_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writes = spy_on_writes(monkeypatch)
    service = await start_node(node_config("A", "1", data_dir=tmp_path), MemoryTransport(), serve_http=False)
    answers = Answers(writes)
    stranger = ask(SyncGrid(), req_id="r1", return_id="9")  # an Ask from a node that is not a sibling
    try:
        for envelope in (reading(2), stranger, reading(3)):
            service.actor.tell(Inbound(envelope, answers))
        await wait_for(lambda: len(answers.seen) == 3)
    finally:
        await stop_node(service)
    assert writes == [(3000, 0)]
    assert [(outcome.status, seen) for outcome, seen in answers.seen] == [
        (202, [(3000, 0)]),
        (403, [(3000, 0)]),
        (202, [(3000, 0)]),
    ]


async def test_a_reading_that_cannot_be_stored_is_refused_and_the_node_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_disk(store: NodeStore, production_w: int, consumption_w: int) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(NodeStore, "save_energy", broken_disk)
    service = await start_node(node_config("A", "1", data_dir=tmp_path), MemoryTransport(), serve_http=False)
    answers = Answers([])
    try:
        for kw in (1, 2):
            service.actor.tell(Inbound(reading(kw), answers))
        await wait_for(lambda: len(answers.seen) == 2)
        await wait_for(lambda: not service.actor.is_alive())
    finally:
        await stop_node(service)
    assert [(o.status, (o.body or {}).get("error")) for o, _ in answers.seen] == [(503, "storage_failed")] * 2
