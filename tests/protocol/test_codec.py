"""The codec, table-driven: what round-trips, what is normalised, and how each bad input is refused.

Every rejection must be a :class:`GridError` with the status and code the HTTP
layer will answer with, and a detail that is itself JSON, so no input can make
a node answer 5xx.
"""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest

from protocol import codec
from protocol.codec import JSON, MSGPACK, decode, encode, media_type
from protocol.entry import Entry
from protocol.envelopes import Envelope, ask, tell
from protocol.errors import BadMessage, GridError, TooLarge, UnsupportedMediaType
from protocol.limits import MAX_BODY_BYTES
from protocol.messages import AddSibling, RemoveSibling, SyncGrid, UpdateEnergy, UpdateNet

ENTRY = Entry(
    origin="A",
    incarnation=3,
    version=17,
    name="Node A",
    address="127.0.0.1:8081",
    production_w=20_000,
    consumption_w=5_000,
    offer=((-15_000, 0), (2_000, 300)),
    siblings=("B", "C"),
)
LEFT = Entry(origin="B", incarnation=1, version=2, status="left", name="B", address="127.0.0.1:8082")

MESSAGES = {
    "UpdateEnergy": UpdateEnergy(production=0, consumption=10.5),
    "AddSibling": AddSibling(sibling_name="B", sibling_address="127.0.0.1:8082", sibling_id="2"),
    "SyncGrid (operator)": SyncGrid(),
    "SyncGrid (peer)": SyncGrid(digest={"A": (3, 17), "B": (1, 2)}, round="r-1", reply=True),
    "UpdateNet": UpdateNet(entries=(ENTRY, LEFT), ages_ms=(120, 0)),
    "UpdateNet (no ages)": UpdateNet(entries=(ENTRY,)),
    "RemoveSibling": RemoveSibling(sibling_id="B"),
}
META = {"id": "m-1", "timestamp": 1_700_000_000_000, "req_id": "q-9", "master_req_id": "op-1", "return_id": "A"}


def envelope(env_type: str, message: Any, **meta: Any) -> Envelope:
    return Envelope(env_type, message, **meta)  # type: ignore[arg-type]


def body(envelope_dict: dict[str, Any], kind: str = JSON) -> bytes:
    return json.dumps(envelope_dict).encode() if kind == JSON else msgpack.packb(envelope_dict, use_bin_type=True)


def tell_json(msg_type: str, msg: Any, **extra: Any) -> bytes:
    return json.dumps({"envType": "Tell", "msgType": msg_type, "msg": msg, **extra}).encode()


# ---------------------------------------------------------------------- round trips
@pytest.mark.parametrize("kind", [JSON, MSGPACK])
@pytest.mark.parametrize("env_type", ["Tell", "Ask", "Response"])
@pytest.mark.parametrize("name", list(MESSAGES))
def test_every_message_round_trips(name: str, env_type: str, kind: str) -> None:
    for meta in ({}, META):
        original = envelope(env_type, MESSAGES[name], **meta)
        decoded = decode(encode(original, kind), kind)
        assert decoded == original
        assert decoded.msg_type == MESSAGES[name].msg_type


def test_the_original_curl_bodies_are_accepted() -> None:
    energy = b"""{"envType":"Tell","msgType":"UpdateEnergy",
                  "msg":{"production":0,"consumption":10}}"""
    link = b"""{"envType":"Tell","msgType":"AddSibling",
                "msg":{"siblingName":"B","siblingAddress":"127.0.0.1:8082","siblingId":"2"}}"""
    sync = b'{"envType":"Tell","msgType":"SyncGrid","msg":{}}'
    assert decode(energy, JSON).message == UpdateEnergy(production=0, consumption=10)
    assert decode(link, JSON).message.sibling_id == "2"
    assert decode(sync, JSON).message == SyncGrid()
    assert not decode(sync, JSON).is_peer


