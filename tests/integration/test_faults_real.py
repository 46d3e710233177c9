"""Real-process faults: kill -9 and restart on the same data directory; a link that stays down."""

from __future__ import annotations

import signal

from .procs import Cluster, wait_until

FAST = ["--heartbeat", "0.3", "--ttl", "1.5", "--sync-interval", "0.5"]


def test_killed_node_restarts_rejoins_and_is_heard(cluster: Cluster) -> None:
    a = cluster.start("A", "1", "t1", persist=True, extra=FAST)
    b = cluster.start("B", "2", "t2", persist=True, extra=FAST)
    c = cluster.start("C", "3", "t3", persist=True, extra=FAST)
    assert a.link(b)[0] == 202 and b.link(c)[0] == 202
    assert b.tell("UpdateEnergy", {"production": 7, "consumption": 2})[0] == 202
    cluster.agree([a, b, c], gridnet=5.0, live=3)
    incarnation = b.state()["incarnation"]

    b.kill()
    b.start()  # same port, same data directory

    restarted = b.state()
    assert restarted["incarnation"] > incarnation
    assert sorted(s["name"] for s in restarted["siblings"]) == ["A", "C"]
    assert (restarted["production"], restarted["consumption"]) == (7.0, 2.0)  # acknowledged, so kept
    cluster.agree([a, b, c], gridnet=5.0, live=3)
    assert b.tell("UpdateEnergy", {"production": 1, "consumption": 4})[0] == 202
    states = cluster.agree([a, b, c], gridnet=-3.0, live=3)
    assert {s["nodes_stale"] for s in states} == {0}


def test_link_down_makes_far_node_stale_then_all_agree_again(cluster: Cluster) -> None:
    a = cluster.start("A", "1", "t1", extra=FAST)
    b = cluster.start("B", "2", "t2", extra=FAST)
    c = cluster.start("C", "3", "t3", extra=FAST)
    assert a.link(b)[0] == 202 and b.link(c)[0] == 202
    assert a.tell("UpdateEnergy", {"production": 10, "consumption": 0})[0] == 202
    assert c.tell("UpdateEnergy", {"production": 0, "consumption": 4})[0] == 202
    cluster.agree([a, b, c], gridnet=6.0, live=3)

    c.signal(signal.SIGSTOP)  # the link to C stays down: C answers nothing
    try:
        states = cluster.agree([a, b], gridnet=10.0, live=2, timeout=15)
        assert {s["nodes_stale"] for s in states} == {1}
        rows = {r["id"]: r["status"] for r in wait_until(lambda: b.state() and _grid(b))["nodes"]}
        assert rows["3"] == "stale"
    finally:
        c.signal(signal.SIGCONT)
    cluster.agree([a, b, c], gridnet=6.0, live=3, timeout=15)


def _grid(node):  # type: ignore[no-untyped-def]
    from .procs import http

    return http("GET", node.address, "/grid")[1]
