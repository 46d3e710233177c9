"""Expectations evaluated over a recorded run. Pure: no I/O, no clock.

Every check reads only the :class:`~.record.Recording` (samples of what each
running node believed, the events as they ran, the final dispatch probes) and
returns an :class:`Outcome` whose ``detail`` says what was seen, so a failing
run explains itself.

"Agree within W seconds of every change" is judged from samples: a
*disagreement episode* is a run of consecutive samples in which some group of
nodes (the whole grid, or each island while a partition is in force) does not
report the same values; it lasts from its first sample until the first sample
that agrees again (or the end of the run). Every episode must be at most W
long, so W must exceed the sampling interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from .expectations import (
    ExpectAcknowledged,
    ExpectAgree,
    ExpectGridnet,
    ExpectImbalance,
    ExpectIslands,
    ExpectLive,
    ExpectRange,
    Expectation,
)
from .record import NodeSample, Recording, Sample, Window

#: Resolves a selector to node names (the plan's ``select``).
Select = Callable[[Any], list[str]]


@dataclass(frozen=True)
class Outcome:
    """One expectation's verdict."""

    name: str
    check: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class Context:
    """What the checks need besides the recording."""

    select: Select
    dispatch_ids: tuple[str, ...] = ()
    #: How long islands may take to form or merge when an expectation does not say.
    settle_s: float = 10.0


def evaluate(expectations: Iterable[Expectation], recording: Recording, context: Context) -> list[Outcome]:
    """Every expectation's outcome, plus one for the timeline itself, with unique names."""
    outcomes = [timeline_ran(recording)]
    for expectation in expectations:
        outcome = CHECKS[type(expectation)](expectation, recording, context)
        outcomes.append(outcome)
    return _unique(outcomes)


def _unique(outcomes: list[Outcome]) -> list[Outcome]:
    seen: dict[str, int] = {}
    result = []
    for outcome in outcomes:
        seen[outcome.name] = seen.get(outcome.name, 0) + 1
        name = outcome.name if seen[outcome.name] == 1 else f"{outcome.name} #{seen[outcome.name]}"
        result.append(Outcome(name, outcome.check, outcome.passed, outcome.detail))
    return result


def timeline_ran(recording: Recording) -> Outcome:
    """Every timeline event ran as written (sends answered as expected, nodes started)."""
    failed = [e for e in recording.events if not e.ok]
    if failed:
        first = failed[0]
        what = f"{first.action} {first.target}: {first.detail}"
        detail = f"{len(failed)} event(s) failed; first at {first.t:.1f} s: {what}"
        return Outcome("timeline ran", "timeline", False, detail)
    return Outcome("timeline ran", "timeline", True, f"{len(recording.events)} event(s) applied")


# ----------------------------------------------------------------------------- helpers
def _window(samples: list[Sample], start: float, end: float | None) -> list[Sample]:
    return [s for s in samples if s.t >= start and (end is None or s.t <= end)]


def _fmt_kw(watts: int) -> str:
    return f"{watts / 1000:g} kW"


def _values(members: dict[str, NodeSample], field: str) -> dict[str, int]:
    return {name: getattr(sample, field) for name, sample in members.items()}


def disagreement(members: dict[str, NodeSample], fields: Iterable[str], tolerance_w: int = 0,
                 price_tolerance: int = 0) -> str | None:  # fmt: skip
    """None if ``members`` agree on ``fields``; else a description of the first difference."""
    columns = {"gridnet": ("gridnet_w", tolerance_w), "price": ("price", price_tolerance),
               "carbon": ("carbon", price_tolerance), "live": ("live", 0)}  # fmt: skip
    for name in fields:
        column, tolerance = columns[name]
        values = _values(members, column)
        if values and max(values.values()) - min(values.values()) > tolerance:
            low = min(values, key=values.__getitem__)
            high = max(values, key=values.__getitem__)
            shown = _fmt_kw if column == "gridnet_w" else str
            return f"{name}: {low} {shown(values[low])} vs {high} {shown(values[high])}"
    return None


