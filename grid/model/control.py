"""Apply an operator's ``Control`` to a node's model, and describe its controls.

Which controls a kind takes: a plant takes ``status``, ``ratio`` and ``auto``;
a prosumer with a battery takes ``buyBelow``, ``sellAbove`` and ``reserve``;
nothing else takes any. A control the kind cannot take is a 409 (the message is
fine, the node is the wrong one); a policy that is invalid once merged with the
current one (buy above sell) is a 400. Either way nothing changes: everything
is checked before anything is applied.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from nodes import NodeModel
from nodes.balancing import BatteryPolicy
from nodes.plant import PlantModel
from nodes.prosumer import ProsumerModel
from protocol.control import Control
from protocol.errors import BadMessage, Conflict


def apply_control(model: NodeModel, control: Control) -> None:
    """Change ``model`` as ``control`` says, or raise without changing anything."""
    plant, battery = control.plant_controls(), control.battery_controls()
    if plant and not isinstance(model, PlantModel):
        raise Conflict(f"a {model.kind} node has no plant controls ({', '.join(plant)})", code="not_a_plant")
    policy = _new_policy(model, battery) if battery else None
    if isinstance(model, PlantModel) and plant:
        on = None if "status" not in plant else plant["status"] == "on"
        model.control(on=on, ratio=plant.get("ratio"), auto=plant.get("auto"))
    if policy is not None:
        model.policy = policy  # type: ignore[attr-defined]  (checked in _new_policy)


def _new_policy(model: NodeModel, changes: dict[str, Any]) -> BatteryPolicy:
    if not isinstance(model, ProsumerModel) or model.battery is None:
        raise Conflict(f"a {model.kind} node without a battery has no battery policy", code="no_battery")
    try:
        return replace(model.policy, **changes)
    except ValueError as exc:
        raise BadMessage(f"battery policy: {exc}", code="bad_policy") from None


def controls_of(model: NodeModel) -> dict[str, Any] | None:
    """The controls the model takes, with their current values (None: it takes none)."""
    if isinstance(model, PlantModel):
        c = model.controls
        return {"status": "on" if c.on else "off", "ratio": c.ratio, "auto": c.auto}
    if isinstance(model, ProsumerModel) and model.battery is not None:
        p = model.policy
        return {"buyBelow": p.buy_below, "sellAbove": p.sell_above, "reserve": p.reserve}
    return None
