"""Durable node state in an embedded SQLite database."""

from .sqlite import NodeStore, SiblingRecord

__all__ = ["NodeStore", "SiblingRecord"]