def _groups(sample: Sample, chosen: list[str], groups: tuple[tuple[str, ...], ...] | None) -> list[list[str]]:
    """The chosen nodes split by the partition in force (one group when whole)."""
    if groups is None:
        return [chosen]
    return [[name for name in chosen if name in group] for group in groups]


# ----------------------------------------------------------------------------- agree
Episode = tuple[float, float, str]  # (length, start, what was wrong at its start)


def longest_episode(samples: list[Sample], problem: Callable[[Sample], str | None], end: float) -> Episode:
    """The longest run of consecutive samples with a problem: it lasts until the next good sample (or ``end``)."""
    worst: Episode = (0.0, 0.0, "")
    began: tuple[float, str] | None = None
    for sample in samples:
        wrong = problem(sample)
        if wrong is not None and began is None:
            began = (sample.t, wrong)
        elif wrong is None and began is not None:
            worst = max(worst, (sample.t - began[0], began[0], began[1]))
            began = None
    if began is not None:
        worst = max(worst, (end - began[0], began[0], began[1] + " (until the end)"))
    return worst


def check_agree(e: ExpectAgree, rec: Recording, ctx: Context) -> Outcome:
    """Disagreement episodes are at most ``within`` long (each island on its own)."""
    chosen = ctx.select(e.nodes)
    name = e.name or f"agree on {'+'.join(e.fields)} within {e.within:g} s"
    samples = _window(rec.samples, e.from_, e.to)
    if not samples:
        return Outcome(name, "agree", False, "no samples in the window")
    tolerance_w = round(e.tolerance_kw * 1000)

    def problem(sample: Sample) -> str | None:
        groups = _groups(sample, chosen, rec.groups_at(sample.t))
        return _group_problem(sample, groups, e.fields, tolerance_w, e.price_tolerance)

    worst, at, why = longest_episode(samples, problem, e.to if e.to is not None else rec.end)
    if worst > e.within:
        return Outcome(name, "agree", False, f"disagreed for {worst:.2f} s from {at:.2f} s: {why}")
    episodes = f"longest disagreement {worst:.2f} s" if worst else "always agreed"
    return Outcome(name, "agree", True, f"{episodes} over {len(samples)} samples")


def _group_problem(sample: Sample, groups: list[list[str]], fields: Iterable[str], tolerance_w: int,
                   price_tolerance: int) -> str | None:  # fmt: skip
    """None if every group's answering members agree and none is missing; else what is wrong."""
    for group in groups:
        missing = [n for n in sample.missing if n in group]
        if missing:
            return f"{missing[0]} did not answer"
        members = {n: sample.nodes[n] for n in group if n in sample.nodes}
        problem = disagreement(members, fields, tolerance_w, price_tolerance)
        if problem is not None:
            return problem
    return None


# ----------------------------------------------------------------------------- islands
def check_islands(e: ExpectIslands, rec: Recording, ctx: Context) -> Outcome:
    """Each side of every partition counts only itself and agrees; all merge after the heal."""
    name = e.name or "islands during the partition"
    windows = rec.windows()
    if not windows:
        return Outcome(name, "islands", False, "no partition happened during the run")
    details = []
    for window in windows:
        # Whole groups: an island's size counts every member that runs, chosen or not.
        groups = tuple(tuple(ctx.select(g)) for g in e.groups) if e.groups else window.groups
        parts = [list(g) for g in groups]
        ok, detail = _islands_in(window, parts, rec, e, e.within if e.within is not None else ctx.settle_s)
        details.append(detail)
        if not ok:
            return Outcome(name, "islands", False, detail)
    return Outcome(name, "islands", True, "; ".join(details))


def _count_problem(sample: Sample, groups: list[list[str]]) -> str | None:
    """None if every answering node counts exactly the live members of its own group."""
    for group in groups:
        members = {n: sample.nodes[n] for n in group if n in sample.nodes}
        for node, seen in members.items():
            if seen.live != len(members):
                return f"{node} counts {seen.live} live nodes, its island has {len(members)}"
    return None


