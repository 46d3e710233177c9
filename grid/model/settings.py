"""A node's model settings: its kind, its parameters and how it is stepped.

They come from ``NodeConfig.kind`` and the ``[model]`` table of
``NodeConfig.features`` (a node TOML file, or the CLI flags that fill it):

    [model]
    kind = "prosumer"       # must agree with --kind when both are given
    turbines = 2            # any parameter of nodes.factory.PARAMETERS[kind]
    battery_kwh = 13.5
    seed = 7                # the node's own randomness (load noise); default from its id
    step_s = 60             # simulated seconds per model step
    balancing = true        # react to the grid (false: the bench's baseline)

``load_csv`` and ``weather_csv`` name files (relative to the working
directory); they are read here, since ``nodes`` does no I/O.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nodes import KINDS, NodeModel, make_model
from nodes.factory import resolve_params

#: Keys of the ``[model]`` table that are not model parameters.
RESERVED = ("kind", "seed", "step_s", "balancing", "min_interval_s")
#: Simulated seconds per step by default: a minute, the resolution of load profiles.
DEFAULT_STEP_S = 60.0
#: Real seconds between two steps at least: bounds the step rate (and the gossip
#: it causes) of one node at any speed to 20 per second.
DEFAULT_MIN_INTERVAL_S = 0.05
#: Parameters that name a file whose text the model replays.
FILE_PARAMS = ("load_csv", "weather_csv")


@dataclass(frozen=True)
class ModelSettings:
    """Everything the model feature needs to build and step a node's model."""

    kind: str = "manual"
    params: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    step_s: float = DEFAULT_STEP_S
    balancing: bool = True
    min_interval_s: float = DEFAULT_MIN_INTERVAL_S

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown node kind {self.kind!r}; known: {', '.join(KINDS)}")
        for name, value in (("step_s", self.step_s), ("min_interval_s", self.min_interval_s)):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")

    @classmethod
    def parse(cls, kind: str, table: Mapping[str, Any] | None, node_id: str) -> "ModelSettings":
        """Settings of a node of ``kind`` from its ``[model]`` table; ``ValueError`` if wrong."""
        table = dict(table or {})
        named = table.get("kind")
        if named is not None and named != kind:
            raise ValueError(f"[model] kind {named!r} disagrees with the node's kind {kind!r}")
        params = {name: value for name, value in table.items() if name not in RESERVED}
        return cls(
            kind=kind,
            params=params,
            seed=_integer(table.get("seed", zlib.crc32(node_id.encode())), "seed"),
            step_s=_number(table.get("step_s", DEFAULT_STEP_S), "step_s"),
            balancing=_flag(table.get("balancing", True), "balancing"),
            min_interval_s=_number(table.get("min_interval_s", DEFAULT_MIN_INTERVAL_S), "min_interval_s"),
        )

    def model_params(self) -> dict[str, Any]:
        """The parameters for ``make_model``: checked, files replaced by their text."""
        given = {str(name).lstrip("-").replace("-", "_"): value for name, value in self.params.items()}
        resolve_params(self.kind, given)  # unknown names and bad values fail before any file is read
        for name in FILE_PARAMS:
            if given.get(name) is not None:
                given[name] = _read(name, given[name])
        return given

    def build(self) -> NodeModel:
        """The node's model; ``ValueError`` for bad parameters or unreadable files."""
        return make_model(self.kind, self.model_params(), seed=self.seed)

    def given(self) -> dict[str, Any]:
        """The parameters set explicitly (for /state), files by name."""
        return {str(k).lstrip("-").replace("-", "_"): v for k, v in self.params.items()}


def _read(name: str, path: Any) -> str:
    try:
        return Path(str(path)).read_text()
    except OSError as exc:
        raise ValueError(f"{name}: cannot read {path}: {exc.strerror or exc}") from None


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    return float(value)


def _integer(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return value


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value
