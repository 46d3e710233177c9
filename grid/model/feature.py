"""The model feature: a node whose readings come from a model of its kind.

Every ``step_s`` simulated seconds (``step_s / speed`` real seconds, but never
more often than every ``min_interval_s``) the feature reads the simulation
clock, builds :class:`nodes.Signals` from the node's *own* view (grid net,
clearing price, flexible power), steps the model over the simulated time that
really passed, and publishes the reading in the node's entry. The entry
carries the offer, so every node's price follows.

With ``balancing`` off the model sees an empty ``Signals()``: no imbalance, no
price. Plants hold their output, batteries only serve their household,
flexible load runs at once; that is the baseline the bench compares against.

A ``manual`` node has no timer: its readings come from ``UpdateEnergy``. The
feature only makes sure its entry's offer matches the reading it restarted
with, and applies ``production_kw`` / ``consumption_kw`` when given.
"""

from __future__ import annotations

import logging
from typing import Any

from nodes import Reading, Signals
from nodes.market import manual_offer
from nodes.plant import PlantModel, ceiling_w
from nodes.prosumer import ProsumerModel
from protocol.control import Control
from protocol.entry import watts_to_kw
from protocol.envelopes import Envelope

from ..clock import SimClock, iso
from ..node import report
from ..node.commands import Outcome
from ..node.config import NodeConfig
from ..node.feature import Feature, MessageHandler
from .control import apply_control, controls_of
from .settings import ModelSettings

log = logging.getLogger("grid.model")

#: A step never covers more than this many nominal steps (a paused process
#: resumes without one giant step; the skipped time is simply not simulated).
MAX_STEPS_PER_STEP = 5
#: Decimals of the state of charge published in the entry: finer changes are
#: not news worth a gossip round.
SOC_DECIMALS = 3


