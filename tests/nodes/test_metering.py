"""Metering readings and devices: validation, normalisation, purity of the modules."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest

import nodes.metering as metering
from nodes.metering import (
    MAX_TIMESTAMP_MS,
    MIN_TIMESTAMP_MS,
    Device,
    MeterError,
    MeterLedger,
    Reading,
    kwh_to_wh,
    make_reading,
    parse_timestamp_ms,
    reading_from_wire,
    wh_to_kwh_text,
)

T0 = 1_570_654_800_000  # the original's example timestamp
NODES_DIR = Path(metering.__file__).parent
BANNED = {"aiohttp", "pykka", "typer", "asyncio", "threading", "socket", "time"}


def _meter_modules() -> list[Path]:
    return sorted(NODES_DIR.glob("metering*.py"))


@pytest.mark.parametrize("path", _meter_modules(), ids=lambda p: p.name)
def test_module_is_pure(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            names = []
        assert not {name.split(".")[0] for name in names} & BANNED, (path.name, names)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in {"open", "print", "input"}, path.name
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            # Randomness only through a seeded random.Random; no clock reads.
            if node.value.id == "random":
                assert node.attr == "Random", (path.name, node.attr)
            assert node.attr not in {"now", "today", "utcnow", "read_text", "write_text"}, path.name


def test_facade_exports_everything_it_names() -> None:
    for name in metering.__all__:
        assert hasattr(metering, name), name


@pytest.mark.parametrize(
    ("value", "expected"),
    [(T0, T0), (float(T0), T0), (str(T0), T0), (f" {T0} ", T0), (MIN_TIMESTAMP_MS, MIN_TIMESTAMP_MS)],
)
def test_timestamp_accepts_int_like(value: object, expected: int) -> None:
    assert parse_timestamp_ms(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        "abc",
        "",
        "1.5e12",
        T0 + 0.5,
        math.nan,
        math.inf,
        -T0,
        -1,
        0,
        T0 // 1000,  # seconds sent as milliseconds
        MAX_TIMESTAMP_MS,
        10**20,
        [T0],
    ],
)
def test_timestamp_rejects_malformed_and_absurd(value: object) -> None:
    with pytest.raises(MeterError) as info:
        parse_timestamp_ms(value)
    assert info.value.code == "bad_timestamp"
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("value", "wh"),
    [
        (0, 0),
        (0.0, 0),
        (0.1, 100),
        ("0.1", 100),
        (0.0005, 1),  # half up, from the decimal written, not the binary float
        ("0.0005", 1),
        (0.0004999, 0),
        (2, 2000),
        (1.2345, 1235),
        ("1e-3", 1),
    ],
)
def test_kwh_to_wh_rounds_half_up(value: object, wh: int) -> None:
    assert kwh_to_wh(value) == wh


@pytest.mark.parametrize(
    "value", [-0.1, "-1", -0.0001, math.nan, math.inf, -math.inf, "nan", "inf", "abc", None, True, 1e7, [1]]
)
def test_kwh_rejects_negative_nan_inf_and_junk(value: object) -> None:
    with pytest.raises(MeterError) as info:
        kwh_to_wh(value)
    assert info.value.code == "bad_value"


def test_wh_to_kwh_text_is_exact() -> None:
    assert [wh_to_kwh_text(wh) for wh in (0, 1, 100, 4000, 4300, 2049, 123456)] == [
        "0.0",
        "0.001",
        "0.1",
        "4.0",
        "4.3",
        "2.049",
        "123.456",
    ]


def test_make_reading_normalises_and_checks_the_registry() -> None:
    reading = make_reading(str(T0), 7, "0.25", devices={"7"})
    assert reading == Reading(T0, "7", 250)
    assert reading.to_wire() == {"timestamp": T0, "device_id": "7", "measurement_value": 0.25}
    with pytest.raises(MeterError) as info:
        make_reading(T0, "ghost", 0.1, devices={"7"})
    assert info.value.code == "unknown_device"
    assert info.value.to_json()["error"] == "unknown_device"


def test_reading_from_wire_takes_the_original_json() -> None:
    msg = {
        "timestamp": 1570654800000,
        "device_id": "5c2494a3-1140-4c7a-991a-a1a2561c6bc2",
        "measurement_value": 0.1,
    }
    reading = reading_from_wire(msg)
    assert (reading.timestamp_ms, reading.wh) == (T0, 100)
    camel = {"timestamp": T0, "deviceId": "d1", "measurementValue": 0.2}
    assert reading_from_wire(camel, {"d1"}).wh == 200


@pytest.mark.parametrize(
    ("msg", "code"),
    [
        ({"timestamp": T0, "device_id": "nope", "measurement_value": 0.1}, "unknown_device"),
        ({"timestamp": T0, "device_id": None, "measurement_value": 0.1}, "unknown_device"),
        ({"timestamp": T0, "measurement_value": 0.1}, "unknown_device"),
        ({"device_id": "d1", "measurement_value": 0.1}, "bad_timestamp"),
        ({"timestamp": "yesterday", "device_id": "d1", "measurement_value": 0.1}, "bad_timestamp"),
        ({"timestamp": -5, "device_id": "d1", "measurement_value": 0.1}, "bad_timestamp"),
        ({"timestamp": T0, "device_id": "d1", "measurement_value": -0.1}, "bad_value"),
        ({"timestamp": T0, "device_id": "d1", "measurement_value": math.nan}, "bad_value"),
        ({"timestamp": T0, "device_id": "d1", "measurement_value": math.inf}, "bad_value"),
        ({"timestamp": T0, "device_id": "d1"}, "bad_value"),
    ],
)
def test_ledger_rejects_bad_wire_readings(msg: dict[str, object], code: str) -> None:
    ledger = MeterLedger([Device("d1", "kitchen", "Str. Baritiu 26", 2.0)])
    with pytest.raises(MeterError) as info:
        ledger.ingest_wire(msg)
    assert info.value.code == code
    assert ledger.totals() == {}


def test_ledger_rejects_reading_for_unknown_device() -> None:
    ledger = MeterLedger([Device("d1", "kitchen", "here", 2.0)])
    with pytest.raises(MeterError) as info:
        ledger.ingest(Reading(T0, "d2", 10))
    assert info.value.code == "unknown_device"


@pytest.mark.parametrize(
    "args",
    [
        (T0, "d1", -1),
        (T0, "d1", 1.5),
        (float(T0), "d1", 1),
        (T0 // 1000, "d1", 1),
        (T0, 7, 1),
        (T0, "", 1),
        (True, "d", 1),
    ],
)
def test_reading_constructor_keeps_invariants(args: tuple[object, object, object]) -> None:
    with pytest.raises(MeterError):
        Reading(*args)  # type: ignore[arg-type]


def test_device_derives_integer_maximum() -> None:
    device = Device("d1", "heat pump", "Str. Observatorului 2", 2.0)
    assert device.max_hourly_wh == 2000
    assert Device("d2", "", "", 0.0005).max_hourly_wh == 1
    with pytest.raises(AttributeError):
        device.max_hourly_kwh = 3.0  # type: ignore[misc]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_hourly_kwh": -1.0},
        {"max_hourly_kwh": math.nan},
        {"max_hourly_kwh": math.inf},
        {"device_id": ""},
        {"device_id": 3},
        {"description": "x" * 5000},
        {"address": None},
    ],
)
def test_device_rejects_bad_fields(kwargs: dict[str, object]) -> None:
    fields: dict[str, object] = {"device_id": "d1", "description": "", "address": "", "max_hourly_kwh": 1.0}
    fields.update(kwargs)
    with pytest.raises(MeterError) as info:
        Device(**fields)  # type: ignore[arg-type]
    assert info.value.code == "bad_device"
