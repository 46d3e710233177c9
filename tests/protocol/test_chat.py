"""Chat messages on the wire, and one conversation's order, de-duplication and receipts."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from protocol import codec
from protocol.chat import (
    MAX_HELD,
    MAX_HOPS,
    Chat,
    ChatAck,
    ChatReceipt,
    ChatRelay,
    ChatTyping,
    Conversation,
    forwarded,
    relay,
)
from protocol.envelopes import tell
from protocol.limits import MAX_TEXT_LEN
from protocol.messages import MESSAGE_TYPES
from protocol.roles import REQUIRED_ROLE, Role


def chat(seq: int, epoch: int = 7, sender: str = "4", to: str = "1") -> Chat:
    return Chat(chat_id=f"{epoch}-{seq}", sender=sender, to=to, text=f"message {seq}", sent=1000 + seq,
                epoch=epoch, seq=seq)  # fmt: skip


# ---------------------------------------------------------------- messages


def test_types_are_registered_with_roles_and_only_relays_come_from_peers() -> None:
    for name in ("Chat", "ChatReceipt", "ChatTyping", "ChatRelay", "ChatAck"):
        assert name in MESSAGE_TYPES
    assert [name for name in ("Chat", "ChatReceipt", "ChatTyping", "ChatRelay", "ChatAck")
            if MESSAGE_TYPES[name].from_peers] == ["ChatRelay", "ChatAck"]  # fmt: skip
    assert REQUIRED_ROLE["Chat"] == REQUIRED_ROLE["ChatReceipt"] == REQUIRED_ROLE["ChatTyping"] == Role.OWNER
    assert REQUIRED_ROLE["ChatRelay"] == REQUIRED_ROLE["ChatAck"] == Role.ADMIN


def test_an_operator_chat_needs_only_to_and_text_and_says_from_on_the_wire() -> None:
    body = b'{"envType":"Tell","msgType":"Chat","msg":{"to":1,"text":"my meter shows 3 kWh at night?"}}'
    env = codec.decode(body, "application/json")
    assert isinstance(env.message, Chat) and env.message.to == "1" and env.message.sender is None
    wire = chat(1).to_wire()
    assert wire["from"] == "4" and "sender" not in wire and wire["chatId"] == "7-1"


@pytest.mark.parametrize("text", ["", "   \n\t", "x" * (MAX_TEXT_LEN + 1)])
def test_blank_or_overlong_text_is_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        Chat(to="1", text=text)


def test_text_at_the_limit_passes() -> None:
    assert len(Chat(to="1", text="é" * MAX_TEXT_LEN).text) == MAX_TEXT_LEN


def test_a_relay_carries_exactly_one_complete_item_from_its_first_node() -> None:
    good = relay("r1", chat(1))
    assert good.kind == "chat" and good.origin == "4" and good.target == "1" and good.ttl == MAX_HOPS
    bad = [
        {"relayId": "r", "ttl": 3, "route": ["4"]},  # nothing
        {"relayId": "r", "ttl": 3, "route": ["4"], "chat": chat(1).to_wire(),
         "typing": {"from": "4", "to": "1"}},  # two items
        {"relayId": "r", "ttl": 3, "route": ["3"], "chat": chat(1).to_wire()},  # not from its origin
        {"relayId": "r", "ttl": 3, "route": ["4"], "chat": {"from": "4", "to": "1", "text": "x"}},  # no seq or id
        {"relayId": "r", "ttl": 3, "route": ["4", "3", "4"], "chat": chat(1).to_wire()},  # a loop
        {"relayId": "r", "ttl": 3, "route": ["4"], "typing": {"from": "4", "to": "4"}},  # to itself
        {"relayId": "r", "ttl": MAX_HOPS + 1, "route": ["4"], "chat": chat(1).to_wire()},
        {"relayId": "r", "ttl": 3, "route": [str(i) for i in range(MAX_HOPS + 2)],
         "chat": {**chat(1).to_wire(), "from": "0"}},
    ]  # fmt: skip
    for wire in bad:
        with pytest.raises(ValidationError):
            ChatRelay.model_validate(wire)


def test_forwarding_appends_the_hop_and_spends_one_ttl() -> None:
    hop = forwarded(forwarded(relay("r1", chat(1)), "3"), "2")
    assert hop.route == ("4", "3", "2") and hop.ttl == MAX_HOPS - 2 and hop.relay_id == "r1"


def test_relays_and_acks_survive_both_codecs() -> None:
    for message in (relay("r1", chat(3)), relay("r2", ChatReceipt(sender="1", to="4", epoch=7, delivered=3, read=2)),
                    relay("r3", ChatTyping(sender="1", to="4", at=5)), ChatAck(relay_ids=("r1", "r2"))):  # fmt: skip
        env = tell(message, return_id="4")
        for kind in (codec.MSGPACK, codec.JSON):
            assert codec.decode(codec.encode(env, kind), kind).message == message


def test_an_ack_names_one_to_256_relays() -> None:
    for ids in ((), tuple(str(i) for i in range(257))):
        with pytest.raises(ValidationError):
            ChatAck(relay_ids=ids)


def test_wire_json_of_a_relay_nests_camel_case() -> None:
    wire = json.loads(codec.encode(tell(relay("r1", chat(2))), codec.JSON))
    assert wire["msg"]["relayId"] == "r1" and wire["msg"]["chat"]["from"] == "4" and wire["msg"]["chat"]["seq"] == 2


# ---------------------------------------------------------------- one conversation


def test_chats_are_delivered_in_order_and_gaps_are_held() -> None:
    conv = Conversation("4")
    assert conv.accept(chat(2)) == ([], "held")
    assert conv.accept(chat(3)) == ([], "held")
    ready, verdict = conv.accept(chat(1))
    assert verdict == "new" and [c.seq for c in ready] == [1, 2, 3] and conv.in_delivered == 3 and not conv.held
    assert conv.accept(chat(2)) == ([], "duplicate")
    assert conv.unread == 3


def test_a_new_epoch_restarts_the_count_and_an_old_one_is_stale() -> None:
    conv = Conversation("4")
    conv.accept(chat(1, epoch=7))
    conv.accept(chat(3, epoch=7))
    ready, _ = conv.accept(chat(1, epoch=9))
    assert [c.seq for c in ready] == [1] and conv.in_epoch == 9 and not conv.held
    assert conv.accept(chat(2, epoch=7)) == ([], "stale")


def test_a_conversation_holds_back_a_bounded_number_of_chats() -> None:
    conv = Conversation("4")
    for seq in range(2, MAX_HELD + 2):
        assert conv.accept(chat(seq))[1] == "held"
    assert conv.accept(chat(MAX_HELD + 5)) == ([], "overflow")
    assert len(conv.accept(chat(1))[0]) == MAX_HELD + 1


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 40).flatmap(lambda n: st.tuples(
    st.just(n), st.lists(st.integers(1, n), max_size=3 * n).flatmap(lambda extra: st.permutations(
        list(range(1, n + 1)) + extra)))))  # fmt: skip
def test_any_arrival_order_with_duplicates_delivers_each_chat_once_in_order(case: tuple[int, list[int]]) -> None:
    n, arrivals = case
    conv = Conversation("4")
    delivered = []
    for seq in arrivals:
        delivered += [c.seq for c in conv.accept(chat(seq))[0]]
    assert delivered == list(range(1, n + 1))
    assert conv.in_delivered == n and not conv.held


def test_read_marks_are_clamped_to_what_was_delivered_and_never_go_back() -> None:
    conv = Conversation("4")
    conv.accept(chat(1))
    conv.accept(chat(2))
    assert conv.mark_read(10) and conv.in_read == 2 and conv.unread == 0
    assert not conv.mark_read(1) and conv.in_read == 2


def receipt(delivered: int, read: int, epoch: int = 7) -> ChatReceipt:
    return ChatReceipt(sender="1", to="4", epoch=epoch, delivered=delivered, read=read)


def test_receipts_of_another_epoch_or_beyond_what_was_sent_do_not_count() -> None:
    conv = Conversation("1", out_seq=3)
    assert not conv.take_receipt(receipt(3, 3, epoch=6), my_epoch=7)
    assert conv.take_receipt(receipt(9, 9), my_epoch=7)
    assert (conv.out_delivered, conv.out_read) == (3, 3)
    assert [conv.status_of(s) for s in (1, 3, 4)] == ["read", "read", "sent"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=1, max_size=12))
def test_receipts_merge_to_the_maximum_whatever_their_order(marks: list[tuple[int, int]]) -> None:
    conv = Conversation("1", out_seq=15)
    seen = []
    for delivered, read in marks:
        conv.take_receipt(receipt(delivered, read), my_epoch=7)
        seen.append((conv.out_delivered, conv.out_read))
    assert seen == sorted(seen)  # never backwards
    top_read = min(15, max(r for _, r in marks))
    assert conv.out_read == top_read
    assert conv.out_delivered == max(top_read, min(15, max(d for d, _ in marks)))
    assert conv.out_read <= conv.out_delivered
