"""Memberships in the dispatch book, digest replies, ``wants``, and issuer-less unsigned dispatches."""

from __future__ import annotations

from itertools import permutations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.dispatch import (
    Acknowledge,
    Dispatch,
    DispatchDigest,
    DispatchRejected,
    Membership,
    public_key_from_seed,
    sign_dispatch,
    verify_dispatch,
)
from protocol.dispatch_book import (
    ack_status,
    admit_update,
    digest,
    DispatchBook,
    enrolled_in,
    merge_ack,
    merge_books,
    merge_dispatch,
    merge_member,
    missing,
    to_update,
    wants,
)

SEED = bytes(range(32))
OPERATORS = {"op": public_key_from_seed(SEED)}


def member(node_id: str, *programs: str, at: int = 1) -> Membership:
    return Membership(node_id=node_id, programs=programs, at=at)


def dispatch(**changes: object) -> Dispatch:
    fields = {"dispatch_id": "d1", "program_id": "p1", "event_type": "curtail", "start_time": 1, "issuer": "op"}
    return sign_dispatch(Dispatch.model_validate({**fields, **changes}), SEED)


def test_membership_programs_are_sorted_and_unique() -> None:
    assert member("n1", "p2", "p1", "p2").programs == ("p1", "p2")


def test_later_membership_wins_in_any_order() -> None:
    old, new = member("n1", "p1", at=5), member("n1", at=9)
    for first, second in permutations([old, new]):
        book = merge_member(merge_member(DispatchBook(), first), second)
        assert book.members["n1"] == new


def test_equal_instants_pick_one_membership_everywhere() -> None:
    a, b = member("n1", "p1", at=5), member("n1", "p2", at=5)
    one = merge_member(merge_member(DispatchBook(), a), b)
    two = merge_member(merge_member(DispatchBook(), b), a)
    assert one == two


def test_merging_a_membership_twice_returns_the_same_book() -> None:
    book = merge_member(DispatchBook(), member("n1", "p1"))
    assert merge_member(book, member("n1", "p1")) is book


def test_other_merges_keep_memberships() -> None:
    book = merge_member(DispatchBook(), member("n1", "p1"))
    book = merge_dispatch(book, dispatch())
    book = merge_ack(book, Acknowledge(dispatch_id="d1", modification_number=0, node_id="n1", response="ack", at=2))
    assert book.members["n1"].programs == ("p1",)


def test_enrolled_nodes_are_the_audience_of_a_program_wide_dispatch() -> None:
    book = DispatchBook()
    for m in (member("n1", "p1"), member("n2", "p1", "p2"), member("n3", "p2")):
        book = merge_member(book, m)
    book = merge_dispatch(book, dispatch())
    assert enrolled_in(book, "p1") == ("n1", "n2")
    book = merge_ack(book, Acknowledge(dispatch_id="d1", modification_number=0, node_id="n2", response="ack", at=3))
    status = ack_status(book, "d1", enrolled_in(book, "p1"))
    assert (status.acknowledged, status.pending) == (("n2",), ("n1",))


_members = st.builds(
    member, st.sampled_from(["n1", "n2", "n3"]), st.sampled_from(["p1", "p2"]), at=st.integers(0, 5)
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_members, max_size=6), st.lists(_members, max_size=6))
def test_book_merge_of_memberships_is_a_join(xs: list[Membership], ys: list[Membership]) -> None:
    def book(items: list[Membership]) -> DispatchBook:
        b = DispatchBook()
        for m in items:
            b = merge_member(b, m)
        return b

    x, y = book(xs), book(ys)
    assert merge_books(x, y) == merge_books(y, x) == book(xs + ys)
    assert merge_books(x, x) == x


def test_digest_and_missing_carry_memberships() -> None:
    mine = merge_member(merge_member(DispatchBook(), member("n1", "p1", at=3)), member("n2", "p1"))
    theirs = merge_member(DispatchBook(), member("n1", "p1", at=2))
    delta = missing(mine, digest(theirs))
    assert set(delta.members) == {"n1", "n2"}
    assert to_update(delta).members == (mine.members["n1"], mine.members["n2"])
    assert missing(mine, digest(mine)) == DispatchBook()


def test_wants_says_whether_the_digest_holds_something_we_lack() -> None:
    empty = DispatchBook()
    full = merge_member(merge_dispatch(empty, dispatch()), member("n1", "p1"))
    assert wants(empty, digest(full))
    assert not wants(full, digest(empty))
    assert not wants(full, digest(full))
    acked = merge_ack(full, Acknowledge(dispatch_id="d1", modification_number=0, node_id="n1", response="ack", at=1))
    assert wants(full, digest(acked)) and not wants(acked, digest(full))
    rival = merge_dispatch(empty, dispatch(curtailment_kw=9.0))  # same number, other content
    assert wants(full, digest(rival)) and wants(rival, digest(full))


def test_a_reply_digest_says_so_on_the_wire() -> None:
    wire = digest(DispatchBook(), reply=True).to_wire()
    assert wire["reply"] is True
    assert DispatchDigest.model_validate(wire).reply
    assert DispatchDigest.model_validate({}).reply is False


def test_admit_update_merges_memberships() -> None:
    update = to_update(merge_member(merge_dispatch(DispatchBook(), dispatch()), member("n1", "p1")))
    book, rejected = admit_update(DispatchBook(), update, OPERATORS)
    assert rejected == () and book.members["n1"].programs == ("p1",) and "d1" in book.dispatches


def test_a_dispatch_without_issuer_is_unknown_not_verified() -> None:
    unsigned = Dispatch(dispatch_id="d", program_id="p", event_type="shed", start_time=1)
    assert unsigned.issuer is None and "issuer" not in unsigned.to_wire()
    with pytest.raises(DispatchRejected) as info:
        verify_dispatch(sign_dispatch(unsigned, SEED), OPERATORS)
    assert info.value.code == "unknown_operator"


def test_an_operator_may_leave_the_acknowledgement_time_to_the_node() -> None:
    a = Acknowledge.model_validate({"dispatchId": "d1", "modificationNumber": 0, "nodeId": "n1", "response": "ack"})
    assert a.at == 0
