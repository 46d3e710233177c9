"""The ``[dispatch]`` table and the CLI's time options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer

from grid.cli.dispatch import span_ms, when_ms, window
from grid.dispatch import make, parse
from grid.node import NodeConfig
from nodes.dispatch import NetBelow, PriceAbove
from protocol.dispatch import key_id, public_key_from_seed

from .dispatch_support import OP, PUBLIC, SEED, table


def test_a_full_table_parses() -> None:
    raw = table(issuer=True, channels=("events", "email"), rules={
        "peak": {"kind": "price_above", "program_id": "p1", "threshold": 250, "for_minutes": 5,
                 "dispatch_minutes": 30, "curtailment_kw": 2, "cooldown_minutes": 60},
        "low": {"kind": "net_below", "program_id": "p1", "threshold_kw": -50, "for_minutes": 1,
                "dispatch_minutes": 10, "curtailment_kw": 1, "targets": [3, "n4"]},
    }, webhook={"url": "http://127.0.0.1:9/hook"}, email={"host": "127.0.0.1", "port": 2525,
                                                         "sender": "a@b.c", "to": ["d@e.f"]})  # fmt: skip
    s = parse(raw)
    assert s.program_ids == ("p1",) and s.enrolment("p1").offered_kw == 3.0  # type: ignore[union-attr]
    assert s.operator_id == OP and s.operators[OP] == bytes.fromhex(PUBLIC) and s.seed == SEED
    peak, low = s.rules
    assert isinstance(peak, PriceAbove) and isinstance(low, NetBelow) and low.targets == ("3", "n4")
    assert s.webhook is not None and s.webhook.url.endswith("/hook") and s.email is not None


def test_defaults_and_the_key_id_of_a_seed() -> None:
    s = parse({"operator_seed": SEED.hex()})
    assert s.ack_policy == "manual" and s.program_ids == () and s.rules == ()
    assert s.operator_id == key_id(public_key_from_seed(SEED)) and list(s.operators) == [s.operator_id]


def test_a_seed_file(tmp_path: Path) -> None:
    path = tmp_path / "op.key"
    path.write_text(SEED.hex() + "\n")
    assert parse({"operator_seed_file": str(path)}).seed == SEED


@pytest.mark.parametrize(
    "raw",
    [
        {"colour": "red"},
        {"ack_policy": "sometimes"},
        {"digest_every": 0},
        {"operator_seed": "zz"},
        {"operator_seed": "00" * 31},
        {"operator_seed": SEED.hex(), "operator_seed_file": "x"},
        {"operator_seed_file": "/nonexistent/op.key"},
        {"operators": {"op": "00" * 31}},
        {"operators": ["op"]},
        {"operator_seed": SEED.hex(), "operator_id": "op", "operators": {"op": "11" * 32}},
        {"programs": {"program_id": "p1"}},
        {"programs": [{"name": "no id"}]},
        {"programs": [{"program_id": "p1", "offered_kw": -1}]},
        {"programs": [{"program_id": "p1", "channels": ["pigeon"]}]},
        {"programs": [{"program_id": "p1"}, {"program_id": "p1"}]},
        {"programs": [{"program_id": "p1", "bonus": 1}]},
        {"rules": {"r": {"kind": "price_above", "program_id": "p1", "threshold": 1, "for_minutes": 1,
                         "dispatch_minutes": 1, "curtailment_kw": 1}}},  # rules without a seed
        {"operator_seed": SEED.hex(), "rules": {"r": {"kind": "moon_phase"}}},
        {"operator_seed": SEED.hex(), "rules": {"r": {"kind": "net_below", "program_id": "p1", "threshold_kw": 1,
                                                      "for_minutes": 1, "dispatch_minutes": 0, "curtailment_kw": 1}}},
        {"operator_seed": SEED.hex(), "rules": {"r": {"kind": "net_below", "wat": 1}}},
        {"webhook": {"url": "ftp://x"}},
        {"webhook": "http://x"},
        {"email": {"host": "h"}},
    ],
)
def test_bad_tables_are_refused(raw: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        parse(raw)


def test_only_nodes_with_the_table_run_the_feature() -> None:
    assert make(NodeConfig(id="1", name="A")) is None
    assert make(NodeConfig(id="1", name="A", features={"dispatch": {}})) is not None


def test_cli_times() -> None:
    now = 1_700_000_000_000
    assert when_ms("now", now) == now and when_ms("+90s", now) == now + 90_000
    assert when_ms("+2h", now) == now + 7_200_000
    assert when_ms("1700000000123", now) == 1_700_000_000_123
    assert when_ms("2023-11-14T22:13:20+00:00", now) == now
    assert span_ms("500ms") == 500 and span_ms("1.5m") == 90_000
    assert window(None, None, "15m", now) == (now, now + 900_000)
    assert window("+1m", None, None, now) == (now + 60_000, None)
    for bad in ("soon", "+5 days", "-1s"):
        with pytest.raises(typer.BadParameter):
            when_ms(bad, now)
    with pytest.raises(typer.BadParameter):
        window(None, "+1h", "1h", now)
