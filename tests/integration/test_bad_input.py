"""Bad input on /messaging: always a 4xx JSON error, the node lives on, nothing changes."""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest

from .procs import Cluster, NodeProc, http, wait_until

JSON = {"Content-Type": "application/json", "Authorization": "t1"}
MSGPACK = {"Content-Type": "application/msgpack", "Authorization": "t1"}


def envelope(msg_type: str, msg: Any, env_type: str = "Tell", **meta: Any) -> bytes:
    return json.dumps({"envType": env_type, "msgType": msg_type, "msg": msg, **meta}).encode()


def energy(production: Any, consumption: Any) -> bytes:
    return envelope("UpdateEnergy", {"production": production, "consumption": consumption})


# (case, body, headers, expected status, expected error code or None to accept any)
CASES: list[tuple[str, bytes, dict[str, str], int, str | None]] = [
    ("invalid JSON", b'{"envType": "Tell",', JSON, 400, "invalid_json"),
    ("invalid msgpack", b"\xc1\xc1\xc1", MSGPACK, 400, "invalid_msgpack"),
    ("msgpack not a map", msgpack.packb([1, 2, 3]), MSGPACK, 400, "invalid_envelope"),
    ("non-UTF-8 bytes", b"\xff\xfe\xfd" + energy(0, 1), JSON, 400, "invalid_json"),
    # 100,000-deep JSON is 200 KB: refused for its size before it is parsed.
    ("100,000-deep JSON", b"[" * 100_000 + b"]" * 100_000, JSON, 413, "too_large"),
    ("30,000-deep JSON under the size limit", b"[" * 30_000 + b"]" * 30_000, JSON, 400, "invalid_json"),
    ("deep JSON inside msg", b'{"envType":"Tell","msgType":"SyncGrid","msg":{"x":' + b"[" * 30_000 + b"]" * 30_000 + b"}}",
     JSON, 400, "invalid_json"),
    ("60,000-deep msgpack", b"\x91" * 60_000 + b"\xc0", MSGPACK, 400, "invalid_msgpack"),
    ("body over the limit", b'{"pad": "' + b"x" * 70_000 + b'"}', JSON, 413, "too_large"),
    ("wrong content type", energy(0, 1), {"Content-Type": "text/plain", "Authorization": "t1"}, 415, None),
    ("no content type", energy(0, 1), {"Authorization": "t1"}, 415, None),
    ("empty body", b"", JSON, 400, "empty_body"),
    ("wrong types", energy("lots", [1]), JSON, 400, "invalid_msg"),
    ("missing fields", envelope("UpdateEnergy", {"production": 1}), JSON, 400, "invalid_msg"),
    ("missing envType", b'{"msgType": "UpdateEnergy", "msg": {}}', JSON, 400, "invalid_envelope"),
    ("NaN", b'{"envType":"Tell","msgType":"UpdateEnergy","msg":{"production":NaN,"consumption":1}}', JSON, 400, None),
    ("1e999", b'{"envType":"Tell","msgType":"UpdateEnergy","msg":{"production":1e999,"consumption":1}}', JSON, 400, None),
    ("negative energy", energy(-5, 1), JSON, 400, "invalid_msg"),
    ("absurd energy", energy(1e15, 1), JSON, 400, "invalid_msg"),
    ("unknown field", envelope("UpdateEnergy", {"production": 1, "consumption": 1, "x": 1}), JSON, 400, "invalid_msg"),
    ("unknown msgType", envelope("LaunchRockets", {}), JSON, 400, "unknown_msg_type"),
    ("unknown envType", envelope("UpdateEnergy", {"production": 1, "consumption": 1}, "Shout"), JSON, 400, None),
    ("missing token", energy(1, 1), {"Content-Type": "application/json"}, 401, "missing_token"),
    ("wrong token", energy(1, 1), {"Content-Type": "application/json", "Authorization": "t2"}, 401, "wrong_token"),
    ("wrong bearer", energy(1, 1), {"Content-Type": "application/json", "Authorization": "Bearer x"}, 401, None),
    ("Response nobody asked for",
     envelope("AddSibling", {"siblingName": "X", "siblingAddress": "127.0.0.1:9", "siblingId": "9"},
              "Response", reqId="nope", returnId="9"), JSON, 409, "unexpected_response"),
    ("Ask from a non-sibling", envelope("SyncGrid", {"digest": {}}, "Ask", reqId="r1", returnId="99"), JSON, 403,
     "not_a_sibling"),
    ("digest from a non-sibling", envelope("SyncGrid", {"digest": {"99": [1, 1]}}, returnId="99"), JSON, 403,
     "not_a_sibling"),
    # An operator message cannot skip the token by claiming to come from a peer.
    ("UpdateEnergy claiming a returnId, no token",
     envelope("UpdateEnergy", {"production": 1, "consumption": 1}, returnId="99"),
     {"Content-Type": "application/json"}, 401, "missing_token"),
    ("AddSibling claiming a returnId, no token",
     envelope("AddSibling", {"siblingName": "B", "siblingAddress": "127.0.0.1:9", "siblingId": "2"}, returnId="2"),
     {"Content-Type": "application/json"}, 401, "missing_token"),
    ("UpdateEnergy asked by a non-sibling", envelope("UpdateEnergy", {"production": 1, "consumption": 1}, "Ask",
     reqId="r2", returnId="99"), JSON, 403, "not_a_sibling"),
    ("UpdateNet without returnId", envelope("UpdateNet", {"entries": []}), JSON, 400, "missing_return_id"),
    ("AddSibling to own address",
     envelope("AddSibling", {"siblingName": "B", "siblingAddress": "OWN", "siblingId": "2"}), JSON, 409, "self_link"),
    ("AddSibling to own id",
     envelope("AddSibling", {"siblingName": "B", "siblingAddress": "127.0.0.1:9", "siblingId": "1"}), JSON, 409,
     "self_link"),
    ("AddSibling to an invalid address",
     envelope("AddSibling", {"siblingName": "B", "siblingAddress": "not an address", "siblingId": "2"}), JSON, 400,
     "invalid_msg"),
    ("RemoveSibling of a stranger", envelope("RemoveSibling", {"siblingId": "42"}), JSON, 404, "not_a_sibling"),
]  # fmt: skip


