"""A dispatchable power plant: capacity, on/off, production ratio, ramping.

Modelled on the original simulator's coal plant and its manager: the operator
sets ``on`` and the production ratio; the actual output then moves towards its
target no faster than the ramp rate. With ``auto`` the plant also follows the
grid: within the operator's ceiling (capacity x ratio) it ramps towards
covering the deficit it sees (see ``balancing``).
"""

from __future__ import annotations

from dataclasses import dataclass

from .balancing import DEFAULT_DAMPING, Damping, plant_target_w
from .market import plant_offer
from .model import Reading, Signals
from .units import WATTS_PER_KW, Instant, check_dt, round_w


@dataclass(frozen=True, slots=True)
class PlantSpec:
    """What the plant is. Defaults: a small coal unit (820 gCO2/kWh)."""

    max_kw: float = 1000.0
    ramp_kw_per_min: float = 100.0
    marginal_cost: int = 60
    emissions: int = 820

    def __post_init__(self) -> None:
        if self.max_kw < 0 or self.ramp_kw_per_min <= 0:
            raise ValueError("max_kw must be >= 0 and ramp_kw_per_min > 0")
        if self.emissions < 0:
            raise ValueError("emissions must be >= 0 gCO2/kWh")

    @property
    def max_w(self) -> float:
        """Capacity in W."""
        return self.max_kw * WATTS_PER_KW

    @property
    def ramp_w_per_s(self) -> float:
        """Fastest change of output, W per second."""
        return self.ramp_kw_per_min * WATTS_PER_KW / 60.0


@dataclass(frozen=True, slots=True)
class PlantControls:
    """The operator's controls: on/off, production ratio, grid following."""

    on: bool = True
    ratio: float = 1.0
    auto: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.ratio <= 1.0:
            raise ValueError("production ratio must be within [0, 1]")


DEFAULT_CONTROLS = PlantControls()


def ceiling_w(spec: PlantSpec, controls: PlantControls) -> float:
    """Highest output the operator allows: capacity x ratio when on, else 0."""
    return spec.max_w * controls.ratio if controls.on else 0.0


def ramp_toward(output_w: float, target_w: float, ramp_w_per_s: float, dt_s: float) -> float:
    """Output after ``dt_s`` seconds moving towards ``target_w`` within the ramp."""
    largest = ramp_w_per_s * check_dt(dt_s)
    return output_w + max(-largest, min(largest, target_w - output_w))


def next_output_w(
    spec: PlantSpec, controls: PlantControls, output_w: float, signals: Signals, damping: Damping, dt_s: float
) -> float:
    """The plant's output after ``dt_s``: towards its ceiling, or (``auto``)
    towards covering the grid's deficit, never faster than its ramp."""
    ceiling = ceiling_w(spec, controls)
    target = plant_target_w(output_w, ceiling, signals, damping) if controls.auto else ceiling
    return ramp_toward(output_w, target, spec.ramp_w_per_s, dt_s)


class PlantModel:
    """A plant node: ``step`` ramps the output and reports it with its offer."""

    kind = "plant"

    def __init__(
        self,
        spec: PlantSpec,
        controls: PlantControls = DEFAULT_CONTROLS,
        damping: Damping = DEFAULT_DAMPING,
        output_w: float = 0.0,
    ) -> None:
        self.spec = spec
        self.controls = controls
        self.damping = damping
        self.output_w = min(max(0.0, output_w), spec.max_w)

    def control(self, *, on: bool | None = None, ratio: float | None = None, auto: bool | None = None) -> None:
        """Apply operator controls; omitted ones keep their value."""
        current = self.controls
        self.controls = PlantControls(
            on=current.on if on is None else on,
            ratio=current.ratio if ratio is None else ratio,
            auto=current.auto if auto is None else auto,
        )

    def step(self, now: Instant, dt_s: float, signals: Signals) -> Reading:
        """Ramp towards the target for ``dt_s`` and report."""
        self.output_w = next_output_w(self.spec, self.controls, self.output_w, signals, self.damping, dt_s)
        return self.reading()

    def reading(self) -> Reading:
        """The current state as published."""
        ceiling = round_w(ceiling_w(self.spec, self.controls))
        output = round_w(self.output_w)
        return Reading(
            production_w=output,
            consumption_w=0,
            sold_w=output,
            offer=plant_offer(ceiling, self.spec.marginal_cost),
            emissions=self.spec.emissions,
            source="own",
            flexible_w=ceiling if self.controls.auto else 0,
        )
