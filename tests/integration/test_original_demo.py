"""The original README demo, byte for byte: four terminals, curl, a ring A-B-D-C-A."""

from __future__ import annotations

from .procs import Cluster, curl_get, wait_until


def update_energy(production: float, consumption: float) -> dict:
    return {"envType": "Tell", "msgType": "UpdateEnergy", "msg": {"production": production, "consumption": consumption}}


def add_sibling(name: str, address: str, sibling_id: str) -> dict:
    return {
        "envType": "Tell",
        "msgType": "AddSibling",
        "msg": {"siblingName": name, "siblingAddress": address, "siblingId": sibling_id},
    }


def test_four_nodes_agree_on_gridnet_after_the_readme_curls(cluster: Cluster) -> None:
    a, b, c, d = (cluster.start(n, str(i), f"t{i}", port=None) for i, n in enumerate("ABCD", start=1))

    assert curl_get(a.address, update_energy(0, 10), "t1")[0] == 202
    assert curl_get(b.address, update_energy(20, 5), "t2")[0] == 202
    # A to B, B to D, D to C, C to A: the ring of the README.
    for node, token, other in ((a, "t1", b), (b, "t2", d), (d, "t4", c), (c, "t3", a)):
        status, body = curl_get(node.address, add_sibling(other.name, other.address, other.node_id), token)
        assert status == 202, body

    # Each curl answers once the handshake has started; the last link may complete after
    # the other three already carried every entry around, so wait for the ring itself.
    ring = {"A": ["B", "C"], "B": ["A", "D"], "C": ["A", "D"], "D": ["B", "C"]}
    wait_until(lambda: all(sorted(x["name"] for x in n.state()["siblings"]) == ring[n.name] for n in (a, b, c, d)))
    states = cluster.agree([a, b, c, d], gridnet=5.0, live=4)
    siblings = {s["name"]: sorted(x["name"] for x in s["siblings"]) for s in states}
    assert siblings == ring
    assert {s["gridnet_w"] for s in states} == {5000}


def test_the_readme_typo_linking_a_node_to_itself_is_refused(cluster: Cluster) -> None:
    a = cluster.start("A", "1", "t1")
    # The README's first AddSibling names B but gives A's own address.
    status, body = curl_get(a.address, add_sibling("B", a.address, "2"), "t1")
    assert status == 409 and body["error"] == "self_link"
    assert a.state()["siblings"] == []
