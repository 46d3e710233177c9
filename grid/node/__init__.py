"""The node: one pykka actor per grid node, and the reports it serves."""

from .actor import LoopNodeActor, NodeActor, Observer
from .commands import Inbound, Leave, Outcome, Query
from .config import NodeConfig

__all__ = ["Inbound", "Leave", "LoopNodeActor", "NodeActor", "NodeConfig", "Observer", "Outcome", "Query"]
