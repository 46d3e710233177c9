"""The ``[chat]`` table of a node's TOML file, checked once at start. Every key is optional.

```toml
[chat]
direct = true          # try the target's own address before the sibling links
support = "1"          # the node this node's operator chats with by default (the dashboard opens it)
resend_s = 15.0        # end to end: resend a chat not yet delivered after this long (doubling, to 120 s)
ack_timeout_s = 3.0    # per hop: an attempt not acknowledged this long has failed
retry_base_s = 0.5     # per hop: back-off after the n-th failure is base * 2**(n-1) ...
retry_cap_s = 10.0     # ... at most this
hold_s = 300.0         # per hop: how long a relay may wait for an unreachable target
```

``direct = false`` makes a node use its sibling links only: for a node that
cannot open connections beyond its neighbours (a household behind its
feeder), and for tests that must see chats relayed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import TypeAdapter, ValidationError

from nodes.chatroute import RouterConfig
from protocol.limits import NodeId

from ..node.config import NodeConfig

#: Longest wait between two end-to-end resends of an undelivered chat.
RESEND_CAP_S = 120.0

_SECONDS = ("resend_s", "ack_timeout_s", "retry_base_s", "retry_cap_s", "hold_s")
_KNOWN = {"direct", "support", *_SECONDS}
_node_id = TypeAdapter(NodeId)


@dataclass(frozen=True)
class ChatSettings:
    """What one node's chat feature runs with."""

    router: RouterConfig = field(default_factory=RouterConfig)
    support: str | None = None
    resend_s: float = 15.0

    @classmethod
    def from_config(cls, config: NodeConfig) -> "ChatSettings":
        """The node's settings (defaults without a ``[chat]`` table); ValueError if wrong."""
        try:
            return cls.from_mapping(config.feature("chat") or {})
        except ValueError as exc:
            raise ValueError(f"[chat]: {exc}") from None

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> "ChatSettings":
        """Settings from the ``[chat]`` table."""
        unknown = sorted(set(raw) - _KNOWN)
        if unknown:
            raise ValueError(f"unknown settings {unknown}; known: {sorted(_KNOWN)}")
        direct = raw.get("direct", True)
        if not isinstance(direct, bool):
            raise ValueError(f"direct must be true or false, got {direct!r}")
        seconds = {key: _seconds(key, raw[key]) for key in _SECONDS if key in raw}
        resend_s = seconds.pop("resend_s", cls.resend_s)
        router = replace(RouterConfig(), direct=direct, **seconds)
        if router.retry_cap_s < router.retry_base_s:
            raise ValueError("retry_cap_s must be at least retry_base_s")
        return cls(router=router, support=_support(raw.get("support")), resend_s=resend_s)


def _seconds(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 86_400:
        raise ValueError(f"{key} must be a number of seconds in (0, 86400], got {value!r}")
    return float(value)


def _support(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return _node_id.validate_python(value)
    except ValidationError:
        raise ValueError(f"support must be a node id, got {value!r}") from None