def _islands_in(window: Window, parts: list[list[str]], rec: Recording, e: ExpectIslands,
                within: float) -> tuple[bool, str]:  # fmt: skip
    inside = [s for s in rec.samples if window.start <= s.t < window.end]
    formed: Sample | None = None
    why = "no samples during the partition"
    for sample in inside:  # the islands have formed once every node counts only its own side, to the end
        problem = _count_problem(sample, parts)
        if problem is not None:
            formed, why = None, problem
        elif formed is None:
            formed = sample
    if formed is None or formed.t - window.start > within:
        late = f"formed only {formed.t - window.start:.2f} s after the split" if formed else f"never held ({why})"
        return False, f"islands {late}; allowed {within:g} s"
    tolerance_w = round(e.tolerance_kw * 1000)
    held = [s for s in inside if s.t >= formed.t]
    worst, at, why = longest_episode(held, lambda s: _group_problem(s, parts, ("gridnet", "price"), tolerance_w,
                                                                    e.price_tolerance), window.end)  # fmt: skip
    if worst > e.agree_within:
        return False, f"an island disagreed for {worst:.2f} s from {at:.2f} s: {why}"
    islands = ", ".join(_describe_island(formed, part) for part in parts)
    detail = f"islands formed {formed.t - window.start:.2f} s after the split ({islands})"
    if not window.healed:
        return True, detail + ", held to the end"
    return _merged(window, [n for part in parts for n in part], rec, e, within, detail)


def _describe_island(sample: Sample, part: list[str]) -> str:
    present = [sample.nodes[n] for n in part if n in sample.nodes]
    if not present:
        return "an empty island"
    return f"{len(present)} nodes at {_fmt_kw(present[0].gridnet_w)}, price {present[0].price}"


def _merged(window: Window, chosen: list[str], rec: Recording, e: ExpectIslands, within: float,
            detail: str) -> tuple[bool, str]:  # fmt: skip
    tolerance_w = round(e.tolerance_kw * 1000)
    for sample in rec.samples:
        if sample.t < window.end:
            continue
        if sample.t - window.end > within:
            break
        whole = [[n for n in chosen if n in sample.nodes or n in sample.missing]]
        if _count_problem(sample, whole) is None and _group_problem(sample, whole, ("gridnet", "price"), tolerance_w,
                                                                    e.price_tolerance) is None:  # fmt: skip
            return True, f"{detail}; all {len(whole[0])} agreed again {sample.t - window.end:.2f} s after the heal"
    return False, f"{detail}; but the grid did not agree as a whole within {within:g} s of the heal"


# ----------------------------------------------------------------------------- point checks
def _sample_at(rec: Recording, at: Any) -> Sample | None:
    if at == "end":
        return rec.samples[-1] if rec.samples else None
    return rec.at_or_after(at)


def check_gridnet(e: ExpectGridnet, rec: Recording, ctx: Context) -> Outcome:
    """Every chosen node reports ``equals_kw`` (within the tolerance) at ``at``."""
    where = "the end" if e.at == "end" else f"{e.at:g} s"
    name = e.name or f"gridnet = {e.equals_kw:g} kW at {where}"
    sample = _sample_at(rec, e.at)
    if sample is None:
        return Outcome(name, "gridnet", False, "no sample at that time")
    chosen = ctx.select(e.nodes)
    want, tolerance = round(e.equals_kw * 1000), round(e.tolerance_kw * 1000)
    for node in chosen:
        if node in sample.missing:
            return Outcome(name, "gridnet", False, f"{node} did not answer")
        got = sample.nodes.get(node)
        if got is not None and abs(got.gridnet_w - want) > tolerance:
            return Outcome(name, "gridnet", False, f"{node} reports {_fmt_kw(got.gridnet_w)} at {sample.t:.1f} s")
    count = sum(1 for n in chosen if n in sample.nodes)
    return Outcome(name, "gridnet", count > 0, f"{count} nodes report {e.equals_kw:g} kW at {sample.t:.1f} s")


