"""Placeholders in timeline messages, filled in when the event runs.

Addresses and ports are only known once nodes run (free ports), and dispatch
windows need the wall clock, so message values may say:

- ``"{B.address}"``, ``"{B.id}"``, ``"{B.name}"``, ``"{B.port}"``,
  ``"{B.token}"``: facts of node ``B`` (a whole ``{B.port}`` becomes a number);
- ``"{now_ms}"``, ``"{now_ms + 60000}"``, ``"{now_ms - 5000}"``: wall-clock
  epoch milliseconds when the event runs (a whole one becomes a number).

Anything else in braces is left as it is.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping

_FIELD = re.compile(r"\{([^{}]+)\}")
_NOW = re.compile(r"^now_ms\s*(?:([+-])\s*(\d+))?$")
NODE_FACTS = ("address", "id", "name", "port", "token")

#: Answers ``(node name, fact)`` with the fact's value, or raises ``KeyError``.
Facts = Callable[[str, str], Any]


def fill(value: Any, facts: Facts, now_ms: int) -> Any:
    """``value`` with every placeholder replaced, recursively through dicts and lists."""
    if isinstance(value, str):
        return _fill_text(value, facts, now_ms)
    if isinstance(value, Mapping):
        return {key: fill(item, facts, now_ms) for key, item in value.items()}
    if isinstance(value, list):
        return [fill(item, facts, now_ms) for item in value]
    return value


def _resolve(expression: str, facts: Facts, now_ms: int) -> Any:
    expression = expression.strip()
    now = _NOW.match(expression)
    if now:
        sign, amount = now.group(1), int(now.group(2) or 0)
        return now_ms - amount if sign == "-" else now_ms + amount
    node, dot, fact = expression.rpartition(".")
    if dot and fact in NODE_FACTS:
        return facts(node, fact)
    raise LookupError(expression)


def _fill_text(text: str, facts: Facts, now_ms: int) -> Any:
    whole = _FIELD.fullmatch(text)
    if whole:
        try:
            return _resolve(whole.group(1), facts, now_ms)
        except LookupError:
            return text

    def replace(match: re.Match[str]) -> str:
        try:
            return str(_resolve(match.group(1), facts, now_ms))
        except LookupError:
            return match.group(0)

    return _FIELD.sub(replace, text)


def referenced_nodes(value: Any) -> set[str]:
    """Names of the nodes ``value``'s placeholders refer to."""
    found: set[str] = set()
    if isinstance(value, str):
        for match in _FIELD.finditer(value):
            node, dot, fact = match.group(1).strip().rpartition(".")
            if dot and fact in NODE_FACTS:
                found.add(node)
    elif isinstance(value, Mapping):
        for item in value.values():
            found |= referenced_nodes(item)
    elif isinstance(value, list):
        for item in value:
            found |= referenced_nodes(item)
    return found