@pytest.mark.parametrize("kind", [JSON, MSGPACK])
def test_integer_ids_are_normalised_to_strings(kind: str) -> None:
    wire = {
        "envType": "Ask",
        "msgType": "AddSibling",
        "msg": {"siblingName": "B", "siblingAddress": "127.0.0.1:8082", "siblingId": 2},
        "id": 7,
        "reqId": 3,
        "masterReqId": 11,
        "returnId": 1,
    }
    decoded = decode(body(wire, kind), kind)
    assert (decoded.id, decoded.req_id, decoded.master_req_id, decoded.return_id) == ("7", "3", "11", "1")
    assert decoded.message.sibling_id == "2"
    entry = {**ENTRY.to_wire(), "origin": 5}
    net = decode(body({"envType": "Tell", "msgType": "UpdateNet", "msg": {"entries": [entry]}}, kind), kind)
    assert net.message.entries[0].origin == "5"
    remove = decode(body({"envType": "Tell", "msgType": "RemoveSibling", "msg": {"siblingId": 9}}, kind), kind)
    assert remove.message.sibling_id == "9"


@pytest.mark.parametrize(
    "content_type, expected",
    [
        ("application/json", JSON),
        ("application/json; charset=utf-8", JSON),
        ("Application/JSON", JSON),
        ("application/msgpack", MSGPACK),
        ("application/x-msgpack", MSGPACK),
        ("application/vnd.msgpack", MSGPACK),
    ],
)
def test_content_types_are_normalised(content_type: str, expected: str) -> None:
    assert media_type(content_type) == expected


def test_unknown_fields_are_ignored_on_the_envelope_and_in_entries() -> None:
    """Forward compatibility: newer peers may append fields; messages themselves stay strict."""
    entry = {**ENTRY.to_wire(), "futureField": 1}
    wire = tell_json("UpdateNet", {"entries": [entry]}, futureMeta={"x": 1})
    assert decode(wire, JSON).message.entries == (ENTRY,)


def test_a_body_of_exactly_the_limit_is_accepted() -> None:
    wire = tell_json("SyncGrid", {})
    padded = wire[:-1] + b" " * (MAX_BODY_BYTES - len(wire)) + b"}"
    assert len(padded) == MAX_BODY_BYTES
    assert decode(padded, JSON).message == SyncGrid()


# ---------------------------------------------------------------------- rejections
ENERGY = {"production": 1, "consumption": 2}
LINK = {"siblingName": "B", "siblingAddress": "127.0.0.1:8082", "siblingId": "2"}
DEEP = 100_000


def msgpack_map_with_bad_utf8() -> bytes:
    return b"\x83\xa7envType\xa4Tell\xa7msgType\xa8SyncGrid\xa3msg\x81\xa5round\xa2\xff\xfe"


def tell_msgpack(msg_type: str, msg: Any) -> bytes:
    return body({"envType": "Tell", "msgType": msg_type, "msg": msg}, MSGPACK)


def energy_literal(production: bytes) -> bytes:
    """An UpdateEnergy body with a raw JSON token for production (NaN, Infinity, 1e999)."""
    return b'{"envType":"Tell","msgType":"UpdateEnergy","msg":{"production":' + production + b',"consumption":1}}'


SYNC = tell_json("SyncGrid", {})
ENTRY_WIRE = ENTRY.to_wire()
NO_ORIGIN = {"incarnation": 1, "version": 1, "name": "A", "address": "a:1"}
#: The class and status of each error code; every other code is a 400 BadMessage.
ERRORS = {"too_large": (TooLarge, 413), "unsupported_media_type": (UnsupportedMediaType, 415)}
ANY_TYPE = "unsupported_media_type"

