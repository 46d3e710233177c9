"""Everything that defines one node, as given on the command line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from protocol.gossip import GossipConfig


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """One node's identity, endpoint, credentials and timing.

    - ``flush_window_s``: how long changes are coalesced before one
      ``UpdateNet`` per sibling is pushed; 0 pushes as soon as the actor's
      mailbox has no more queued work.
    """

    # (frozen dataclass with slots: every field below is documented where declared)

    id: str
    name: str
    host: str = "127.0.0.1"
    port: int = 8081
    token: str | None = None
    data_dir: Path | None = None
    kind: str = "manual"
    gossip: GossipConfig = field(default_factory=GossipConfig)
    flush_window_s: float = 0.005
    #: Per-feature settings, by feature name (from a node TOML file or flags).
    features: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: Keep /state, /grid and other reads behind a viewer token.
    private_reads: bool = False

    def feature(self, name: str) -> Mapping[str, Any] | None:
        """The settings of feature ``name``, or None when it is not configured."""
        return self.features.get(name)

    @property
    def address(self) -> str:
        """``host:port`` as peers reach this node."""
        return f"{self.host}:{self.port}"

    @property
    def store_path(self) -> Path | None:
        """The SQLite file, or None to keep state in memory only."""
        return self.data_dir / "node.sqlite3" if self.data_dir else None
