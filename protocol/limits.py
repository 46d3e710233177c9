"""Input limits and constrained field types shared by every message.

Every number that arrives from the network is finite and bounded, every string
is short, and ids are normalised to strings, so a hostile or broken sender can
neither crash a node nor make it hold unbounded state.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field, StringConstraints

#: Largest request body a node reads, in bytes (64 KiB).
MAX_BODY_BYTES = 64 * 1024
#: Longest ordinary string (names, ids, addresses).
MAX_NAME_LEN = 128
#: Longest free text (messages, descriptions).
MAX_TEXT_LEN = 4096
#: Largest power value in kW accepted from an operator (1 TW).
MAX_KILOWATTS = 1e9
#: Most entries in one UpdateNet batch / digest.
MAX_ENTRIES = 5000
#: Most siblings a single node may have.
MAX_SIBLINGS = 256


def _id_to_str(value: object) -> object:
    """Ids arrive as strings or integers; both mean the same id."""
    if isinstance(value, bool):
        return value  # let validation reject booleans instead of coercing
    if isinstance(value, int):
        return str(value)
    return value


#: A node or message id: a short string; integers are accepted and normalised.
NodeId = Annotated[
    str,
    BeforeValidator(_id_to_str),
    StringConstraints(min_length=1, max_length=MAX_NAME_LEN, pattern=r"^[A-Za-z0-9_.:\-]+$"),
]
#: A human-readable name.
Name = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME_LEN)]
#: Free text.
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT_LEN)]
#: "host:port" of a node's HTTP endpoint.
Address = Annotated[
    str,
    StringConstraints(min_length=3, max_length=MAX_NAME_LEN, pattern=r"^[A-Za-z0-9_.\-\[\]:]+:[0-9]{1,5}$"),
]
#: A power reading in kW: a JSON number (not a string or boolean), finite, non-negative, bounded.
Kilowatts = Annotated[float, Field(ge=0, le=MAX_KILOWATTS, allow_inf_nan=False, strict=True)]
#: A non-negative integer that fits comfortably in 64 bits.
Counter = Annotated[int, Field(ge=0, le=2**62)]
#: Milliseconds since the Unix epoch.
EpochMillis = Annotated[int, Field(ge=0, le=2**53)]
#: An integer power in watts (may be negative for signed quantities).
SignedWatts = Annotated[int, Field(ge=-(10**12), le=10**12)]
