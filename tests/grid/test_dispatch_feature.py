"""The dispatch feature in whole nodes on the in-memory transport: spread, act, answer, refuse, repair."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from protocol.dispatch import Acknowledge, cancelled, DispatchDigest, DispatchUpdate
from protocol.dispatch_book import digest, DispatchBook
from grid.node import Inbound
from protocol.envelopes import ask as ask_envelope
from protocol.errors import GridError

from ..integration.procs import free_port
from .dispatch_support import (
    OP,
    WRONG_SEED,
    answers,
    ask,
    call,
    config,
    consumption,
    make_dispatch,
    start_grid,
    table,
)
from .inproc import start_node, stop_node, wait_for

LINE = [("1", "2"), ("2", "3")]


async def test_a_dispatch_spreads_every_enrolled_node_sheds_and_the_issuer_sees_every_answer() -> None:
    tables = {"1": table(issuer=True), "2": table("manual"), "3": table("opt_out"), "4": table(program=None)}
    grid = await start_grid(tables, [*LINE, ("3", "4")])
    try:
        issuer = grid.services["1"]
        await wait_for(lambda: _live(grid, "4", 4))
        outcome = await call(issuer, make_dispatch(sign_with=None, issuer=None, length_ms=60_000))
        assert outcome.status == 202 and outcome.body["issuer"] == OP
        assert await wait_for(lambda: _shed(grid, {"1": 3.0, "2": 3.0, "3": 5.0, "4": 5.0}))
        # 2 answers by hand (manual policy); 3 opted out by policy; 4 is not enrolled.
        ack = Acknowledge(dispatch_id="d1", modification_number=0, node_id="2", response="ack")
        assert (await call(grid.services["2"], ack)).status == 202
        expected = {"modification_number": 0, "acknowledged": ["1", "2"], "opted_out": ["3"], "pending": []}
        for node_id in "1234":
            assert await wait_for(lambda: _answers_are(grid, node_id, expected))
        state = await grid.query("4")
        assert state["gridnet"] == -(3 + 3 + 5 + 5)
    finally:
        await grid.close()


async def test_window_edges_start_and_stop_curtailment() -> None:
    grid = await start_grid({"1": table(issuer=True), "2": table()}, [("1", "2")])
    try:
        await wait_for(lambda: _live(grid, "2", 2))
        start = make_dispatch().start_time + 400
        assert (await call(grid.services["1"], make_dispatch(start=start, length_ms=600))).status == 202
        assert await wait_for(lambda: _shed(grid, {"1": 3.0, "2": 3.0}))
        assert await wait_for(lambda: _shed(grid, {"1": 5.0, "2": 5.0}))
        rows = (await ask(grid.services["2"], "dispatch.list"))["dispatches"]
        assert [(r["dispatchId"], r["phase"]) for r in rows] == [("d1", "ended")]
    finally:
        await grid.close()


async def test_open_ended_dispatch_runs_until_cancelled() -> None:
    grid = await start_grid({"1": table(issuer=True), "2": table()}, [("1", "2")])
    try:
        d = make_dispatch(length_ms=None)
        assert (await call(grid.services["2"], d)).status == 202  # signed by the operator: any node takes it
        assert await wait_for(lambda: _shed(grid, {"1": 3.0, "2": 3.0}))
        stop = cancelled(d)  # unsigned: node 1 holds the key and signs it
        assert (await call(grid.services["1"], stop)).status == 202
        assert await wait_for(lambda: _shed(grid, {"1": 5.0, "2": 5.0}))
        kinds = [r["kind"] for r in (await ask(grid.services["2"], "dispatch.audit"))["records"]]
        assert "cancellation" in kinds
    finally:
        await grid.close()


async def test_forged_and_unsigned_dispatches_are_refused_logged_and_audited(caplog: pytest.LogCaptureFixture) -> None:
    grid = await start_grid({"1": table(), "2": table()}, [("1", "2")])
    try:
        node = grid.services["1"]
        forged = make_dispatch("evil", sign_with=WRONG_SEED)
        outcome = await call(node, forged)
        assert (outcome.status, outcome.body["error"]) == (403, "bad_signature")
        altered = make_dispatch("d2").model_copy(update={"curtailment_kw": 9.0})
        assert (await call(node, altered)).body["error"] == "bad_signature"
        unsigned = make_dispatch("d3", sign_with=None)  # this node holds no operator key
        assert (await call(node, unsigned)).status == 403
        stranger = make_dispatch("d4", issuer="mallory")
        assert (await call(node, stranger)).body["error"] == "unknown_operator"
        # A peer's batch: the forged item is refused, the honest one kept.
        batch = DispatchUpdate(dispatches=(forged, make_dispatch("good")))
        outcome = await call(node, batch, return_id="2")
        assert outcome.status == 202 and (outcome.body["new"], outcome.body["rejected"]) == (1, 1)
        listed = [r["dispatchId"] for r in (await ask(node, "dispatch.list"))["dispatches"]]
        assert listed == ["good"]
        rejections = (await ask(node, "dispatch.audit", kind="rejection"))["records"]
        assert [(r["subject"], r["payload"]["code"]) for r in rejections] == [
            ("evil", "bad_signature"), ("d2", "bad_signature"), ("d3", "bad_signature"),
            ("d4", "unknown_operator"), ("evil", "bad_signature"),
        ]  # fmt: skip
        assert "rejected dispatch evil" in caplog.text
        assert (await grid.query("1"))["dispatch"]["rejections"] == 5
    finally:
        await grid.close()


async def test_modifications_need_a_higher_number_and_answers_are_checked() -> None:
    grid = await start_grid({"1": table(issuer=True), "2": table("manual")}, [("1", "2")])
    try:
        node = grid.services["1"]
        d = make_dispatch()
        assert (await call(node, d)).status == 202
        assert (await call(node, d)).status == 200  # the same again changes nothing
        stale = make_dispatch(curtailment_kw=1.0)
        outcome = await call(node, stale)
        assert (outcome.status, outcome.body["error"]) == (409, "stale_modification")
        other = grid.services["2"]
        await wait_for(lambda: answers(other, "d1"))
        for bad, code in [
            (Acknowledge(dispatch_id="d1", modification_number=0, node_id="1", response="ack"), "not_this_node"),
            (Acknowledge(dispatch_id="nope", modification_number=0, node_id="2", response="ack"), "unknown_dispatch"),
            (Acknowledge(dispatch_id="d1", modification_number=3, node_id="2", response="ack"), "stale_modification"),
        ]:
            assert (await call(other, bad)).body["error"] == code
        # An acknowledgement is the node's own operator's word: a peer may not Ask for one.
        ack = Acknowledge(dispatch_id="d1", modification_number=0, node_id="2", response="ack")
        from_peer = await other.handle.call(lambda reply: Inbound(ask_envelope(ack, req_id="r1", return_id="1"), reply))
        assert from_peer.body["error"] == "not_a_peer_message"
        # Dispatches travel between nodes only inside DispatchUpdate batches.
        asked = await other.handle.call(lambda r: Inbound(ask_envelope(make_dispatch("x"), req_id="r2", return_id="1"), r))
        assert asked.status == 403
        assert (await call(other, digest(DispatchBook()), return_id="99")).body["error"] == "not_a_sibling"
    finally:
        await grid.close()


async def test_an_opt_out_after_an_ack_stops_shedding_at_that_node() -> None:
    grid = await start_grid({"1": table(issuer=True), "2": table()}, [("1", "2")])
    try:
        assert (await call(grid.services["1"], make_dispatch())).status == 202
        assert await wait_for(lambda: _shed(grid, {"1": 3.0, "2": 3.0}))
        out = Acknowledge(dispatch_id="d1", modification_number=0, node_id="2", response="opt_out")
        assert (await call(grid.services["2"], out)).status == 202
        assert await wait_for(lambda: _shed(grid, {"1": 3.0, "2": 5.0}))
        assert await wait_for(lambda: _answers_are(grid, "1", {"modification_number": 0, "acknowledged": ["1"],
                                                                 "opted_out": ["2"], "pending": []}))  # fmt: skip
    finally:
        await grid.close()


async def test_a_node_away_during_the_issue_pulls_the_dispatch_when_it_returns(tmp_path: Path) -> None:
    tables = {"1": table(issuer=True), "2": table(), "3": table()}
    dirs = {n: tmp_path / n for n in tables}
    grid = await start_grid(tables, LINE, data_dirs=dirs)
    try:
        await wait_for(lambda: _enrolled(grid, "1", ["1", "2", "3"]))
        away = grid.services["3"].config
        await grid.stop("3", graceful=False)
        assert (await call(grid.services["1"], make_dispatch())).status == 202
        await wait_for(lambda: _answers_are(grid, "1", {"modification_number": 0, "acknowledged": ["1", "2"],
                                                        "opted_out": [], "pending": ["3"]}))  # fmt: skip
        await grid.add(away)  # same data directory: same siblings, same reading
        assert await wait_for(lambda: _shed(grid, {"1": 3.0, "2": 3.0, "3": 3.0}))
        assert await wait_for(lambda: _answers_are(grid, "1", {"modification_number": 0,
                                                               "acknowledged": ["1", "2", "3"],
                                                               "opted_out": [], "pending": []}))  # fmt: skip
    finally:
        await grid.close()


async def test_reads_refuse_bad_parameters_and_unknown_dispatches() -> None:
    grid = await start_grid({"1": table()}, [])
    try:
        node = grid.services["1"]
        assert isinstance(await ask(node, "dispatch.audit", limit="many"), GridError)
        assert isinstance(await ask(node, "dispatch.audit", limit=0), GridError)
        missing = await ask(node, "dispatch.show", dispatch_id="nope")
        assert isinstance(missing, GridError) and missing.status == 404
    finally:
        await grid.close()


async def test_a_digest_brings_a_sibling_what_it_lacks() -> None:
    grid = await start_grid({"1": table(issuer=True), "2": table()}, [("1", "2")])
    try:
        await wait_for(lambda: _live(grid, "2", 2))
        assert (await call(grid.services["1"], make_dispatch())).status == 202
        await wait_for(lambda: answers(grid.services["2"], "d1"))
        outcome = await call(grid.services["1"], DispatchDigest(), return_id="2")
        assert outcome.status == 202 and outcome.body["sent"] >= 3  # the dispatch, two acks, memberships
    finally:
        await grid.close()


async def _live(grid, node_id: str, count: int) -> bool:  # type: ignore[no-untyped-def]
    return (await grid.query(node_id))["nodes_live"] == count


async def _enrolled(grid, node_id: str, nodes: list[str]) -> bool:  # type: ignore[no-untyped-def]
    return (await ask(grid.services[node_id], "dispatch.list"))["enrolled"] == {"p1": nodes}


async def _shed(grid, expected: dict[str, float]) -> bool:  # type: ignore[no-untyped-def]
    return all([await consumption(grid, n) == kw for n, kw in expected.items()])


async def _answers_are(grid, node_id: str, expected: dict) -> bool:  # type: ignore[no-untyped-def]
    return await answers(grid.services[node_id], "d1") == expected


async def test_the_read_endpoints_over_http() -> None:
    service = await start_node(replace(config("1", table(issuer=True)), port=free_port()))
    base = f"http://{service.config.address}"
    try:
        assert (await call(service, make_dispatch())).status == 202
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/dispatches") as resp:
                assert resp.status == 200 and [d["dispatchId"] for d in (await resp.json())["dispatches"]] == ["d1"]
            async with http.get(f"{base}/dispatches/d1") as resp:
                assert (await resp.json())["targets_status"] == {"1": "acknowledged"}
            async with http.get(f"{base}/audit?kind=dispatch") as resp:
                body = await resp.json()
                assert [r["subject"] for r in body["records"]] == ["d1"] and body["head"]["seq"] == body["count"]
            for path, status, code in [("/dispatches/nope", 404, "unknown_dispatch"),
                                       ("/audit?limit=x", 400, "bad_parameter"),
                                       ("/audit?after=-1", 400, "bad_parameter")]:  # fmt: skip
                async with http.get(base + path) as resp:
                    assert resp.status == status and (await resp.json())["error"] == code
    finally:
        await stop_node(service)
