"""Build a node's model from the parameters a user types.

``make_model("prosumer", {"turbines": 2, "battery-kwh": 13.5}, seed=7)``: names
are those of the CLI options (``--turbines 2 --battery-kwh 13.5``), with
dashes or underscores. Every parameter, its type, default and meaning is in
``PARAMETERS``, so the CLI and the docs can list them. CSV parameters take the
file's *text*: the caller reads the file, ``nodes`` does no I/O.

The node's ``seed`` drives its own randomness (load noise). Weather has its
own ``weather_seed``, the same for the whole grid by default, so nodes at the
same place see the same wind and sun.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .balancing import BatteryPolicy, Damping
from .battery import Battery, BatterySpec
from .consumer import ConsumerModel, Flexibility, LoadSource, ProfileLoad, parse_load_csv
from .manual import ManualModel
from .model import NodeModel
from .plant import PlantControls, PlantModel, PlantSpec
from .prosumer import ProsumerModel
from .solar import SolarArray
from .units import WATTS_PER_KW, kw_to_w
from .weather import DEFAULT_WEATHER_SEED, SyntheticWeather, WeatherSource, location_key, parse_weather_csv
from .wind import TurbineCurve, WindFarm


@dataclass(frozen=True, slots=True)
class Param:
    """One model parameter: its name (underscored), type, default and help."""

    name: str
    type: type
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None

    @property
    def option(self) -> str:
        """The CLI spelling, e.g. ``--battery-kwh``."""
        return "--" + self.name.replace("_", "-")


_LOAD = (
    Param("annual_kwh", float, 3500.0, "household consumption per year, kWh", 0, 1e9),
    Param("noise", float, 0.1, "standard deviation of the load noise, fraction", 0, 1),
    Param("load_csv", str, None, "CSV text of timestamp,kW rows, replayed (looped) instead of the profile"),
)
_DAMPING = (
    Param("gain", float, 0.25, "share of the grid imbalance corrected per step", 1e-6, 1),
    Param("dead_band_w", int, 50, "grid imbalance ignored, W", 0, 1e12),
)
_POSITION = (
    Param("latitude", float, 65.58, "degrees north (default: Lulea)", -90, 90),
    Param("longitude", float, 22.15, "degrees east", -180, 180),
)

PARAMETERS: dict[str, tuple[Param, ...]] = {
    "manual": (
        Param("production_kw", float, 0.0, "initial production, kW", 0, 1e9),
        Param("consumption_kw", float, 0.0, "initial consumption, kW", 0, 1e9),
    ),
    "consumer": _LOAD
    + (
        Param("longitude", float, 22.15, "degrees east, sets local time of the profile", -180, 180),
        Param("flexible_share", float, 0.0, "share of the load that can wait for a low price", 0, 1),
        Param("flexible_below", int, 80, "price (EUR/MWh) at or below which waiting load runs", -(10**6), 10**6),
    ),
    "prosumer": _LOAD
    + _POSITION
    + _DAMPING
    + (
        Param("turbines", int, 1, "number of wind turbines", 0, 10**6),
        Param("turbine_kw", float, 3.0, "rated power of one turbine, kW", 0, 1e6),
        Param("cut_in_ms", float, 3.0, "wind speed where turbines start, m/s", 0, 100),
        Param("rated_ms", float, 11.0, "wind speed of rated power, m/s", 0, 100),
        Param("cut_out_ms", float, 25.0, "wind speed where turbines stop, m/s", 0, 100),
        Param("solar_kw", float, 0.0, "peak power of the solar panels, kW", 0, 1e6),
        Param("battery_kwh", float, 0.0, "battery capacity, kWh (0: no battery)", 0, 1e6),
        Param("battery_kw", float, 5.0, "battery charge and discharge power limit, kW", 0, 1e6),
        Param("battery_efficiency", float, 0.9, "battery round-trip efficiency", 1e-3, 1),
        Param("battery_soc", float, 0.5, "initial state of charge, fraction", 0, 1),
        Param("buy_below", int, 40, "price at or below which the battery charges", -(10**6), 10**6),
        Param("sell_above", int, 120, "price at or above which the battery sells", -(10**6), 10**6),
        Param("reserve", float, 0.2, "state of charge kept for own use", 0, 1),
        Param("wind_scale_ms", float, 7.0, "Weibull scale of the wind speed, m/s", 0.1, 100),
        Param("wind_shape", float, 2.0, "Weibull shape of the wind speed", 0.5, 10),
        Param("cloudiness", float, 0.6, "mean cloud cover", 0.01, 0.99),
        Param("weather_seed", int, DEFAULT_WEATHER_SEED, "seed of the grid's weather", -(2**63), 2**63),
        Param("weather_csv", str, None, "CSV text of timestamp,wind_ms,cloud rows, replayed (looped) instead"),
    ),
    "plant": _DAMPING
    + (
        Param("max_kw", float, 1000.0, "maximum production, kW", 0, 1e9),
        Param("on", bool, True, "whether the plant runs"),
        Param("ratio", float, 1.0, "production ratio: share of max_kw allowed", 0, 1),
        Param("ramp_kw_per_min", float, 100.0, "fastest change of output, kW per minute", 1e-6, 1e9),
        Param("marginal_cost", int, 60, "price asked, EUR/MWh", -(10**6), 10**6),
        Param("emissions", int, 820, "gCO2 per kWh produced", 0, 100_000),
        Param("auto", bool, True, "follow the grid's deficit within the ratio"),
        Param("output_kw", float, 0.0, "output at start, kW", 0, 1e9),
    ),
}
KINDS = tuple(PARAMETERS)


def make_model(kind: str, params: Mapping[str, Any] | None = None, seed: int = 0) -> NodeModel:
    """The model of a node of ``kind`` with ``params`` (see ``PARAMETERS``).

    Raises ``ValueError`` for an unknown kind, an unknown parameter or a value
    of the wrong type or out of range.
    """
    if kind not in PARAMETERS:
        raise ValueError(f"unknown node kind {kind!r}; known: {', '.join(KINDS)}")
    values = resolve_params(kind, params or {})
    return _BUILDERS[kind](values, seed)


def resolve_params(kind: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Every parameter of ``kind``: given ones checked and converted, others default."""
    known = {p.name: p for p in PARAMETERS[kind]}
    given = {str(name).lstrip("-").replace("-", "_"): value for name, value in params.items()}
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ValueError(f"unknown parameter(s) for {kind}: {', '.join(unknown)}; known: {', '.join(known)}")
    return {name: _convert(param, given.get(name)) for name, param in known.items()}