BAD = [
    # (case, body, content type, code)
    ("invalid json", b'{"envType": "Tell",', JSON, "invalid_json"),
    ("not json at all", b"envType=Tell", JSON, "invalid_json"),
    ("whitespace only", b"   ", JSON, "invalid_json"),
    ("invalid msgpack", b"\xc1", MSGPACK, "invalid_msgpack"),
    ("truncated msgpack", b"\x92\x01", MSGPACK, "invalid_msgpack"),
    ("msgpack with trailing bytes", msgpack.packb({"envType": "Tell"}) + b"\x01", MSGPACK, "invalid_msgpack"),
    ("msgpack with integer map keys", msgpack.packb({1: 2}), MSGPACK, "invalid_msgpack"),
    ("non-utf-8 json", SYNC.replace(b"{}", b'{"round":"\xff\xfe"}'), JSON, "invalid_json"),
    ("non-utf-8 bytes", b"\xff\xfe\xfd", JSON, "invalid_json"),
    ("non-utf-8 msgpack string", msgpack_map_with_bad_utf8(), MSGPACK, "invalid_msgpack"),
    ("deep json under the limit", b"[" * 60_000, JSON, "invalid_json"),
    ("deep json objects under the limit", b'{"a":' * 12_000, JSON, "invalid_json"),
    ("deep msgpack under the limit", b"\x91" * 60_000 + b"\x90", MSGPACK, "invalid_msgpack"),
    ("100,000-deep json", b"[" * DEEP + b"]" * DEEP, JSON, "too_large"),
    ("100,000-deep msgpack", b"\x91" * DEEP + b"\x90", MSGPACK, "too_large"),
    ("over 64 KiB", SYNC + b" " * MAX_BODY_BYTES, JSON, "too_large"),
    ("over 64 KiB msgpack", b"\x00" * (MAX_BODY_BYTES + 1), MSGPACK, "too_large"),
    ("missing content type", SYNC, None, ANY_TYPE),
    ("empty content type", SYNC, "", ANY_TYPE),
    ("text/plain", SYNC, "text/plain", ANY_TYPE),
    ("form", b"envType=Tell", "application/x-www-form-urlencoded", ANY_TYPE),
    ("json suffix is not json", SYNC, "application/jsonx", ANY_TYPE),
    ("empty body", b"", JSON, "empty_body"),
    ("empty msgpack body", b"", MSGPACK, "empty_body"),
    ("envelope is a list", b"[]", JSON, "invalid_envelope"),
    ("envelope is a string", b'"Tell"', JSON, "invalid_envelope"),
    ("msgpack envelope is a list", msgpack.packb([1, 2]), MSGPACK, "invalid_envelope"),
    ("missing envType", b'{"msgType":"SyncGrid","msg":{}}', JSON, "invalid_envelope"),
    ("missing msgType", b'{"envType":"Tell","msg":{}}', JSON, "invalid_envelope"),
    ("unknown envType", b'{"envType":"Shout","msgType":"SyncGrid","msg":{}}', JSON, "invalid_envelope"),
    ("envType not a string", b'{"envType":1,"msgType":"SyncGrid","msg":{}}', JSON, "invalid_envelope"),
    ("msgType not a string", b'{"envType":"Tell","msgType":5,"msg":{}}', JSON, "invalid_envelope"),
    ("msgType too long", tell_json("X" * 500, {}), JSON, "invalid_envelope"),
    ("msg is a list", tell_json("SyncGrid", []), JSON, "invalid_envelope"),
    ("msg is a string", tell_json("SyncGrid", "{}"), JSON, "invalid_envelope"),
    ("returnId is a bool", tell_json("SyncGrid", {}, returnId=True), JSON, "invalid_envelope"),
    ("id with spaces", tell_json("SyncGrid", {}, id="a b"), JSON, "invalid_envelope"),
    ("timestamp is text", tell_json("SyncGrid", {}, timestamp="now"), JSON, "invalid_envelope"),
    ("negative timestamp", tell_json("SyncGrid", {}, timestamp=-1), JSON, "invalid_envelope"),
    ("envType as msgpack bytes", msgpack.packb({"envType": b"Tell", "msgType": "SyncGrid"}), MSGPACK, "invalid_envelope"),
    ("unknown msgType", tell_json("MakeCoffee", {}), JSON, "unknown_msg_type"),
    ("production is text", tell_json("UpdateEnergy", {**ENERGY, "production": "lots"}), JSON, "invalid_msg"),
    ("production is a list", tell_json("UpdateEnergy", {**ENERGY, "production": [1]}), JSON, "invalid_msg"),
    ("production is null", tell_json("UpdateEnergy", {**ENERGY, "production": None}), JSON, "invalid_msg"),
    ("siblingId is a bool", tell_json("AddSibling", {**LINK, "siblingId": True}), JSON, "invalid_msg"),
    ("siblingId is an object", tell_json("AddSibling", {**LINK, "siblingId": {}}), JSON, "invalid_msg"),
    ("address without port", tell_json("AddSibling", {**LINK, "siblingAddress": "localhost"}), JSON, "invalid_msg"),
    ("name too long", tell_json("AddSibling", {**LINK, "siblingName": "B" * 500}), JSON, "invalid_msg"),
    ("digest stamp too short", tell_json("SyncGrid", {"digest": {"A": [1]}}), JSON, "invalid_msg"),
    ("digest stamp negative", tell_json("SyncGrid", {"digest": {"A": [1, -1]}}), JSON, "invalid_msg"),
    ("reply is not a bool", tell_json("SyncGrid", {"reply": "maybe"}), JSON, "invalid_msg"),
    ("entries is not a list", tell_json("UpdateNet", {"entries": "A"}), JSON, "invalid_msg"),
    ("ages do not match entries", tell_json("UpdateNet", {"entries": [ENTRY_WIRE], "agesMs": [1, 2]}), JSON, "invalid_msg"),
    ("negative watts", tell_json("UpdateNet", {"entries": [{**ENTRY_WIRE, "productionW": -1}]}), JSON, "invalid_msg"),
    ("missing consumption", tell_json("UpdateEnergy", {"production": 1}), JSON, "invalid_msg"),
    ("missing siblingAddress", tell_json("AddSibling", {"siblingName": "B", "siblingId": "2"}), JSON, "invalid_msg"),
    ("missing entries", tell_json("UpdateNet", {}), JSON, "invalid_msg"),
    ("entry without origin", tell_json("UpdateNet", {"entries": [NO_ORIGIN]}), JSON, "invalid_msg"),
    ("NaN energy", energy_literal(b"NaN"), JSON, "invalid_msg"),
    ("boolean energy", energy_literal(b"true"), JSON, "invalid_msg"),
    ("string energy", energy_literal(b'"1"'), JSON, "invalid_msg"),
    ("Infinity energy", energy_literal(b"Infinity"), JSON, "invalid_msg"),
    ("1e999 energy", energy_literal(b"1e999"), JSON, "invalid_msg"),
    ("negative energy", tell_json("UpdateEnergy", {**ENERGY, "consumption": -0.5}), JSON, "invalid_msg"),
    ("absurd energy", tell_json("UpdateEnergy", {**ENERGY, "production": 1e12}), JSON, "invalid_msg"),
    ("msgpack NaN energy", tell_msgpack("UpdateEnergy", {**ENERGY, "production": float("nan")}), MSGPACK, "invalid_msg"),
    ("msgpack infinite energy", tell_msgpack("UpdateEnergy", {**ENERGY, "production": float("inf")}), MSGPACK, "invalid_msg"),
    ("extra field in msg", tell_json("UpdateEnergy", {**ENERGY, "voltage": 230}), JSON, "invalid_msg"),
    ("extra field in SyncGrid", tell_json("SyncGrid", {"everything": True}), JSON, "invalid_msg"),
    ("extra field in msgpack msg", tell_msgpack("RemoveSibling", {"siblingId": "B", "x": 1}), MSGPACK, "invalid_msg"),
]


