"""How envelopes travel between nodes: over HTTP, or in memory for tests and large runs."""

from .base import AskCallback, FailCallback, Transport
from .memory import MemoryTransport

__all__ = ["AskCallback", "FailCallback", "MemoryTransport", "Transport"]
