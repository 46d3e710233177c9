"""How flexible nodes react to the grid they see: plant and battery control.

Rules of operation:

1. A node sees only its own view: the grid net (W, positive = surplus), the
   price, and optionally the grid's total flexible power.
2. Corrections are *incremental*: a new setpoint is the current one plus a
   fraction of the observed imbalance. At balance (net inside the dead band)
   plant setpoints hold, so there is no steady-state error and no drift.
3. A node takes only its *share* of the correction, its flexible power over
   the grid's total flexible power, so N nodes acting on the same net correct
   it once, not N times. Without that total a node assumes it is alone.
4. ``gain`` is the fraction of the imbalance the whole grid corrects per step.
   With the one-step delay of gossip the loop ``e[k+1] = e[k] - g * e[k-1]``
   has a double root at ``g = 1/4`` (fastest response without overshoot);
   larger gains ring, gains above 1 diverge. Hence the default 0.25.
5. Batteries answer first (they are fast), then hand a lasting imbalance over
   to the plants: their setpoint leaks back to what the price rules ask for
   (nothing, between the thresholds) over ``handover_s``, and the plants,
   seeing the imbalance come back, ramp up. A battery is storage, not a plant.
6. Battery price rules (charge cheap, discharge dear) are low-passed, so a
   price crossing a threshold moves batteries gradually, not all at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import Signals


@dataclass(frozen=True, slots=True)
class Damping:
    """Controller tuning shared by plants and batteries (see rule 4)."""

    gain: float = 0.25
    dead_band_w: int = 50
    smoothing: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.gain <= 1:
            raise ValueError("gain must be in (0, 1]")
        if self.dead_band_w < 0:
            raise ValueError("dead_band_w must be >= 0")
        if not 0 < self.smoothing <= 1:
            raise ValueError("smoothing must be in (0, 1]")


@dataclass(frozen=True, slots=True)
class BatteryPolicy:
    """Price rules of a battery.

    Charge (at ``arbitrage_share`` of its rate) while the price is at or below
    ``buy_below``; discharge while it is at or above ``sell_above``; never
    discharge for the grid below the ``reserve`` state of charge, which is kept
    for the household's own use. ``handover_s`` is the time over which grid
    support fades back to the price rules (rule 5; 0 keeps it until the
    imbalance itself is gone).
    """

    buy_below: int = 40
    sell_above: int = 120
    arbitrage_share: float = 0.5
    reserve: float = 0.2
    handover_s: float = 900.0

    def __post_init__(self) -> None:
        if self.buy_below > self.sell_above:
            raise ValueError("buy_below must not exceed sell_above")
        if not 0 <= self.arbitrage_share <= 1 or not 0 <= self.reserve <= 1:
            raise ValueError("arbitrage_share and reserve must be within [0, 1]")
        if self.handover_s < 0:
            raise ValueError("handover_s must be >= 0")


DEFAULT_DAMPING = Damping()
DEFAULT_POLICY = BatteryPolicy()


def share_of(own_flexible_w: float, flexible_w: int | None) -> float:
    """This node's share of the grid's flexible power (1 when unknown)."""
    if flexible_w is None or flexible_w <= 0:
        return 1.0
    return min(1.0, max(0.0, own_flexible_w / flexible_w))


def correction_w(signals: Signals, own_flexible_w: float, damping: Damping) -> float:
    """Extra power this node should *export* (negative: export less).

    Zero inside the dead band; otherwise this node's share of ``gain`` times
    the imbalance, against its sign.
    """
    net = signals.grid_net_w
    if abs(net) <= damping.dead_band_w:
        return 0.0
    return -damping.gain * net * share_of(own_flexible_w, signals.flexible_w)


def plant_target_w(output_w: float, ceiling_w: float, signals: Signals, damping: Damping) -> float:
    """A plant's next output target: its output plus its share of the deficit.

    Based on the actual output rather than the previous target, so a plant
    that is still ramping does not wind its target up; kept in ``[0, ceiling]``.
    """
    target = output_w + correction_w(signals, ceiling_w, damping)
    return min(ceiling_w, max(0.0, target))


def battery_service_w(
    previous_w: float,
    limits: tuple[int, int],
    soc: float,
    signals: Signals,
    policy: BatteryPolicy,
    damping: Damping,
    dt_s: float,
) -> float:
    """A battery's next grid-service setpoint (W, > 0 charges, < 0 discharges).

    ``limits`` is ``(max_charge_w, max_discharge_w)`` the grid may use over
    the next step (a household battery passes its discharge above the
    reserve, so the reserve holds exactly). The setpoint follows the
    imbalance (charge on surplus, discharge on deficit), is held at least at
    what the price rules ask, fades back to them over ``handover_s``, and
    moves only ``smoothing`` of the way per step.
    """
    max_charge_w, max_discharge_w = limits
    own_flexible_w = max(max_charge_w, max_discharge_w)
    resting = resting_w(limits, soc, signals.price, policy)
    target = previous_w - correction_w(signals, own_flexible_w, damping)
    if resting > 0:
        target = max(target, resting)
    elif resting < 0:
        target = min(target, resting)
    if soc <= policy.reserve:
        target = max(0.0, target)
    setpoint = previous_w + damping.smoothing * (target - previous_w)
    if policy.handover_s > 0:
        # After smoothing, so that the fade's time constant is handover_s.
        setpoint += min(1.0, dt_s / policy.handover_s) * (resting - setpoint)
    return min(float(max_charge_w), max(-float(max_discharge_w), setpoint))


def resting_w(limits: tuple[int, int], soc: float, price: int | None, policy: BatteryPolicy) -> float:
    """What the price rules alone ask of a battery: charge at ``arbitrage_share``
    of its rate when cheap, discharge as much when dear, else nothing."""
    if price is None:
        return 0.0
    max_charge_w, max_discharge_w = limits
    if price <= policy.buy_below and soc < 1.0:
        return policy.arbitrage_share * max_charge_w
    if price >= policy.sell_above and soc > policy.reserve:
        return -policy.arbitrage_share * max_discharge_w
    return 0.0