class ModelFeature(Feature):
    """Steps the node's model on the simulation clock and publishes its readings."""

    name = "model"

    def __init__(self, settings: ModelSettings, clock: SimClock) -> None:
        self.settings = settings
        self.clock = clock
        self.model = settings.build()
        self.reading: Reading | None = None
        self.steps = 0
        self._last_s: float | None = None
        self._running = False

    @classmethod
    def from_config(cls, config: NodeConfig) -> "ModelFeature":
        """The feature of ``config``: kind, ``[model]`` and ``[clock]`` tables."""
        settings = ModelSettings.parse(config.kind, config.feature("model"), config.id)
        return cls(settings, SimClock.from_settings(config.feature("clock")))

    @property
    def interval_s(self) -> float:
        """Real seconds between two steps."""
        return max(self.settings.min_interval_s, self.clock.real_seconds(self.settings.step_s))

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self.settings.kind == "manual":
            self._start_manual()
            return
        c = self.clock
        log.info("%s: %s model, simulated clock at %s, speed %g (start %s; epoch %.3f: pass --epoch %.3f "
                 "to other nodes to share this clock)", self.node.config.name, self.settings.kind,
                 iso(c.now_s()), c.speed, iso(c.start_s), c.epoch_s, c.epoch_s)  # fmt: skip
        self._running = True
        self._tick()

    def stop(self) -> None:
        self._running = False

    def _start_manual(self) -> None:
        params = self.settings.given()
        me = self.node.core.me
        if "production_kw" in params or "consumption_kw" in params:
            reading = self.model.step(self.clock.now_s(), 0.0, Signals())
            self.node.set_reading(reading.production_w, reading.consumption_w, offer=reading.offer)
        elif tuple(me.offer) != manual_offer(*self.node.reading):
            # A restarted node has its stored reading but not yet its offer.
            self.node.update_self(offer=manual_offer(*self.node.reading))

    # ------------------------------------------------------------------ stepping
    def _tick(self) -> None:
        if not self._running:
            return
        self.step()
        self.node.call_later(self.interval_s, self._tick)

    def step(self) -> Reading:
        """Advance the model to the clock's present and publish its reading."""
        now_s = self.clock.now_s()
        nominal_s = max(self.settings.step_s, self.interval_s * self.clock.speed)
        if self._last_s is None:
            dt_s = self.settings.step_s  # the first step stands for the step before it
        else:
            dt_s = min(max(0.0, now_s - self._last_s), MAX_STEPS_PER_STEP * nominal_s)
        self._last_s = now_s
        self.reading = self.model.step(now_s, dt_s, self.signals())
        self.steps += 1
        self._publish(self.reading)
        return self.reading

    def signals(self) -> Signals:
        """What the model sees of the grid: all from this node's own view."""
        if not self.settings.balancing:
            return Signals()
        prices = report.market(self.node.core)
        return Signals(grid_net_w=self.node.core.net_w, price=prices.price, flexible_w=prices.flexible_w)

    def _publish(self, reading: Reading) -> None:
        soc = None if reading.battery_soc is None else round(reading.battery_soc, SOC_DECIMALS)
        fields = {"offer": reading.offer, "emissions": reading.emissions, "source": reading.source,
                  "battery_soc": soc, "flexible_w": reading.flexible_w}  # fmt: skip
        me = self.node.core.me
        changed = {name: value for name, value in fields.items() if getattr(me, name) != value}
        self.node.set_reading(reading.production_w, reading.consumption_w, **changed)

    # ------------------------------------------------------------------ control
    def handlers(self) -> dict[str, MessageHandler]:
        return {"Control": self._control}

    def _control(self, env: Envelope) -> Outcome:
        control: Control = env.message  # type: ignore[assignment]
        apply_control(self.model, control)
        log.info("%s: control %s", self.node.config.name, control.given())
        if self._running:
            self.step()  # publish the new offer now, not a step later
        return Outcome(202, {"status": "accepted", "kind": self.settings.kind, "controls": controls_of(self.model)})

    # ------------------------------------------------------------------ reads
    def state(self) -> dict[str, Any]:
        block: dict[str, Any] = {
            "kind": self.settings.kind,
            "balancing": self.settings.balancing,
            "params": self.settings.given(),
            "controls": controls_of(self.model),
        }
        if self.settings.kind == "manual":
            return block
        block.update(clock=self.clock.describe(), step_s=self.settings.step_s, steps=self.steps)
        if self.reading is not None:
            block.update(_reading_block(self.reading))
        block.update(_kind_block(self.model))
        return block


def _reading_block(r: Reading) -> dict[str, Any]:
    return {
        "source": r.source,
        "production_kw": watts_to_kw(r.production_w),
        "consumption_kw": watts_to_kw(r.consumption_w),
        "sold_kw": watts_to_kw(r.sold_w),
        "bought_kw": watts_to_kw(r.bought_w),
        "flexible_kw": watts_to_kw(r.flexible_w),
        "battery_soc": r.battery_soc,
    }


def _kind_block(model: Any) -> dict[str, Any]:
    if isinstance(model, PlantModel):
        spec = model.spec
        return {"plant": {
            "status": "on" if model.controls.on else "off",
            "ratio": model.controls.ratio,
            "output_kw": round(model.output_w / 1000, 3),
            "ceiling_kw": watts_to_kw(round(ceiling_w(spec, model.controls))),
            "max_kw": spec.max_kw,
            "marginal_cost": spec.marginal_cost,
            "emissions": spec.emissions,
        }}  # fmt: skip
    if isinstance(model, ProsumerModel) and model.battery is not None:
        battery = model.battery
        return {"battery": {
            "soc": round(battery.soc, 4),
            "capacity_kwh": battery.spec.capacity_wh / 1000,
            "max_kw": watts_to_kw(max(battery.spec.max_charge_w, battery.spec.max_discharge_w)),
            "losses_kwh": round(battery.losses_wh / 1000, 4),
        }}  # fmt: skip
    return {}


def make_model_feature(config: NodeConfig) -> ModelFeature:
    """The registry's builder (``grid.features``): every node runs one, manual ones idle."""
    return ModelFeature.from_config(config)