@pytest.mark.parametrize(("case", "raw", "content_type", "code"), BAD, ids=[row[0] for row in BAD])
def test_bad_input_is_refused_with_the_right_error(case: str, raw: bytes, content_type: str | None, code: str) -> None:
    error, status = ERRORS.get(code, (BadMessage, 400))
    with pytest.raises(GridError) as caught:
        decode(raw, content_type)
    exc = caught.value
    assert type(exc) is error, (case, exc)
    assert (exc.status, exc.code) == (status, code)
    answer = json.loads(codec.encode_json(exc.to_json()))  # the error body is plain JSON
    assert answer["error"] == code and answer["detail"]


def test_problems_name_the_offending_field() -> None:
    with pytest.raises(BadMessage) as caught:
        decode(tell_json("UpdateEnergy", {"production": 1}), JSON)
    assert [p["field"] for p in caught.value.detail] == ["consumption"]
    with pytest.raises(BadMessage) as caught:
        decode(tell_json("UpdateEnergy", {**ENERGY, "voltage": 230}), JSON)
    assert [p["field"] for p in caught.value.detail] == ["voltage"]


def test_unknown_msg_type_names_the_supported_types() -> None:
    with pytest.raises(BadMessage) as caught:
        decode(tell_json("MakeCoffee", {}), JSON)
    exc = caught.value
    assert exc.status == 400 and exc.code == "unknown_msg_type"
    assert exc.detail["unknown msgType"] == "MakeCoffee"
    assert {"UpdateEnergy", "AddSibling", "SyncGrid", "UpdateNet", "RemoveSibling"} <= set(exc.detail["supported"])


