"""The scenario file format: pydantic models of each table, and :func:`load`.

A scenario is a TOML file (see docs/scenarios.md for every key). :func:`load`
validates each table and each array entry on its own, then cross-checks
names, times and messages (:mod:`.checks`), and raises one
:class:`~.problems.ScenarioError` listing every problem with its line.

Times are run time: seconds since the scenario's start (``at``, ``duration``,
``within``), given as numbers or as ``"500ms"``, ``"2s"``, ``"1.5m"``, ``"1h"``.
Only ``clock.start`` is a simulated instant; the simulated time at run time
``t`` is ``start + t * speed``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from .expectations import CHECK_TAGS, Expectation
from .problems import Collector, Path as KeyPath, Problem, SourceLines
from .types import Name, Positive, Seconds, Selector, Strict, parse_duration

MODES = ("in-process", "processes")
__all__ = ["Expectation", "Scenario", "load", "loads", "parse_duration"]

# ----------------------------------------------------------------------------- tables
class ScenarioInfo(Strict):
    """``[scenario]``: what it is and how to run it."""

    name: Name
    description: str = ""
    seed: int = 0
    #: Modes the scenario fits (a runner refuses others unless forced).
    modes: list[Literal["in-process", "processes"]] = Field(default_factory=lambda: list(MODES), min_length=1)
    #: Seconds between two samples of every node's /state (default from the node count).
    sample: Positive | None = None
    #: Seconds allowed to start and link the nodes before the clock's epoch (default from the node count).
    warmup: Seconds | None = None
    #: The node whose dashboard URL ``--dashboard`` prints (default: the first).
    dashboard: str | None = None


class ClockSpec(Strict):
    """``[clock]``: simulated time (for model nodes) and the run's length."""

    start: str | None = None
    speed: Annotated[float, Field(gt=0, le=1e6)] = 1.0
    duration: Positive


class QuickSpec(Strict):
    """``[quick]``: overrides applied by ``--quick`` (CI runs)."""

    duration: Positive | None = None
    speed: Annotated[float, Field(gt=0, le=1e6)] | None = None
    #: At most this many nodes per ``count`` group.
    count: Annotated[int, Field(ge=1, le=10_000)] | None = None


class Defaults(Strict):
    """``[defaults]``: settings of every node unless the node says otherwise."""

    kind: str = "manual"
    heartbeat: Positive = 1.0
    ttl: Positive = 5.0
    sync_interval: Positive = 2.0
    flush_window: Seconds = 0.005
    token: str | None = None
    persist: bool = False
    #: Model parameters by kind: ``[defaults.params.prosumer] turbines = 1``.
    params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    #: Other feature tables (``dispatch``, ``metering``, ...), passed to every node.
    features: dict[str, dict[str, Any]] = Field(default_factory=dict)


class WeatherSpec(Strict):
    """``[weather]``: the synthetic weather that weather events modify."""

    seed: int = 0
    wind_scale_ms: Annotated[float, Field(gt=0, le=100)] = 7.0
    wind_shape: Annotated[float, Field(gt=0, le=10)] = 2.0
    cloudiness: Annotated[float, Field(gt=0, lt=1)] = 0.6
    latitude: Annotated[float, Field(ge=-90, le=90)] = 65.58
    longitude: Annotated[float, Field(ge=-180, le=180)] = 22.15
    #: Simulated seconds between rows of the replayed series.
    resolution: Positive = 300.0


class NodeSpec(Strict):
    """One ``[[nodes]]`` entry: a node, or a group of ``count`` nodes named with ``{i}``."""

    name: Name
    id: Name | None = None
    count: Annotated[int, Field(ge=1, le=10_000)] | None = None
    first: Annotated[int, Field(ge=0)] = 0
    kind: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    features: dict[str, dict[str, Any]] = Field(default_factory=dict)
    token: str | None = None
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    #: False: the node waits for a ``start`` event (it joins later).
    start: bool = True
    persist: bool | None = None
    heartbeat: Positive | None = None
    ttl: Positive | None = None
    sync_interval: Positive | None = None
    flush_window: Seconds | None = None


class LinkSpec(Strict):
    """``[links]`` (or ``[[links]]``): a generated topology and/or explicit pairs."""

    generator: Literal["ring", "grid", "random", "feeder"] | None = None
    nodes: Selector = "*"
    degree: Annotated[float, Field(ge=1, le=64)] = 4.0
    branching: Annotated[int, Field(ge=1, le=64)] = 3
    seed: int | None = None
    pairs: list[tuple[str, str]] = Field(default_factory=list)