def check_live(e: ExpectLive, rec: Recording, ctx: Context) -> Outcome:
    """Every chosen node counts ``count`` live nodes (default: the nodes running then)."""
    where = "the end" if e.at == "end" else f"{e.at:g} s"
    name = e.name or f"{e.count if e.count is not None else 'all running'} nodes live at {where}"
    sample = _sample_at(rec, e.at)
    if sample is None:
        return Outcome(name, "live", False, "no sample at that time")
    want = e.count if e.count is not None else len(sample.nodes) + len(sample.missing)
    for node in ctx.select(e.nodes):
        got = sample.nodes.get(node)
        if got is not None and got.live != want:
            return Outcome(name, "live", False, f"{node} counts {got.live} live nodes, not {want}, at {sample.t:.1f} s")
    return Outcome(name, "live", True, f"every node counts {want} live nodes at {sample.t:.1f} s")


def check_imbalance(e: ExpectImbalance, rec: Recording, ctx: Context) -> Outcome:
    """RMS over the window of the grid net most nodes report."""
    name = e.name or f"imbalance RMS below {e.below_kw:g} kW"
    nets = [s.consensus_w() for s in _window(rec.samples, e.from_, e.to)]
    values = [n / 1000 for n in nets if n is not None]
    if not values:
        return Outcome(name, "imbalance_rms", False, "no samples in the window")
    rms = math.sqrt(sum(v * v for v in values) / len(values))
    largest = max(abs(v) for v in values)
    detail = f"RMS {rms:.3f} kW, largest {largest:.3f} kW over {len(values)} samples"
    return Outcome(name, "imbalance_rms", rms < e.below_kw, detail)


def check_range(e: ExpectRange, rec: Recording, ctx: Context) -> Outcome:
    """Every chosen node's price (or carbon intensity) within ``between`` at every sample."""
    low, high = e.between
    name = e.name or f"{e.check} within [{low:g}, {high:g}]"
    chosen = set(ctx.select(e.nodes))
    samples = _window(rec.samples, e.from_, e.to)
    for sample in samples:
        for node, values in sample.nodes.items():
            value = getattr(values, e.check)
            if node in chosen and not low <= value <= high:
                return Outcome(name, e.check, False, f"{node} reports {value} at {sample.t:.1f} s")
    return Outcome(name, e.check, bool(samples), f"{len(samples)} samples within range")


def check_acknowledged(e: ExpectAcknowledged, rec: Recording, ctx: Context) -> Outcome:
    """Each dispatch's whole audience acknowledged it, as every probed node sees it."""
    ids = [e.dispatch] if e.dispatch else list(ctx.dispatch_ids)
    name = e.name or (f"dispatch {e.dispatch} acknowledged" if e.dispatch else "every dispatch acknowledged")
    chosen = set(ctx.select(e.nodes))
    details = []
    for dispatch_id in ids:
        views = {node: answers for node, answers in rec.dispatches.get(dispatch_id, {}).items() if node in chosen}
        if not views:
            return Outcome(name, "acknowledged", False, f"no node knows dispatch {dispatch_id}")
        for node, answers in views.items():
            waiting = answers.get("pending", []) + answers.get("opted_out", [])
            if waiting or not answers.get("acknowledged"):
                detail = f"{dispatch_id}: as {node} sees it, not acknowledged by {waiting or 'anyone'}"
                return Outcome(name, "acknowledged", False, detail)
        audience = len(next(iter(views.values()))["acknowledged"])
        details.append(f"{dispatch_id}: {audience} acknowledged, as {len(views)} nodes see it")
    return Outcome(name, "acknowledged", True, "; ".join(details))


CHECKS: dict[type, Callable[[Any, Recording, Context], Outcome]] = {
    ExpectAgree: check_agree,
    ExpectIslands: check_islands,
    ExpectGridnet: check_gridnet,
    ExpectImbalance: check_imbalance,
    ExpectAcknowledged: check_acknowledged,
    ExpectLive: check_live,
    ExpectRange: check_range,
}
