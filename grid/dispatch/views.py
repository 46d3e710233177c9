"""What the dispatch feature shows: ``/dispatches``, ``/dispatches/{id}``, ``/audit`` and its /state block."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from protocol.dispatch import addressed, Dispatch, has_ended
from protocol.dispatch_book import ack_status, enrolled_in
from protocol.errors import BadMessage, NotFound

from .store import AuditLog

if TYPE_CHECKING:
    from .feature import DispatchFeature

#: Most audit records one ``GET /audit`` returns.
MAX_AUDIT_PAGE = 1000


def addressed_here(feature: "DispatchFeature", d: Dispatch) -> bool:
    """Whether ``d`` is meant for this node (targeted, or enrolled in its program)."""
    return addressed(d, feature.me, feature.settings.program_ids)


def phase(d: Dispatch, now_ms: int) -> str:
    """``cancelled``, ``scheduled``, ``active`` or ``ended`` at ``now_ms``."""
    if d.status == "cancelled":
        return "cancelled"
    if now_ms < d.start_time:
        return "scheduled"
    return "ended" if has_ended(d, now_ms) else "active"


def receipt(d: Dispatch) -> dict[str, Any]:
    """What an operator gets back for an accepted dispatch."""
    return {"dispatchId": d.dispatch_id, "modificationNumber": d.modification_number, "issuer": d.issuer,
            "signature": d.signature}  # fmt: skip


def _answers(feature: "DispatchFeature", d: Dispatch) -> dict[str, list[str]]:
    status = ack_status(feature.book, d.dispatch_id, enrolled_in(feature.book, d.program_id))
    return {"acknowledged": list(status.acknowledged), "opted_out": list(status.opted_out),
            "pending": list(status.pending)}  # fmt: skip


def _row(feature: "DispatchFeature", d: Dispatch, now_ms: int) -> dict[str, Any]:
    answers = _answers(feature, d)
    return {
        **d.to_wire(),
        "phase": phase(d, now_ms),
        "addressed_here": addressed_here(feature, d),
        "binding_here": d.dispatch_id in feature.binding_ids,
        "answers": {key: len(nodes) for key, nodes in answers.items()},
    }


def listing(feature: "DispatchFeature") -> dict[str, Any]:
    """``GET /dispatches``: every dispatch the node knows, newest start first, and who is enrolled where."""
    now = feature.node.scheduler.wall_ms()
    book = feature.book
    ordered = sorted(book.dispatches.values(), key=lambda d: (-d.start_time, d.dispatch_id))
    programs = sorted({p for m in book.members.values() for p in m.programs})
    return {
        "node": feature.me,
        "now": now,
        "dispatches": [_row(feature, d, now) for d in ordered],
        "enrolled": {p: list(enrolled_in(book, p)) for p in programs},
    }


def detail(feature: "DispatchFeature", dispatch_id: str) -> dict[str, Any]:
    """``GET /dispatches/{id}``: one dispatch, who answered how, and this node's notifications."""
    d = feature.book.dispatches.get(dispatch_id)
    if d is None:
        raise NotFound(f"unknown dispatch {dispatch_id!r}", code="unknown_dispatch")
    now = feature.node.scheduler.wall_ms()
    answers = _answers(feature, d)
    audience = sorted({n for nodes in answers.values() for n in nodes})
    acks = [a.to_wire() for (did, _), a in sorted(feature.book.acks.items()) if did == dispatch_id]
    per_target = {n: next(k for k, nodes in answers.items() if n in nodes) for n in audience}
    return {
        **_row(feature, d, now),
        "now": now,
        "ack_status": {"modification_number": d.modification_number, **answers},
        "targets_status": per_target,
        "acks": acks,
        "notifications": feature.store.notifications(dispatch_id),
    }


def _int_param(params: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name, default)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise BadMessage(f"{name} must be a whole number, got {raw!r}", code="bad_parameter") from None
    if not low <= value <= high:
        raise BadMessage(f"{name} must be in [{low}, {high}], got {value}", code="bad_parameter")
    return value


def audit_page(audit: AuditLog, params: dict[str, Any]) -> dict[str, Any]:
    """``GET /audit?after=SEQ&limit=N&kind=K``: records after ``after``, oldest first."""
    after = _int_param(params, "after", 0, 0, 2**62)
    limit = _int_param(params, "limit", 100, 1, MAX_AUDIT_PAGE)
    kind = params.get("kind") or None
    head = audit.head
    return {
        "records": audit.records(after, limit, kind),
        "count": audit.count(),
        "head": {"seq": head.seq, "hash": head.hash} if head else None,
    }


def state_block(feature: "DispatchFeature") -> dict[str, Any]:
    """The ``dispatch`` block of /state."""
    s = feature.settings
    head = feature.audit.head
    consumption_w = feature.node.reading[1]
    return {
        "programs": [p.name for p in s.programs],
        "enrolments": [e.to_wire() for e in s.enrolments],
        "ack_policy": s.ack_policy,
        "operator": s.operator_id,
        "operators": sorted(s.operators),
        "dispatches": len(feature.book.dispatches),
        "binding": list(feature.binding_ids),
        "curtailment_kw": feature.curtailment_w(consumption_w) / 1000,
        "rejections": feature.rejections,
        "rules": [r.rule_id for r in s.rules],
        "channels": feature.notifier.summaries(),
        "audit_head": {"seq": head.seq, "hash": head.hash} if head else None,
    }