class WeatherChange(Strict):
    """A weather event: from now on the wind (m/s) and/or cloud cover are these; ``reset`` goes back."""

    wind_ms: Annotated[float, Field(ge=0, le=100)] | None = None
    cloud: Annotated[float, Field(ge=0, le=1)] | None = None
    reset: bool = False

    @model_validator(mode="after")
    def _says_something(self) -> "WeatherChange":
        if not self.reset and self.wind_ms is None and self.cloud is None:
            raise ValueError("a weather change sets wind_ms and/or cloud, or reset = true")
        return self


class FaultSpec(Strict):
    """A fault event: the share of messages dropped, duplicated, reordered, and their delay."""

    drop: Annotated[float, Field(ge=0, le=1)] = 0.0
    duplicate: Annotated[float, Field(ge=0, le=1)] = 0.0
    reorder: Annotated[float, Field(ge=0, le=1)] = 0.0
    delay_ms: tuple[float, float] = (0.0, 0.0)
    reorder_ms: tuple[float, float] = (50.0, 250.0)

    @property
    def is_clear(self) -> bool:
        return self == FaultSpec()


#: Keys of a timeline event that name its action; exactly one per event.
ACTIONS = ("send", "link", "unlink", "weather", "kill", "restart", "stop", "start", "partition", "heal", "faults",
           "mark")  # fmt: skip


class Event(Strict):
    """One ``[[timeline]]`` entry: one action at run time ``at``."""

    at: Seconds
    label: str | None = None
    send: Selector | None = None
    msg_type: str | None = Field(None, alias="msgType")
    msg: dict[str, Any] = Field(default_factory=dict)
    token: str | None = None
    status: Annotated[int, Field(ge=100, le=599)] | None = None
    link: tuple[str, str] | None = None
    unlink: tuple[str, str] | None = None
    weather: WeatherChange | None = None
    kill: Selector | None = None
    restart: Selector | None = None
    stop: Selector | None = None
    start: Selector | None = None
    partition: list[Selector] | None = Field(None, min_length=2)
    heal: Literal[True] | None = None
    faults: FaultSpec | None = None
    mark: str | None = None

    @model_validator(mode="after")
    def _one_action(self) -> "Event":
        given = self.actions()
        if len(given) != 1:
            raise ValueError(f"an event has exactly one action of {', '.join(ACTIONS)}; this one has "
                             f"{', '.join(given) if given else 'none'}")  # fmt: skip
        if self.send is not None and not self.msg_type:
            raise ValueError("a send needs msgType (and usually msg)")
        if self.send is None and (self.msg_type or self.msg or self.token or self.status):
            raise ValueError("msgType, msg, token and status belong to a send")
        return self

    def actions(self) -> list[str]:
        """The action keys this event sets."""
        return [name for name in ACTIONS if getattr(self, name) is not None]

    @property
    def action(self) -> str:
        return self.actions()[0]



class _ExpectationHolder(BaseModel):
    item: Expectation


# ----------------------------------------------------------------------------- the whole file
@dataclass(frozen=True)
class Scenario:
    """A validated scenario file."""

    path: Path
    info: ScenarioInfo
    clock: ClockSpec
    quick: QuickSpec = field(default_factory=QuickSpec)
    defaults: Defaults = field(default_factory=Defaults)
    weather: WeatherSpec = field(default_factory=WeatherSpec)
    nodes: tuple[NodeSpec, ...] = ()
    links: tuple[LinkSpec, ...] = ()
    timeline: tuple[Event, ...] = ()
    expect: tuple[Expectation, ...] = ()
    source: str = ""

    @property
    def folder(self) -> Path:
        """Relative file names in the scenario (CSV files) are relative to this."""
        return self.path.parent


_TABLES: dict[str, type[BaseModel]] = {"scenario": ScenarioInfo, "clock": ClockSpec, "quick": QuickSpec,
                                       "defaults": Defaults, "weather": WeatherSpec}  # fmt: skip
_ARRAYS: dict[str, type[BaseModel]] = {"nodes": NodeSpec, "links": LinkSpec, "timeline": Event}
_REQUIRED = ("scenario", "clock", "nodes")


