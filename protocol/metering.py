"""``MeterReading``: one smart-meter sample, in the original simulator's JSON shape.

The original platform's simulator sent, for every 10-minute interval::

    {"timestamp": 1570654800000, "device_id": "5c2494a3-...", "measurement_value": 0.1}

That object is accepted as-is as the ``msg`` of an envelope (``msgType``
``MeterReading``), in JSON or msgpack; camelCase keys (``deviceId``,
``measurementValue``) are accepted too and are what a node writes.

Rules:
- ``timestamp`` is epoch milliseconds (integers as numbers or digit strings).
- ``device_id`` is a short id; integers are accepted and normalised to strings.
- ``measurement_value`` is the energy of the interval in kWh: finite, >= 0.
- The message checks shape and type only; the node's metering feature checks the
  meaning (a plausible instant, a device it owns, a bounded size) with
  ``nodes.metering``, so both ingest paths refuse the same readings.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field

from .base import Message
from .limits import EpochMillis, NodeId


def _no_bool(value: object) -> object:
    """``true`` is not 1 here: a boolean where a number belongs is a broken sender."""
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    return value


#: A metering device's id: the same alphabet as node ids (UUIDs fit).
DeviceId = NodeId
#: Epoch milliseconds of a reading.
ReadingTime = Annotated[EpochMillis, BeforeValidator(_no_bool)]
#: Energy of one metering interval in kWh.
KilowattHours = Annotated[float, BeforeValidator(_no_bool), Field(ge=0, allow_inf_nan=False)]


class MeterReading(Message):
    """Energy (kWh) a device measured in the interval stamped ``timestamp``.

    The reading counts towards the clock hour that contains ``timestamp``.
    """

    msg_type = "MeterReading"
    timestamp: ReadingTime
    device_id: DeviceId
    measurement_value: KilowattHours


__all__ = ["DeviceId", "KilowattHours", "MeterReading", "ReadingTime"]
