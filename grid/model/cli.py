"""CLI glue of the model feature: one option per model parameter, and the tables they fill.

The options are generated from ``nodes.factory.PARAMETERS``, so ``grid node
--help`` lists every parameter of every kind with its meaning, and a new
parameter needs no CLI change: ``--kind prosumer --turbines 2 --battery-kwh 13.5``.
Flags win over the node TOML file's ``[model]`` and ``[clock]`` tables.
"""

from __future__ import annotations

import functools
import inspect
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from nodes import KINDS, PARAMETERS, Param

from ..clock import SimClock
from .settings import ModelSettings

#: Prefix of the generated parameters' Python names (never clashes with the command's own).
PREFIX = "model__"
PANEL = "Model parameters (see docs/models.md)"
#: The keyword through which the wrapped command receives the given parameters.
KEYWORD = "model_params"


def unique_params() -> dict[str, tuple[Param, list[str]]]:
    """Each parameter name once, with the kinds that take it."""
    found: dict[str, tuple[Param, list[str]]] = {}
    for kind, params in PARAMETERS.items():
        for param in params:
            found.setdefault(param.name, (param, []))[1].append(kind)
    return found


def _option(param: Param, kinds: list[str]) -> inspect.Parameter:
    flag = param.option
    if param.type is bool:
        flag = "--on/--off" if param.name == "on" else f"{flag}/--no-{flag[2:]}"
    value_type: Any = Path if param.name.endswith("_csv") else param.type
    default = "" if param.default is None else f"; default {param.default}"
    # The table says "CSV text" (nodes does no I/O); here the user names a file.
    help_text = f"({', '.join(kinds)}) {param.help.replace('CSV text', 'CSV file')}{default}"
    option = typer.Option(flag, help=help_text, rich_help_panel=PANEL, show_default=False)
    return inspect.Parameter(PREFIX + param.name, inspect.Parameter.KEYWORD_ONLY, default=None,
                             annotation=Annotated[Optional[value_type], option])  # fmt: skip


def with_model_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``command`` with one option per model parameter.

    ``command`` takes a ``model_params`` keyword: it gets the parameters given
    on the command line (name -> value; files as their path string).
    """
    signature = inspect.signature(command, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name != KEYWORD]
    extra = [_option(param, kinds) for param, kinds in unique_params().values()]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        generated = {name: kwargs.pop(name) for name in list(kwargs) if name.startswith(PREFIX)}
        given = {name[len(PREFIX) :]: _plain(value) for name, value in generated.items() if value is not None}
        return command(**kwargs, **{KEYWORD: given})

    parameters = own + extra
    wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
    return wrapper


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


def configure(
    features: dict[str, Any],
    node_id: str,
    kind: str | None,
    model_params: dict[str, Any] | None,
    model: dict[str, Any],
    clock: dict[str, Any],
) -> str:
    """Merge flags into ``features`` (the TOML tables) and check them; returns the kind.

    ``model`` holds the feature's own flags (``seed``, ``step_s``,
    ``balancing``), ``clock`` the clock's (``speed``, ``start``, ``epoch``);
    ``None`` values are not given. Raises ``typer.BadParameter`` for anything
    the node could not start with.
    """
    table = {**features.get("model", {}), **(model_params or {}), **_given(model)}
    kind = kind or table.get("kind") or "manual"
    if kind not in KINDS:
        raise typer.BadParameter(f"{kind!r}; known kinds: {', '.join(KINDS)}", param_hint="--kind")
    table["kind"] = kind
    features["model"] = table
    clock_table = {**features.get("clock", {}), **_given(clock)}
    if clock_table:
        features["clock"] = clock_table
    try:
        ModelSettings.parse(kind, table, node_id).build()
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=f"{kind} parameters ([model])") from None
    try:
        SimClock.from_settings(clock_table)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--speed/--start/--epoch ([clock])") from None
    return kind


def _given(values: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}