def observable(node: NodeProc) -> dict[str, Any]:
    """What must not change after a rejected request."""
    state = node.state()
    return {k: state[k] for k in ("production", "consumption", "gridnet", "version", "siblings", "nodes_live")}


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Any:
    cluster = Cluster(tmp_path_factory.mktemp("bad-input"))
    # A long heartbeat keeps the node's own version still, so "unchanged" is exact.
    a = cluster.start("A", "1", "t1", extra=["--heartbeat", "600", "--ttl", "3000", "--sync-interval", "600"])
    assert a.tell("UpdateEnergy", {"production": 3, "consumption": 1})[0] == 202
    yield a
    cluster.close()


@pytest.mark.parametrize("case,body,headers,status,code", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_a_4xx_json_error_and_changes_nothing(node: NodeProc, case, body, headers, status, code) -> None:
    before = observable(node)
    body = body.replace(b"OWN", node.address.encode())
    got, answer = http("POST", node.address, "/messaging", body, headers)
    assert got == status, (case, answer)
    assert isinstance(answer, dict) and set(answer) == {"error", "detail"}, answer
    if code is not None:
        assert answer["error"] == code, answer
    assert http("GET", node.address, "/healthz")[0] == 200
    assert observable(node) == before


def test_supported_types_are_named_for_an_unknown_msg_type(node: NodeProc) -> None:
    _, answer = http("POST", node.address, "/messaging", envelope("Nope", {}), JSON)
    assert {"UpdateEnergy", "AddSibling", "SyncGrid", "UpdateNet", "RemoveSibling"} <= set(answer["detail"]["supported"])


def test_unknown_route_and_method_are_json_errors(node: NodeProc) -> None:
    status, answer = http("GET", node.address, "/nowhere")
    assert status == 404 and answer["error"] == "not_found"
    status, answer = http("DELETE", node.address, "/messaging")
    assert status == 405 and "error" in answer


def test_unreachable_sibling_is_reported_in_state_not_fatal(node: NodeProc) -> None:
    from .procs import free_port

    address = f"127.0.0.1:{free_port()}"
    status, _ = node.tell("AddSibling", {"siblingName": "Ghost", "siblingAddress": address, "siblingId": "77"})
    assert status == 202
    link = wait_until(lambda: (l := node.state()["links"].get(address)) and l["status"] == "failed" and l, timeout=10)
    assert link["id"] == "77" and link["error"]
    assert node.state()["siblings"] == []
