"""Support chat between nodes, routed peer to peer: the I/O half of ``protocol.chat`` and ``nodes.chatroute``.

``feature`` (the node's side: relaying, receipts), ``resend`` (end-to-end resends), ``store`` (SQLite
tables), ``routes`` (``/chats``, ``/whoami``), ``views`` (their answers),
``config`` (the ``[chat]`` table). Every node runs it; :func:`make` and
:func:`routes` are what ``grid/features.py`` registers.
"""

from __future__ import annotations

from ..node.config import NodeConfig
from .config import ChatSettings
from .feature import ChatFeature
from .routes import routes


def make(config: NodeConfig) -> ChatFeature:
    """The chat feature of a node (defaults without a ``[chat]`` table); ValueError on a bad table."""
    return ChatFeature(ChatSettings.from_config(config))


__all__ = ["ChatFeature", "ChatSettings", "make", "routes"]
