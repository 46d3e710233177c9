"""The base of every wire message: frozen, strict about unknown fields, camelCase."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class Message(BaseModel):
    """An immutable, tagged wire message.

    Subclasses set ``msg_type`` (the ``msgType`` on the wire). Field names are
    snake_case in Python and camelCase on the wire; both spellings are accepted
    on input, camelCase is always produced on output.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        allow_inf_nan=False,
    )

    msg_type: ClassVar[str] = ""
    #: Whether nodes send this type to each other as a Tell (gossip, replication).
    #: Any other Tell is an operator's and needs an operator token, whatever
    #: ``returnId`` it claims. (Ask and Response always travel between nodes.)
    from_peers: ClassVar[bool] = False

    def to_wire(self) -> dict[str, Any]:
        """The camelCase dict sent as the envelope's ``msg``."""
        return self.model_dump(by_alias=True, mode="json", exclude_none=True)
