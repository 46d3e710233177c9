"""The node's HTTP endpoint."""

from .app import NODE, NodeHandle, make_app

__all__ = ["NODE", "NodeHandle", "make_app"]
