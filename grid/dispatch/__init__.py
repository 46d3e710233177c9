"""Demand-response dispatch on a node: the I/O half of ``protocol/dispatch.py`` and ``nodes/dispatch.py``.

Configured by the ``[dispatch]`` table of a node's TOML file (:mod:`.config`);
a node without it does not run the feature. :func:`make` and :func:`routes`
are what ``grid/features.py`` registers.
"""

from __future__ import annotations

from ..node.config import NodeConfig
from .config import DispatchSettings, parse
from .feature import DispatchFeature
from .routes import routes


def make(config: NodeConfig) -> DispatchFeature | None:
    """The feature for a node with a ``[dispatch]`` table; raises ValueError on a bad one."""
    table = config.feature("dispatch")
    return None if table is None else DispatchFeature(parse(table))


__all__ = ["DispatchFeature", "DispatchSettings", "make", "parse", "routes"]
