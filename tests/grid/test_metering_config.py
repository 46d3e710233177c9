"""The ``[metering]`` table and ``--device`` flags: what is accepted, what is refused."""

from __future__ import annotations

from typing import Any

import pytest

from grid.metering.config import MeteringSettings, parse_device_flag, parse_interval_ms, with_cli_devices
from grid.node.config import NodeConfig

DEVICE = {"id": "5c2494a3-1140-4c7a-991a-a1a2561c6bc2", "description": "flat 1", "address": "Str. Baritiu 26",
          "max_hourly_kwh": 2.0}  # fmt: skip


def settings(features: dict[str, Any]) -> MeteringSettings | None:
    return MeteringSettings.from_config(NodeConfig(id="1", name="A", features=features))


def test_a_node_without_the_table_does_not_meter() -> None:
    assert settings({}) is None


def test_the_documented_table_is_understood() -> None:
    webhook = {"url": "http://127.0.0.1:9/h", "retries": 2}
    got = settings({"metering": {"interval": "15m", "timezone": "Europe/Bucharest", "warn_min_readings": 3,
                                 "devices": [DEVICE], "webhook": webhook}})  # fmt: skip
    assert got is not None
    (device,) = got.devices
    assert (device.device_id, device.max_hourly_wh, device.address) == (DEVICE["id"], 2000, "Str. Baritiu 26")
    assert (got.interval_ms, got.timezone, got.warn_min_readings) == (900_000, "Europe/Bucharest", 3)
    assert got.webhook is not None and (got.webhook.url, got.webhook.retries) == ("http://127.0.0.1:9/h", 2)


def test_the_shared_notify_table_gives_the_webhook() -> None:
    got = settings({"metering": {"devices": [DEVICE]}, "notify": {"webhook_url": "http://127.0.0.1:9/n"}})
    assert got is not None and got.webhook is not None and got.webhook.url == "http://127.0.0.1:9/n"
    own = settings({"metering": {"webhook_url": "http://127.0.0.1:9/m"}, "notify": {"webhook_url": "http://x:1/n"}})
    assert own is not None and own.webhook is not None and own.webhook.url == "http://127.0.0.1:9/m"


@pytest.mark.parametrize(
    "table",
    [
        {"devices": [{**DEVICE, "max_hourly_kwh": -1}]},
        {"devices": [{**DEVICE, "max_hourly_kwh": float("nan")}]},
        {"devices": [{"id": "a"}]},
        {"devices": [{**DEVICE, "id": "has space"}]},
        {"devices": [{**DEVICE, "id": "alerts"}]},
        {"devices": [DEVICE, DEVICE]},
        {"devices": [{**DEVICE, "colour": "red"}]},
        {"devices": "meter-1"},
        {"interval": "soon"},
        {"interval": "2h"},
        {"interval": 0},
        {"timezone": "Mars/Olympus"},
        {"warn_min_readings": 0},
        {"webhook_url": "mailto:me@example.org"},
        {"webhook_url": "http://h:1/x", "webhook": {"url": "http://h:1/y"}},
        {"typo": 1},
    ],
)
def test_bad_tables_are_refused_with_a_reason(table: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"^\[metering\]: "):
        settings({"metering": table})


@pytest.mark.parametrize("text, ms", [("10m", 600_000), ("600s", 600_000), ("1h", 3_600_000), ("90", 90_000),
                                      (600, 600_000), ("1.5m", 90_000), ("250ms", 250)])  # fmt: skip
def test_intervals(text: object, ms: int) -> None:
    assert parse_interval_ms(text) == ms


def test_device_flags_join_the_table() -> None:
    assert parse_device_flag("meter-1:2.5") == {"id": "meter-1", "max_hourly_kwh": 2.5}
    assert parse_device_flag("a:b:1") == {"id": "a:b", "max_hourly_kwh": 1.0}
    features = with_cli_devices({"metering": {"devices": [DEVICE]}, "other": {}}, ["m2:1"])
    assert [d["id"] for d in features["metering"]["devices"]] == [DEVICE["id"], "m2"]
    assert with_cli_devices({}, []) == {}
    got = settings(with_cli_devices({}, ["m1:0.5"]))
    assert got is not None and got.devices[0].max_hourly_wh == 500
    for bad in ("m1", "m1:", ":2", "m1:lots"):
        with pytest.raises(ValueError):
            parse_device_flag(bad)
