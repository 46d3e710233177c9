"""How a node responds to dispatches: what to shed, what to answer, when to ask.

- :func:`curtailment_w`: the watts to shed now, from the node's dispatch book.
- :func:`pending_acks`: the answers a node owes, under its auto-ack policy.
- :class:`RuleEngine`: local event rules ("price above X for N minutes") that
  turn observations into :class:`DispatchRequest` s, once per episode.

Everything takes the time as epoch milliseconds and returns values; nothing is
sent, stored or read from a clock here.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal, get_args

from pydantic import TypeAdapter

from protocol.dispatch import Acknowledge, addressed, Dispatch, Enrolment, EventType, has_ended, in_window, Response
from protocol.dispatch_book import DispatchBook
from protocol.limits import MAX_KILOWATTS, MAX_TEXT_LEN, NodeId

from .units import kw_to_w

AckPolicy = Literal["opt_in", "opt_out", "manual"]

MS_PER_MINUTE = 60_000
#: Room left in a dispatch id for the ``rule.`` prefix and the firing instant.
MAX_RULE_ID_LEN = 100

_NODE_ID = TypeAdapter(NodeId)


# --- curtailment ------------------------------------------------------------------


def _opted_out(book: DispatchBook, d: Dispatch, node_id: str) -> bool:
    # The node's latest answer counts even if it predates a modification: a
    # modification must not silently pull back in a node that said no.
    a = book.ack_of(d.dispatch_id, node_id)
    return a is not None and a.response == "opt_out"


def _requested_w(d: Dispatch, offers: Mapping[str, Enrolment]) -> int:
    enrolment = offers.get(d.program_id)
    kw = d.curtailment_kw if enrolment is None else min(d.curtailment_kw, enrolment.offered_kw)
    return kw_to_w(kw)


def binding(book: DispatchBook, node_id: str, enrolments: Iterable[Enrolment], now_ms: int) -> list[Dispatch]:
    """The dispatches ``node_id`` must act on at ``now_ms``, sorted by id.

    Active (not cancelled), in their window (open-ended ones until cancelled),
    addressed to the node, not opted out of, and not a ``test`` event (a test
    exercises notification and acknowledgement only).
    """
    programs = {e.program_id for e in enrolments}
    return [
        d
        for _, d in sorted(book.dispatches.items())
        if d.status == "active"
        and d.event_type != "test"
        and in_window(d, now_ms)
        and addressed(d, node_id, programs)
        and not _opted_out(book, d, node_id)
    ]


def curtailment_w(
    book: DispatchBook, node_id: str, enrolments: Iterable[Enrolment], now_ms: int, consumption_w: int
) -> int:
    """The watts ``node_id`` should shed at ``now_ms``.

    Each binding dispatch asks for its ``curtailment_kw``, capped by the node's
    ``offered_kw`` when it is enrolled in that program. Overlapping dispatches
    take the largest request, not the sum: the same load cannot be shed twice.
    Never more than the current consumption, never negative.
    """
    enrolments = tuple(enrolments)
    offers = {e.program_id: e for e in enrolments}  # one enrolment per program; the last wins
    wanted = max((_requested_w(d, offers) for d in binding(book, node_id, enrolments, now_ms)), default=0)
    return max(0, min(wanted, consumption_w))


# --- acknowledgements ---------------------------------------------------------------


def unanswered(book: DispatchBook, node_id: str, now_ms: int, enrolments: Iterable[Enrolment] = ()) -> list[Dispatch]:
    """Live dispatches addressed to ``node_id`` whose current modification it has not answered.

    Cancelled and ended dispatches ask for nothing. Sorted by dispatch id.
    """
    programs = {e.program_id for e in enrolments}
    owed = []
    for _, d in sorted(book.dispatches.items()):
        if d.status != "active" or has_ended(d, now_ms) or not addressed(d, node_id, programs):
            continue
        a = book.ack_of(d.dispatch_id, node_id)
        if a is None or a.modification_number < d.modification_number:
            owed.append(d)
    return owed


def pending_acks(
    book: DispatchBook, node_id: str, policy: AckPolicy, now_ms: int, enrolments: Iterable[Enrolment] = ()
) -> list[Acknowledge]:
    """The answers the node sends by itself under ``policy`` (none for ``"manual"``).

    ``enrolments`` decide which program-wide dispatches (no explicit targets)
    are meant for this node.
    """
    if policy == "manual":
        return []
    response: Response = "ack" if policy == "opt_in" else "opt_out"
    return [
        Acknowledge(
            dispatch_id=d.dispatch_id,
            modification_number=d.modification_number,
            node_id=node_id,
            response=response,
            at=now_ms,
        )
        for d in unanswered(book, node_id, now_ms, enrolments)
    ]


# --- event rules ----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Rule(ABC):
    """What every event rule shares: which dispatch to request, and how often.

    ``for_minutes``: how long the condition must hold before firing.
    ``dispatch_minutes``: the length of the requested dispatch window.
    ``cooldown_minutes``: the least time between two firings of the rule.
    """

    rule_id: str
    program_id: str
    for_minutes: float
    dispatch_minutes: float
    curtailment_kw: float
    cooldown_minutes: float = 0.0
    event_type: EventType = "curtail"
    targets: tuple[str, ...] = ()
    message: str = ""

    def __post_init__(self) -> None:
        for node_id in (self.rule_id, self.program_id, *self.targets):
            _NODE_ID.validate_python(node_id)
        if len(self.message) > MAX_TEXT_LEN:
            raise ValueError(f"message longer than {MAX_TEXT_LEN} characters")
        if len(self.rule_id) > MAX_RULE_ID_LEN:
            raise ValueError(f"rule_id longer than {MAX_RULE_ID_LEN} characters")
        if self.event_type not in get_args(EventType):
            raise ValueError(f"unknown event type {self.event_type!r}")
        _check_range("for_minutes", self.for_minutes, 0)
        _check_range("cooldown_minutes", self.cooldown_minutes, 0)
        _check_range("curtailment_kw", self.curtailment_kw, 0, MAX_KILOWATTS)
        if _check_range("dispatch_minutes", self.dispatch_minutes, 0) == 0:
            raise ValueError("dispatch_minutes must be positive")

    @abstractmethod
    def holds(self, price: float | None, grid_net_w: int | None) -> bool:
        """Whether the triggering condition holds for this observation."""

    @abstractmethod
    def clears(self, price: float | None, grid_net_w: int | None) -> bool:
        """Whether the observation is back past the clear level (ends an episode)."""


def _check_range(name: str, value: float, low: float, high: float = math.inf) -> float:
    if not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"{name} must be finite and in [{low}, {high}], got {value!r}")
    return value


@dataclass(frozen=True, kw_only=True)
class PriceAbove(Rule):
    """Fire when the price stays above ``threshold``; clear at or below ``clear_below``.

    ``clear_below`` defaults to ``threshold`` (no dead band). An unknown price
    neither holds nor clears.
    """

    threshold: float
    clear_below: float | None = None
    event_type: EventType = "price"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_range("threshold", self.threshold, -math.inf)
        if _check_range("clear_below", self.clear_level, -math.inf) > self.threshold:
            raise ValueError("clear_below must not be above threshold")

    @property
    def clear_level(self) -> float:
        """The price at or below which an episode ends."""
        return self.threshold if self.clear_below is None else self.clear_below

    def holds(self, price: float | None, grid_net_w: int | None) -> bool:
        return price is not None and price > self.threshold

    def clears(self, price: float | None, grid_net_w: int | None) -> bool:
        return price is not None and price <= self.clear_level


@dataclass(frozen=True, kw_only=True)
class NetBelow(Rule):
    """Fire when the grid net stays below ``threshold_kw`` (a deficit when negative).

    Clears at or above ``clear_above_kw``, which defaults to ``threshold_kw``.
    """

    threshold_kw: float
    clear_above_kw: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_range("threshold_kw", self.threshold_kw, -MAX_KILOWATTS, MAX_KILOWATTS)
        if _check_range("clear_above_kw", self.clear_level_kw, -MAX_KILOWATTS, MAX_KILOWATTS) < self.threshold_kw:
            raise ValueError("clear_above_kw must not be below threshold_kw")

    @property
    def clear_level_kw(self) -> float:
        """The net (kW) at or above which an episode ends."""
        return self.threshold_kw if self.clear_above_kw is None else self.clear_above_kw

    def holds(self, price: float | None, grid_net_w: int | None) -> bool:
        return grid_net_w is not None and grid_net_w < self.threshold_kw * 1000

    def clears(self, price: float | None, grid_net_w: int | None) -> bool:
        return grid_net_w is not None and grid_net_w >= self.clear_level_kw * 1000


@dataclass(frozen=True)
class DispatchRequest:
    """A dispatch a rule asks for; the I/O half signs and issues it."""

    rule_id: str
    dispatch_id: str
    program_id: str
    event_type: EventType
    start_time: int
    end_time: int
    curtailment_kw: float
    targets: tuple[str, ...]
    message: str

    def to_dispatch(self, issuer: str) -> Dispatch:
        """The unsigned :class:`Dispatch` for this request, issued by ``issuer``."""
        return Dispatch(
            dispatch_id=self.dispatch_id,
            program_id=self.program_id,
            event_type=self.event_type,
            start_time=self.start_time,
            end_time=self.end_time,
            targets=self.targets,
            curtailment_kw=self.curtailment_kw,
            message=self.message,
            issuer=issuer,
        )


def _request(rule: Rule, now_ms: int) -> DispatchRequest:
    return DispatchRequest(
        rule_id=rule.rule_id,
        # Deterministic: replaying the same observations names the same dispatch.
        dispatch_id=f"rule.{rule.rule_id}.{now_ms}",
        program_id=rule.program_id,
        event_type=rule.event_type,
        start_time=now_ms,
        end_time=now_ms + _ms(rule.dispatch_minutes),
        curtailment_kw=rule.curtailment_kw,
        targets=rule.targets,
        message=rule.message,
    )


def _ms(minutes: float) -> int:
    return round(minutes * MS_PER_MINUTE)


@dataclass(frozen=True)
class RuleState:
    """Where one rule is in its episode.

    ``holding_since``: first observation of the current unbroken run of the
    condition (None when it does not hold). ``latched``: the rule fired in this
    episode and waits for the clear level. ``last_fired``: for the cool-down.
    """

    holding_since: int | None = None
    latched: bool = False
    last_fired: int | None = None


def step_rule(
    rule: Rule, state: RuleState, now_ms: int, price: float | None, grid_net_w: int | None
) -> tuple[RuleState, bool]:
    """One observation through one rule: the new state and whether it fired.

    The condition is sampled: it counts as holding continuously between two
    observations that both hold, and any observation where it does not hold
    restarts the wait.
    """
    if state.latched:
        if rule.clears(price, grid_net_w):
            return RuleState(last_fired=state.last_fired), False
        return state, False
    if not rule.holds(price, grid_net_w):
        return replace(state, holding_since=None), False
    since = now_ms if state.holding_since is None else state.holding_since
    cooled = state.last_fired is None or now_ms - state.last_fired >= _ms(rule.cooldown_minutes)
    if now_ms - since >= _ms(rule.for_minutes) and cooled:
        return RuleState(latched=True, last_fired=now_ms), True
    return RuleState(holding_since=since, last_fired=state.last_fired), False


@dataclass(frozen=True)
class RuleEngine:
    """The rules of a node and where each stands; a value, advanced by :meth:`observe`."""

    rules: tuple[Rule, ...]
    states: Mapping[str, RuleState] = field(default_factory=dict)
    last_ms: int | None = None

    def __post_init__(self) -> None:
        ids = [r.rule_id for r in self.rules]
        if len(ids) != len(set(ids)):
            raise ValueError("rule ids must be unique")

    def observe(
        self, now_ms: int, price: float | None, grid_net_w: int | None
    ) -> tuple[RuleEngine, list[DispatchRequest]]:
        """Feed one observation; the next engine and the dispatches to request, in rule order.

        ``None`` means "not known yet". An observation older than the last one
        is ignored, so a late or replayed sample cannot rewind an episode.
        """
        if self.last_ms is not None and now_ms < self.last_ms:
            return self, []
        states = dict(self.states)
        requests = []
        for rule in self.rules:
            state, fired = step_rule(rule, states.get(rule.rule_id, RuleState()), now_ms, price, grid_net_w)
            states[rule.rule_id] = state
            if fired:
                requests.append(_request(rule, now_ms))
        return RuleEngine(self.rules, states, now_ms), requests
