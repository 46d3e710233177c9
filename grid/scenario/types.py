"""Value types shared by the scenario tables: durations, node selectors, strict models."""

from __future__ import annotations

import re
from typing import Annotated, Any, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|sec|m|min|h)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: Any) -> Any:
    """Seconds from ``12``, ``0.5``, ``"500ms"``, ``"2s"``, ``"1.5m"`` or ``"1h"``."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like '2s', not a boolean")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNIT_S[match.group(2)]
        raise ValueError(f"not a duration: {value!r} (write e.g. 500ms, 2s, 1.5m, 1h)")
    return value


Seconds = Annotated[float, BeforeValidator(parse_duration), Field(ge=0, le=7 * 86400, allow_inf_nan=False)]
Positive = Annotated[float, BeforeValidator(parse_duration), Field(gt=0, le=7 * 86400, allow_inf_nan=False)]
#: Node names or globs (``house-*``): one string or a list.
Selector = Union[str, list[str]]
Name = Annotated[str, Field(min_length=1, max_length=128)]


class Strict(BaseModel):
    """Unknown keys are errors: a typo must not silently do nothing."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)


