"""The registry of node features: how each is built for a node, and its HTTP routes.

A feature module registers one :class:`FeatureSpec` here (one line in
:data:`SPECS`). The node service builds every feature whose ``make`` returns
one for the node's configuration, and the HTTP app serves every spec's routes
(a route of a feature the node does not run answers 404).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from aiohttp import web

from . import dashboard, dispatch, metering
from .chat import make as make_chat, routes as chat_routes
from .metrics import feature as metrics
from .model import make_model_feature
from .node.config import NodeConfig
from .node.feature import Feature
from .security import feature as security


@dataclass(frozen=True)
class FeatureSpec:
    """How to build one feature and which HTTP routes serve it."""

    name: str
    make: Callable[[NodeConfig], Feature | None]
    routes: Callable[[], list[web.RouteDef]] = field(default=lambda: [])


def specs() -> list[FeatureSpec]:
    """Every known feature, in the order they attach to a node."""
    return [
        FeatureSpec("security", security.make),  # grid keyring and KeyRotation (grid/security/)
        FeatureSpec("model", make_model_feature),  # node kinds, clock, Control (grid/model/)
        FeatureSpec("dispatch", dispatch.make, dispatch.routes),  # demand response, audit log (grid/dispatch/)
        FeatureSpec("metering", metering.MeteringFeature.from_config, metering.routes),  # meters (grid/metering/)
        FeatureSpec("dashboard", dashboard.make, dashboard.routes),  # the page at GET / (grid/dashboard/)
        FeatureSpec("metrics", metrics.make, metrics.routes),  # GET /metrics, Prometheus (grid/metrics/)
        FeatureSpec("chat", make_chat, chat_routes),  # support chat routed peer to peer (grid/chat/)
    ]


def build_features(config: NodeConfig) -> list[Feature]:
    """The features this node runs."""
    built = (spec.make(config) for spec in specs())
    return [feature for feature in built if feature is not None]


def feature_routes() -> list[web.RouteDef]:
    """The HTTP routes of every feature."""
    return [route for spec in specs() for route in spec.routes()]
