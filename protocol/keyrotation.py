"""``KeyRotation``: an operator changes a node's grid keyring without downtime.

Rules:
- Sent by an operator (a plain Tell with a ``manager`` token, see
  :data:`protocol.roles.REQUIRED_ROLE`), never accepted from a peer: holding
  the grid key lets a node talk to the grid, not reconfigure other nodes.
- ``install`` adds a key that verifies from now on (the first key of an empty
  keyring also signs, which ends development mode); ``use`` makes an
  installed key the one that signs; ``remove`` stops accepting a key (never
  the active one). The order that keeps every message valid across the grid:
  install on every node, then use on every node, then remove on every node.
- ``secret`` is given with ``install`` only, as printable ASCII of at least
  :data:`protocol.keyring.MIN_SECRET_BYTES` characters, and is never echoed back.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from .base import Message
from .keyring import MIN_SECRET_BYTES

#: A grid key id, as :class:`protocol.keyring.Keyring` accepts it.
KeyId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
#: A grid key secret: printable ASCII without spaces, so it fits a flag, a TOML string or an env variable.
KeySecret = Annotated[str, StringConstraints(min_length=MIN_SECRET_BYTES, max_length=256, pattern=r"^[\x21-\x7e]+$")]


class KeyRotation(Message):
    """Install, use or remove one grid key at the node that receives it."""

    msg_type = "KeyRotation"
    action: Literal["install", "use", "remove"]
    key_id: KeyId
    secret: Annotated[KeySecret | None, Field(repr=False)] = None

    @model_validator(mode="after")
    def _secret_only_to_install(self) -> "KeyRotation":
        if self.action == "install" and self.secret is None:
            raise ValueError("install needs the key's secret")
        if self.action != "install" and self.secret is not None:
            raise ValueError(f"{self.action} takes no secret")
        return self

    def secret_bytes(self) -> bytes:
        """The secret as the keyring stores it (the ASCII bytes as given)."""
        return (self.secret or "").encode("ascii")


__all__ = ["KeyId", "KeyRotation", "KeySecret"]