def test_the_detail_does_not_echo_large_inputs() -> None:
    with pytest.raises(BadMessage) as caught:
        decode(tell_json("AddSibling", {**LINK, "siblingName": "Z" * 60_000}), JSON)
    assert "ZZZZ" not in json.dumps(caught.value.to_json())


@pytest.mark.parametrize(
    "raw, kind",
    [(b"[" * DEEP + b"]" * DEEP, JSON), (b'{"a":' * DEEP + b"1" + b"}" * DEEP, JSON), (b"\x91" * DEEP + b"\x90", MSGPACK)],
    ids=["json arrays", "json objects", "msgpack arrays"],
)
def test_deep_nesting_is_refused_without_recursion_even_past_the_size_limit(
    raw: bytes, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parsers themselves stop at a small depth: no RecursionError, no crash."""
    monkeypatch.setattr(codec, "MAX_BODY_BYTES", 10 * len(raw))
    with pytest.raises(BadMessage) as caught:
        decode(raw, kind)
    assert caught.value.code in ("invalid_json", "invalid_msgpack")


def test_the_size_limit_is_checked_before_parsing() -> None:
    assert MAX_BODY_BYTES == 64 * 1024
    with pytest.raises(TooLarge) as caught:
        decode(b"\xff" * (MAX_BODY_BYTES + 1), JSON)  # garbage, yet 413: never parsed
    assert caught.value.status == 413


def test_the_content_type_is_checked_first() -> None:
    with pytest.raises(UnsupportedMediaType):
        decode(b"\xff" * (MAX_BODY_BYTES + 1), "text/plain")


# ---------------------------------------------------------------------- envelopes
@pytest.mark.parametrize(
    "env, peer",
    [
        (tell(SyncGrid()), False),
        (tell(SyncGrid(), return_id="A"), True),
        (ask(AddSibling(**LINK), req_id="1", return_id="A"), True),
        (Envelope("Ask", SyncGrid()), True),
        (Envelope("Response", SyncGrid()), True),
        (ask(AddSibling(**LINK), req_id="1", return_id="A").reply(SyncGrid(), return_id="B"), True),
        (Envelope("Tell", UpdateEnergy(production=1, consumption=0), id="1", req_id="2"), False),
    ],
)
def test_is_peer(env: Envelope, peer: bool) -> None:
    assert env.is_peer is peer
    assert decode(encode(env, JSON), JSON).is_peer is peer


def test_a_response_keeps_the_request_ids() -> None:
    question = ask(AddSibling(**LINK), req_id="q1", return_id="A", master_req_id="op")
    answer = question.reply(AddSibling(siblingName="A", siblingAddress="127.0.0.1:8081", siblingId="1"), "B")
    assert (answer.env_type, answer.req_id, answer.master_req_id, answer.return_id) == ("Response", "q1", "op", "B")
