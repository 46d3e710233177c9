"""Problems found in a scenario file, collected and raised once, with line numbers.

``tomllib`` keeps no positions, so :class:`SourceLines` recovers them with a
light scan of the text: it follows table headers (``[links]``,
``[[nodes]]``, counting array entries) and ``key =`` lines, and maps a key
path such as ``("nodes", 2, "params", "turbines")`` to the line that defines
it, or to the nearest enclosing table when the key itself is not on a line of
its own (inline tables, missing keys).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

Path = tuple[str | int, ...]

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_\-]+(?:\s*\.\s*[A-Za-z0-9_\-"']+)*)\s*=""")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario file."""

    where: str  #: dotted key path, e.g. ``nodes[2].kind``; "" for the whole file
    message: str
    line: int | None = None

    def __str__(self) -> str:
        place = f"line {self.line}: " if self.line else ""
        return f"{place}{self.where + ': ' if self.where else ''}{self.message}"


class ScenarioError(ValueError):
    """A scenario file that cannot run: every problem found, in file order."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = sorted(problems, key=lambda p: (p.line or 0, p.where))
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s):\n{lines}")


def dotted(path: Iterable[str | int]) -> str:
    """``("nodes", 2, "kind")`` -> ``nodes[2].kind``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _split_key(raw: str) -> list[str]:
    return [part.strip().strip("\"'") for part in raw.split(".")]


class SourceLines:
    """Where each key of a TOML text is defined (1-based line numbers)."""

    def __init__(self, text: str) -> None:
        self.lines: dict[Path, int] = {}
        counts: dict[tuple[str, ...], int] = {}
        table: Path = ()
        for number, line in enumerate(text.splitlines(), 1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            header = _HEADER.match(line)
            if header and not _KEY.match(line):
                table = self._enter(header.group(1) == "[[", _split_key(header.group(2)), counts)
                self.lines.setdefault(table, number)
                continue
            key = _KEY.match(line)
            if key:
                self.lines.setdefault(table + tuple(_split_key(key.group(1))), number)

    def _enter(self, is_array: bool, names: list[str], counts: dict[tuple[str, ...], int]) -> Path:
        """The path of a table header; arrays of tables get the entry's index."""
        path: list[str | int] = []
        for depth, name in enumerate(names):
            path.append(name)
            key = tuple(str(p) for p in path)
            last = depth == len(names) - 1
            if last and is_array:
                counts[key] = counts.get(key, -1) + 1
                # A new array entry forgets the counts of arrays nested in the old one.
                for other in [k for k in counts if len(k) > len(key) and k[: len(key)] == key]:
                    del counts[other]
            if key in counts:
                path.append(counts[key])
        return tuple(path)

    def line_of(self, path: Path) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None


class Collector:
    """Gathers problems with their lines while a file is checked."""

    def __init__(self, source: str, lines: SourceLines) -> None:
        self.source = source
        self.where = lines
        self.problems: list[Problem] = []

    def add(self, path: Path, message: str) -> None:
        """Record one problem at key ``path``."""
        self.problems.append(Problem(dotted(path), message, self.where.line_of(path)))

    def raise_if_any(self) -> None:
        """Raise :class:`ScenarioError` listing every problem, if there is one."""
        if self.problems:
            raise ScenarioError(self.source, self.problems)