def _convert(param: Param, value: Any) -> Any:
    if value is None:
        return param.default
    try:
        converted = _CONVERTERS[param.type](value)
    except (TypeError, ValueError):
        raise ValueError(f"{param.option}: expected {param.type.__name__}, got {value!r}") from None
    if isinstance(converted, (int, float)) and not isinstance(converted, bool):
        _check_range(param, converted)
    return converted


def _check_range(param: Param, value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{param.option}: must be finite, got {value!r}")
    if (param.minimum is not None and value < param.minimum) or (param.maximum is not None and value > param.maximum):
        raise ValueError(f"{param.option}: {value!r} not within [{param.minimum}, {param.maximum}]")


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


def _to_int(value: Any) -> int:
    # 2.0 is a fine integer, 2.5 is not; booleans are not numbers here.
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(value)
    return int(value)


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(value)
    return float(value)


def _to_str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(value)
    return value


_CONVERTERS = {bool: _to_bool, int: _to_int, float: _to_float, str: _to_str}


def _load(values: dict[str, Any], seed: int, longitude: float) -> LoadSource:
    if values["load_csv"] is not None:
        return parse_load_csv(values["load_csv"], loop=True)
    return ProfileLoad(values["annual_kwh"], seed, values["noise"], longitude)


def _manual(values: dict[str, Any], seed: int) -> NodeModel:
    return ManualModel(kw_to_w(values["production_kw"]), kw_to_w(values["consumption_kw"]))


def _consumer(values: dict[str, Any], seed: int) -> NodeModel:
    flexibility = Flexibility(values["flexible_share"], values["flexible_below"])
    return ConsumerModel(_load(values, seed, values["longitude"]), flexibility)


def _weather(values: dict[str, Any]) -> WeatherSource:
    if values["weather_csv"] is not None:
        return parse_weather_csv(values["weather_csv"], loop=True)
    location = location_key(values["latitude"], values["longitude"])
    return SyntheticWeather(
        values["weather_seed"], location, values["wind_scale_ms"], values["wind_shape"], values["cloudiness"]
    )


def _battery(values: dict[str, Any]) -> Battery | None:
    if values["battery_kwh"] <= 0:
        return None
    power_w = kw_to_w(values["battery_kw"])
    spec = BatterySpec(values["battery_kwh"] * WATTS_PER_KW, power_w, power_w, values["battery_efficiency"])
    return Battery(spec, values["battery_soc"])


def _prosumer(values: dict[str, Any], seed: int) -> NodeModel:
    curve = TurbineCurve(values["turbine_kw"], values["cut_in_ms"], values["rated_ms"], values["cut_out_ms"])
    return ProsumerModel(
        weather=_weather(values),
        load=_load(values, seed, values["longitude"]),
        wind=WindFarm(curve, values["turbines"]),
        solar=SolarArray(values["solar_kw"], values["latitude"], values["longitude"]),
        battery=_battery(values),
        policy=BatteryPolicy(values["buy_below"], values["sell_above"], reserve=values["reserve"]),
        damping=Damping(values["gain"], values["dead_band_w"]),
    )


def _plant(values: dict[str, Any], seed: int) -> NodeModel:
    spec = PlantSpec(values["max_kw"], values["ramp_kw_per_min"], values["marginal_cost"], values["emissions"])
    controls = PlantControls(values["on"], values["ratio"], values["auto"])
    damping = Damping(values["gain"], values["dead_band_w"])
    return PlantModel(spec, controls, damping, kw_to_w(values["output_kw"]))


_BUILDERS = {"manual": _manual, "consumer": _consumer, "prosumer": _prosumer, "plant": _plant}
