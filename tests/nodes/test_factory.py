"""make_model, its parameters, and the common NodeModel interface."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from nodes import KINDS, PARAMETERS, NodeModel, Reading, Signals, make_model
from nodes.consumer import ConsumerModel, ReplayedLoad
from nodes.factory import resolve_params
from nodes.manual import ManualModel
from nodes.plant import PlantModel
from nodes.prosumer import ProsumerModel
from nodes.weather import ReplayedWeather

START = datetime(2024, 6, 21, tzinfo=timezone.utc)


def run(model: NodeModel, steps: int = 48) -> list[Reading]:
    return [model.step(START + timedelta(minutes=30 * i), 1800.0, Signals(price=70)) for i in range(steps)]


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_builds_with_defaults_and_reports_valid_readings(kind):
    model = make_model(kind, {}, seed=1)
    assert model.kind == kind
    for reading in run(model):
        assert isinstance(reading.production_w, int) and isinstance(reading.consumption_w, int)
        assert reading.production_w >= 0 and reading.consumption_w >= 0
        assert reading.source in ("own", "battery", "market")
        assert len(reading.offer) <= 8
        assert reading.net_w == reading.sold_w - reading.bought_w


def test_cli_spellings_are_accepted():
    model = make_model("prosumer", {"--turbines": 2, "battery-kwh": 13.5, "solar_kw": 4.0}, seed=3)
    assert isinstance(model, ProsumerModel)
    assert model.wind.count == 2 and model.solar.peak_kw == 4.0
    assert model.battery is not None and model.battery.spec.capacity_wh == 13_500.0
    assert PARAMETERS["prosumer"][0].option.startswith("--")


def test_same_seed_same_readings_different_seed_different():
    a = run(make_model("prosumer", {"solar-kw": 3.0, "battery-kwh": 5.0}, seed=4))
    b = run(make_model("prosumer", {"solar-kw": 3.0, "battery-kwh": 5.0}, seed=4))
    c = run(make_model("prosumer", {"solar-kw": 3.0, "battery-kwh": 5.0}, seed=5))
    assert a == b and a != c


def test_prosumers_in_one_place_share_the_weather():
    a = make_model("prosumer", {"latitude": 52.0, "longitude": 5.0}, seed=1)
    b = make_model("prosumer", {"latitude": 52.0, "longitude": 5.0}, seed=2)
    assert [a.generation_w(START + timedelta(hours=h)) for h in range(24)] == [
        b.generation_w(START + timedelta(hours=h)) for h in range(24)
    ]


def test_string_values_are_converted():
    values = resolve_params("plant", {"max-kw": "500", "on": "false", "marginal-cost": "45"})
    assert values["max_kw"] == 500.0 and values["on"] is False and values["marginal_cost"] == 45


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("windmill", {}),
        ("prosumer", {"turbine": 2}),
        ("prosumer", {"turbines": 2.5}),
        ("prosumer", {"turbines": -1}),
        ("prosumer", {"battery-soc": 1.5}),
        ("prosumer", {"latitude": float("nan")}),
        ("prosumer", {"cut-in-ms": 12.0}),  # above rated_ms
        ("prosumer", {"buy-below": 200}),  # above sell_above
        ("plant", {"on": "maybe"}),
        ("plant", {"ratio": True}),
        ("consumer", {"load-csv": 5}),
        ("consumer", {"load-csv": "garbage"}),
    ],
)
def test_bad_parameters_are_rejected(kind, params):
    with pytest.raises(ValueError):
        make_model(kind, params, seed=0)


def test_csv_parameters_take_text():
    weather = "timestamp,wind_ms,cloud\n2024-06-21T00:00:00,12.0,1.0\n2024-06-22T00:00:00,12.0,1.0\n"
    model = make_model("prosumer", {"weather-csv": weather, "load-csv": "2024-06-21T00:00:00,0.5\n"}, seed=0)
    assert isinstance(model.weather, ReplayedWeather) and isinstance(model.load, ReplayedLoad)
    reading = model.step(START, 60.0, Signals())
    assert (reading.production_w, reading.consumption_w, reading.source) == (3_000, 500, "own")
    consumer = make_model("consumer", {"load-csv": "0,1.25\n"}, seed=0)
    assert isinstance(consumer, ConsumerModel)
    assert consumer.step(START, 60.0, Signals()).consumption_w == 1_250


def test_manual_node_reports_what_the_operator_typed():
    model = make_model("manual", {"production-kw": 0, "consumption-kw": 10}, seed=0)
    assert isinstance(model, ManualModel)
    reading = model.step(START, 1.0, Signals())
    assert (reading.consumption_w, reading.source, reading.bought_w) == (10_000, "market", 10_000)
    model.update_energy(production_kw=2.5, consumption_kw=0.0)
    reading = model.step(START, 1.0, Signals())
    assert (reading.production_w, reading.source, reading.offer) == (2_500, "own", ((-2_500, 0),))
    with pytest.raises(ValueError):
        model.update_energy(-1.0, 0.0)


def test_plant_controls_from_parameters():
    model = make_model("plant", {"max-kw": 10, "ratio": 0.5, "auto": False, "output-kw": 5}, seed=0)
    assert isinstance(model, PlantModel)
    reading = model.step(START, 60.0, Signals())
    assert reading.production_w == 5_000 and reading.offer == ((-5_000, 60),)
    model.control(on=False)
    assert model.step(START, 3600.0, Signals()).production_w == 0


def test_reading_rejects_impossible_values():
    with pytest.raises(ValueError):
        Reading(production_w=-1, consumption_w=0)
    with pytest.raises(ValueError):
        Reading(production_w=0, consumption_w=0, source="sun")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Reading(production_w=0, consumption_w=0, battery_soc=1.2)