def load(path: str | Path) -> Scenario:
    """Read and validate a scenario file; raise :class:`ScenarioError` with every problem."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        collector = Collector(str(path), SourceLines(""))
        collector.add((), f"cannot read the file: {exc.strerror or exc}")
        collector.raise_if_any()
        raise AssertionError("unreachable") from None
    return loads(text, path)


def loads(text: str, path: Path = Path("<scenario>")) -> Scenario:
    """Validate scenario ``text`` (``path`` names it and anchors relative files)."""
    collector = Collector(str(path), SourceLines(text))
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        collector.problems.append(Problem("", f"not valid TOML: {exc}", int(match.group(1)) if match else None))
        collector.raise_if_any()
        raise AssertionError("unreachable") from None
    parts, positions = _validate_parts(data, collector)
    from .checks import check  # here: checks import this module's models

    scenario = Scenario(path=path, source=text, **parts)
    check(scenario, Positions(collector, positions, timed="clock" in positions))
    collector.raise_if_any()
    return scenario


class Positions:
    """The collector, and where each validated array entry was in the file.

    An entry that failed validation is left out of the scenario, so the
    cross-checks ask here for the index the user sees (``timeline[3]``).
    """

    def __init__(self, collector: Collector, positions: dict[str, list[int]], timed: bool) -> None:
        self.collector = collector
        self.positions = positions
        #: Whether ``[clock]`` is valid, so times can be compared with its duration.
        self.timed = timed

    def add(self, path: KeyPath, message: str) -> None:
        """Record a problem; ``path`` counts validated entries, translated here."""
        if len(path) >= 2 and isinstance(path[1], int) and isinstance(path[0], str) and path[0] in self.positions:
            path = (path[0], self.positions[path[0]][path[1]], *path[2:])
        self.collector.add(path, message)


def _validate_parts(data: dict[str, Any], collector: Collector) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """Each table and array entry validated on its own, so one bad entry hides nothing else.

    Returns the valid parts and, per array, the file index of each valid entry
    (plus ``"clock": []`` when the clock is valid).
    """
    parts: dict[str, Any] = {}
    positions: dict[str, list[int]] = {}
    for key in data:
        if key not in _TABLES and key not in _ARRAYS and key != "expect":
            collector.add((key,), f"unknown table; known: {', '.join([*_TABLES, *_ARRAYS, 'expect'])}")
    for key in _REQUIRED:
        if key not in data:
            collector.add((), f"missing [{key}]" if key != "nodes" else "missing [[nodes]]: a scenario needs nodes")
    for key, model in _TABLES.items():
        if key in data:
            value = _one(model, data[key], (key,), collector)
            if value is not None:
                parts["info" if key == "scenario" else key] = value
    if "clock" in parts:
        positions["clock"] = []
    parts.setdefault("info", ScenarioInfo(name="(invalid)"))
    parts.setdefault("clock", ClockSpec(duration=1.0))
    for key, model in [*_ARRAYS.items(), ("expect", _ExpectationHolder)]:
        found = _many(model, data.get(key, []), (key,), collector, wrap=key == "expect")
        parts[key] = tuple(value for _, value in found)
        positions[key] = [index for index, _ in found]
    return parts, positions


def _many(model: type[BaseModel], raw: Any, path: KeyPath, collector: Collector,
          wrap: bool = False) -> list[tuple[int, Any]]:  # fmt: skip
    if isinstance(raw, dict):  # [links] as one table rather than an array of tables
        value = _one(model, {"item": raw} if wrap else raw, path, collector, wrap)
        return [(0, value)] if value is not None else []
    if not isinstance(raw, list):
        collector.add(path, f"must be an array of tables ([[{path[0]}]]), got {type(raw).__name__}")
        return []
    items = []
    for index, entry in enumerate(raw):
        value = _one(model, {"item": entry} if wrap else entry, (*path, index), collector, wrap)
        if value is not None:
            items.append((index, value))
    return items


def _one(model: type[BaseModel], raw: Any, path: KeyPath, collector: Collector, wrap: bool = False) -> Any:
    if not isinstance(raw if not wrap else raw["item"], dict):
        collector.add(path, "must be a table")
        return None
    try:
        value = model.model_validate(raw)
    except ValidationError as exc:
        for loc, messages in _by_key(exc, wrap).items():
            collector.add((*path, *loc), " or ".join(messages))
        return None
    return value.item if wrap else value  # type: ignore[attr-defined]


def _by_key(exc: ValidationError, wrap: bool) -> dict[tuple[Any, ...], list[str]]:
    """Errors by the file's key path: a union's alternatives become one problem."""
    found: dict[tuple[Any, ...], list[str]] = {}
    for error in exc.errors():
        loc = tuple(error["loc"])[1:] if wrap else tuple(error["loc"])
        if wrap and loc and isinstance(loc[0], str) and loc[0] in CHECK_TAGS:
            loc = loc[1:]  # the discriminator's tag is not a key of the file
        # pydantic names union members in the path ("literal['end']", "function-before[...]"): not keys
        loc = tuple(part for part in loc if not (isinstance(part, str) and ("[" in part or "(" in part)))
        message = _message(error)
        if message not in found.setdefault(loc, []):
            found[loc].append(message)
    return found


def _message(error: Any) -> str:
    message = str(error["msg"])
    if error["type"] == "extra_forbidden":
        return "unknown key"
    if error["type"] == "missing":
        return "missing (required)"
    if error["type"] == "union_tag_invalid":
        return f"unknown check; known: {', '.join(CHECK_TAGS)}"
    if error["type"] == "union_tag_not_found":
        return f"needs check = one of {', '.join(CHECK_TAGS)}"
    return message.removeprefix("Value error, ")
