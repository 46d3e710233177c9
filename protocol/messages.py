"""The message types of the grid protocol, one frozen model per ``msgType``.

Rules:
- The list in :data:`MESSAGE_TYPES` is append-only: a type is never renamed or
  reused, new types go at the end.
- Messages carry facts; routing metadata lives in the envelope.
- Operators speak kW (floats, finite, >= 0); peers gossip integer watts.
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated

from pydantic import Field, model_validator

from .base import Message
from .chat import Chat, ChatAck, ChatReceipt, ChatRelay, ChatTyping
from .control import Control
from .dispatch import Acknowledge, Dispatch, DispatchDigest, DispatchUpdate
from .entry import MAX_INCARNATION, MAX_VERSION, Entry
from .keyrotation import KeyRotation
from .limits import MAX_ENTRIES, Address, Kilowatts, Name, NodeId
from .metering import MeterReading


Incarnation = Annotated[int, Field(ge=0, le=MAX_INCARNATION)]
Version = Annotated[int, Field(ge=0, le=MAX_VERSION)]


class UpdateEnergy(Message):
    """A node's own meter reading: production and consumption in kW."""

    msg_type = "UpdateEnergy"
    production: Kilowatts
    consumption: Kilowatts


class AddSibling(Message):
    """Link two nodes. As a Tell: link to the named node. As Ask/Response: the handshake."""

    msg_type = "AddSibling"
    sibling_name: Name
    sibling_address: Address
    sibling_id: NodeId


class SyncGrid(Message):
    """Anti-entropy. Empty from an operator: reconcile the whole grid.

    Between peers it carries the sender's ``digest`` (origin -> [incarnation,
    version]); the receiver answers with the entries the sender lacks. ``round``
    names a grid-wide sync so each node joins it once; ``reply`` marks a digest
    sent back in answer, which must not be answered with another digest.
    """

    msg_type = "SyncGrid"
    from_peers = True
    digest: Annotated[dict[NodeId, tuple[Incarnation, Version]], Field(max_length=MAX_ENTRIES)] | None = None
    round: NodeId | None = None
    reply: bool = False


class UpdateNet(Message):
    """A batch of entries the receiver is not known to have.

    ``ages_ms[i]`` is how long the sender has held ``entries[i]`` without seeing
    a newer version, so liveness is judged from durations, never from clocks
    of different machines.
    """

    msg_type = "UpdateNet"
    from_peers = True
    entries: Annotated[tuple[Entry, ...], Field(max_length=MAX_ENTRIES)]
    ages_ms: Annotated[tuple[Annotated[int, Field(ge=0, le=2**40)], ...], Field(max_length=MAX_ENTRIES)] = ()

    @model_validator(mode="after")
    def _ages_match_entries(self) -> "UpdateNet":
        if self.ages_ms and len(self.ages_ms) != len(self.entries):
            raise ValueError("agesMs must be empty or as long as entries")
        return self

    def age_of(self, index: int) -> int:
        """Age in ms of the entry at ``index`` (0 when the sender sent none)."""
        return self.ages_ms[index] if self.ages_ms else 0

    @cached_property
    def stamps(self) -> dict[str, int]:
        """origin -> stamp of each entry, in order (read only: receivers share it).

        Receivers compare stamps before anything else; a sender in the same
        process hands them over ready-made (:meth:`trusted`), a decoded
        message computes them once here.
        """
        return {e.origin: e.stamp for e in self.entries}

    @classmethod
    def trusted(cls, entries: tuple[Entry, ...], ages_ms: tuple[int, ...], stamps: dict[str, int]) -> "UpdateNet":
        """Built from a node's own view, without validation; ``stamps`` as :attr:`stamps` would compute."""
        update = cls.model_construct(entries=entries, ages_ms=ages_ms)
        update.__dict__["stamps"] = stamps  # fills the cached property
        return update


class RemoveSibling(Message):
    """Unlink two nodes; like AddSibling, the link is removed on both sides."""

    msg_type = "RemoveSibling"
    from_peers = True
    sibling_id: NodeId


#: Every message type, by its wire name. Append only.
MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.msg_type: cls for cls in (UpdateNet, SyncGrid, AddSibling, UpdateEnergy, RemoveSibling)
}
# Demand-response dispatch (protocol/dispatch.py), appended.
MESSAGE_TYPES.update({cls.msg_type: cls for cls in (Dispatch, Acknowledge, DispatchDigest, DispatchUpdate)})
MESSAGE_TYPES[MeterReading.msg_type] = MeterReading  # smart metering (protocol/metering.py)
MESSAGE_TYPES[KeyRotation.msg_type] = KeyRotation  # grid key rotation (protocol/keyrotation.py)
MESSAGE_TYPES[Control.msg_type] = Control  # plant and battery controls (protocol/control.py)
# Support chat between nodes (protocol/chat.py), appended.
MESSAGE_TYPES.update({cls.msg_type: cls for cls in (Chat, ChatReceipt, ChatTyping, ChatRelay, ChatAck)})


def register(cls: type[Message]) -> type[Message]:
    """Append a message type defined by a feature module (dispatch, metering, ...)."""
    existing = MESSAGE_TYPES.get(cls.msg_type)
    if existing is not None and existing is not cls:
        raise ValueError(f"msgType {cls.msg_type!r} is already taken")
    MESSAGE_TYPES[cls.msg_type] = cls
    return cls


__all__ = [
    "AddSibling",
    "Address",
    "MESSAGE_TYPES",
    "RemoveSibling",
    "SyncGrid",
    "UpdateEnergy",
    "UpdateNet",
    "register",
]
