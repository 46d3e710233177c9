"""The dashboard in a real browser (headless Chromium) against real node processes.

Topology (a ring; the page under test is served by node 2)::

    1 (issues dispatches) --- 2 (page, meter, answers by hand)
    |                         |
    4 ----------------------- 3

The tests share the grid and the browser and run in file order: each reads
what the grid says now rather than assuming what an earlier test left, and
the last one checks every request the browser made during the whole module.
"""

from __future__ import annotations

import json
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from protocol.dispatch import public_key_from_seed

from ..integration.procs import Cluster, NodeProc, curl_get, http, wait_until
from .browser import DESKTOP, PHONE, Browser, missing

SEED = bytes(range(32))
OPERATOR = "op-test"
DEVICE, MAX_KWH = "meter-1", 1.0
FAST = ["--heartbeat", "0.3", "--ttl", "3", "--sync-interval", "0.5"]
NETWORK_SCHEMES = {"http", "https", "ws", "wss", "ftp"}

needs_browser = pytest.mark.skipif(missing() is not None, reason=missing() or "")


def node_config(path: Path, policy: str, *, issuer: bool = False, meter: bool = False) -> Path:
    """A node TOML file: dispatch (enrolled in program p1) and optionally a meter."""
    lines = ["[dispatch]", f'ack_policy = "{policy}"', "digest_every = 1"]
    if issuer:
        lines += [f'operator_seed = "{SEED.hex()}"', f'operator_id = "{OPERATOR}"']
    lines += ["[dispatch.operators]", f'{OPERATOR} = "{public_key_from_seed(SEED).hex()}"',
              "[[dispatch.programs]]", 'program_id = "p1"', 'name = "Peak saver"', "offered_kw = 1.0"]  # fmt: skip
    if meter:
        lines += ["[metering]", f'devices = [{{id = "{DEVICE}", max_hourly_kwh = {MAX_KWH}}}]']
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def grid(module_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, NodeProc]:
    """Four linked nodes with readings, agreeing on a grid net of 5 kW."""
    folder = tmp_path_factory.mktemp("configs")
    configs = {
        "1": node_config(folder / "1.toml", "opt_in", issuer=True),
        "2": node_config(folder / "2.toml", "manual", meter=True),
        "3": node_config(folder / "3.toml", "opt_in"),
        "4": node_config(folder / "4.toml", "opt_in"),
    }
    with ThreadPoolExecutor(4) as pool:
        started = [pool.submit(module_cluster.start, f"N{i}", i, f"t{i}", extra=FAST + ["--config", str(path)])
                   for i, path in configs.items()]  # fmt: skip
        nodes = {n.node_id: n for n in (f.result() for f in started)}
    for a, b in (("1", "2"), ("2", "3"), ("3", "4"), ("4", "1")):
        assert nodes[a].link(nodes[b])[0] == 202
    readings = {"1": (0, 10), "2": (20, 5), "3": (0, 0), "4": (0, 0)}
    for i, (production, consumption) in readings.items():
        assert nodes[i].tell("UpdateEnergy", {"production": production, "consumption": consumption})[0] == 202
    module_cluster.agree(list(nodes.values()), gridnet=5.0, live=4, timeout=30)
    return nodes


@pytest.fixture(scope="module")
def page(grid: dict[str, NodeProc], browser: Browser) -> Browser:
    """The browser showing node 2's dashboard, live."""
    browser.resize(DESKTOP)
    browser.open(f"http://{grid['2'].address}/")
    browser.wait_for(lambda: browser.text("#conn") == "live (event stream)", timeout=10)
    return browser


def figure(page: Browser, name: str) -> float | None:
    raw = page.field(name)
    return None if raw is None else float(raw)


def test_the_page_is_served_whole_with_a_strict_policy(grid: dict[str, NodeProc]) -> None:
    address = grid["3"].address
    status, body = http("GET", address, "/")
    assert status == 200 and b"/dashboard/app.js" in body
    with urllib.request.urlopen(f"http://{address}/", timeout=5) as response:
        headers = response.headers
    policy = headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "connect-src 'self'" in policy
    assert headers["Content-Type"].startswith("text/html") and headers["X-Content-Type-Options"] == "nosniff"
    status, script = http("GET", address, "/dashboard/app.js")
    assert status == 200 and b"keepLive" in script
    for bad in ("/dashboard/nothing.js", "/dashboard/index.html", "/dashboard/..%2Fassets.py"):
        status, answer = http("GET", address, bad)
        assert status == 404 and answer["error"] == "not_found", bad
    etag = headers["ETag"]
    status, _ = http("GET", address, "/", headers={"If-None-Match": etag})
    assert status == 304


@needs_browser
def test_the_page_shows_the_gridnet_and_price_of_state(grid: dict[str, NodeProc], page: Browser) -> None:
    def same() -> bool:
        state = grid["2"].state()
        return figure(page, "gridnet") == state["gridnet"] and figure(page, "price") == state["price"]

    page.wait_for(same, timeout=10)
    assert page.text("[data-field=gridnet]").endswith(" kW")
    assert page.text("[data-field=price]").endswith(" EUR/MWh")
    assert page.text("[data-field=carbon]").endswith(" gCO2/kWh")
    assert figure(page, "net") == 15.0 and page.text("[data-field=kind]") == "manual"
    assert page.text("#title-name") == "N2"
    page.wait_for(lambda: not page.js("return document.getElementById('dispatch-panel').hidden"))  # node 2 runs it


@needs_browser
def test_a_change_elsewhere_shows_without_reload(grid: dict[str, NodeProc], page: Browser, artifacts: Path) -> None:
    before = figure(page, "gridnet")
    expected = before - 7.0  # node 4 starts consuming 7 kW more
    page.js("""
        window.__sameDocument = true; window.__seenAt = null;
        const cell = document.querySelector("[data-field='gridnet']");
        new MutationObserver(() => {
          if (window.__seenAt !== null || Number(cell.dataset.value) !== arguments[0]) return;
          window.__seenAt = Date.now();
          window.__seenVia = document.body.dataset.via;
        }).observe(cell, { attributes: true, childList: true, characterData: true, subtree: true });
    """, expected)  # fmt: skip
    sent_ms = time.time() * 1000
    envelope = {"envType": "Tell", "msgType": "UpdateEnergy", "msg": {"production": 0, "consumption": 7}}
    assert curl_get(grid["4"].address, envelope, grid["4"].token)[0] == 202
    seen_ms = page.wait_for(lambda: page.js("return window.__seenAt"), timeout=10)
    assert page.js("return window.__sameDocument === true")  # no reload happened
    assert page.js("return window.__seenVia") == "event"  # pushed by the stream, not found by a re-read
    assert figure(page, "gridnet") == grid["2"].state()["gridnet"] == expected
    latency_ms = seen_ms - sent_ms
    (artifacts / "update_latency.json").write_text(json.dumps({"update_latency_ms": round(latency_ms, 1)}) + "\n")
    print(f"page showed the new grid net {latency_ms:.0f} ms after the curl at another node")


@needs_browser
def test_the_map_shows_every_node_and_link_of_the_view(grid: dict[str, NodeProc], page: Browser) -> None:
    _, view = http("GET", grid["2"].address, "/grid")
    ids = sorted(row["id"] for row in view["nodes"])
    drawn = "return [...document.querySelectorAll('#map [data-node-id]')].map((n) => n.dataset.nodeId)"
    page.wait_for(lambda: sorted(page.js(drawn)) == ids)
    links = page.js("return [...document.querySelectorAll('#map [data-link]')].map((l) => l.dataset.link)")
    assert sorted(links) == ["1-2", "1-4", "2-3", "3-4"]
    href = page.js("return document.querySelector('#map [data-node-id=\"3\"]').getAttribute('href')")
    assert href == f"http://{grid['3'].address}/"
    assert page.js("return document.querySelector('#map [data-node-id=\"2\"]').classList.contains('self')")
    assert "One island" in page.text("#islands")

    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    node = page.driver.find_element(By.CSS_SELECTOR, '#map [data-node-id="1"] circle.dot')
    ActionChains(page.driver).move_to_element(node).perform()
    page.wait_for(lambda: not page.js("return document.getElementById('map-tip').hidden"))
    tip = page.text("#map-tip")
    assert "N1" in tip and "consumption10 kW" in tip and "net-10 kW" in tip


PARTITION = """
const done = arguments[arguments.length - 1];
Promise.all([import('/dashboard/map.js'), import('/dashboard/panels.js')]).then(([map, panels]) => {
  const row = (id, status, siblings, digest) => ({ id, status, siblings, net: 0, price_digest: digest });
  // A ring 1-2-3-4-1 cut between {1, 2} and {3, 4}, as node 1 sees it; 5 has left.
  const view = { nodes: [row('1', 'alive', ['2', '4'], 'a'), row('2', 'alive', ['1', '3'], 'a'),
    row('3', 'stale', ['2', '4'], 'b'), row('4', 'stale', ['3', '1'], 'b'), row('5', 'left', ['1'], 'c')] };
  const { links } = map.topology(view);
  const groups = map.islands(view.nodes, links).map((g) => [g.live, [...g.ids].sort()]).sort();
  const agree = panels.agreement({ price_digest: 'a' }, view);
  const none = panels.agreement({ price_digest: 'a' }, { nodes: [{ id: '1', status: 'alive' }] });
  done({ links: links.length, groups, agree, none });
});
"""


@needs_browser
def test_islands_and_agreement_of_a_partitioned_view(page: Browser) -> None:
    got = page.driver.execute_async_script(PARTITION)
    assert got["links"] == 5  # 1-2, 2-3, 3-4, 1-4, 1-5: each once, whichever side names it
    assert got["groups"] == [[False, ["3", "4"]], [True, ["1", "2"]]]  # the left node is no island
    assert got["agree"] == {"same": 2, "of": 2, "share": 1}
    assert got["none"] is None  # rows without digests: no share to show


@needs_browser
def test_hourly_bars_and_a_live_alert(grid: dict[str, NodeProc], page: Browser) -> None:
    node = grid["2"]
    page.wait_for(lambda: not page.js("return document.getElementById('meter-panel').hidden"))
    hour_start = (datetime.now(timezone.utc) - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    page.js("const day = document.getElementById('meter-day'); day.value = arguments[0];"
            "day.dispatchEvent(new Event('change', { bubbles: true }));", hour_start.date().isoformat())  # fmt: skip
    ms = int(hour_start.timestamp() * 1000)
    readings = [{"timestamp": ms + k * 600_000, "device_id": DEVICE, "measurement_value": 0.5} for k in range(3)]
    headers = {"Content-Type": "application/json", "Authorization": node.token or ""}
    status, answer = http("POST", node.address, "/meter/readings", json.dumps(readings).encode(), headers)
    assert status == 202 and answer["alerts"] >= 1, answer
    bar = f"#meter-chart rect.bar[data-hour='{hour_start.hour}']"
    page.wait_for(lambda: page.js(f"const b = document.querySelector(\"{bar}\"); return b && b.dataset.kwh === '1.5'"),
                  timeout=10)  # fmt: skip
    assert page.js("return document.querySelectorAll('#meter-chart rect.bar').length") == 24
    assert page.js(f"return document.querySelector(\"{bar}\").classList.contains('exceeded')")
    page.wait_for(lambda: page.js("return document.querySelectorAll('#alerts li.alert.exceeded').length") >= 1)
    assert DEVICE in page.text("#alerts")


@needs_browser
def test_acknowledging_with_the_token_reaches_the_issuer(grid: dict[str, NodeProc], page: Browser) -> None:
    issuer, here = grid["1"], grid["2"]
    if http("GET", issuer.address, "/dispatches")[0] != 200:
        pytest.skip("GET /dispatches is not served: the dispatch feature is not there")
    start = int(time.time() * 1000) + 600_000  # scheduled: nobody sheds while the tests run
    envelope = {"envType": "Tell", "msgType": "Dispatch", "msg": {
        "dispatchId": "peak-1", "programId": "p1", "eventType": "curtail", "startTime": start,
        "endTime": start + 3_600_000, "curtailmentKw": 1, "message": "Evening peak"}}  # fmt: skip
    assert curl_get(issuer.address, envelope, issuer.token)[0] == 202
    assert page.text("#operator-status") == "read-only"

    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    # The other three nodes answer by policy; once the page shows that, the row holds still.
    row = "tr[data-dispatch-id='peak-1']"
    page.wait_for(lambda: "3 acknowledged" in page.text(f"{row} [data-answers]"), timeout=15)
    button = page.driver.find_element(By.CSS_SELECTOR, f"{row} button[data-ack='peak-1']")
    button.send_keys(Keys.ENTER)  # the keyboard is enough
    page.wait_for(lambda: page.js("return document.getElementById('token-dialog').open"))
    page.driver.find_element(By.ID, "token-input").send_keys(here.token or "", Keys.ENTER)

    def acknowledged_at_issuer() -> bool:
        status, body = http("GET", issuer.address, "/dispatches/peak-1")
        return status == 200 and "2" in body["ack_status"]["acknowledged"]

    wait_until(acknowledged_at_issuer, timeout=10)
    page.wait_for(lambda: page.js("return document.querySelector(\"tr[data-dispatch-id='peak-1'] [data-own]\")"
                                  ".dataset.own === 'acknowledged'"), timeout=10)  # fmt: skip
    assert page.text("#operator-status") == "operator token set"
    assert page.js("return sessionStorage.getItem('grid.operatorToken')") == here.token


@needs_browser
def test_screenshots_at_desktop_and_phone_width(page: Browser, artifacts: Path) -> None:
    assert page.js("return window.__sameDocument === true")  # one page load for the whole module
    for name, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.resize(size)
        shot = page.screenshot(artifacts / f"dashboard-{name}.png")
        assert shot.stat().st_size > 10_000
        # Nothing sticks out sideways: the page reads without horizontal scrolling.
        assert page.js("return document.documentElement.scrollWidth") <= size[0]
    page.resize(DESKTOP)
    assert page.console_errors() == []  # no script error, no refused request so far


@needs_browser
def test_without_the_event_stream_the_page_polls(grid: dict[str, NodeProc], page: Browser) -> None:
    url = f"http://{grid['2'].address}/"
    page.driver.execute_cdp_cmd("Network.enable", {})
    page.driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/events*"]})
    try:
        page.open(url)
        page.wait_for(lambda: page.text("#conn") == "polling every 2 s", timeout=10)
        expected = grid["2"].state()["gridnet"] - 1.0
        consumption = grid["1"].state()["consumption"] + 1.0
        assert grid["1"].tell("UpdateEnergy", {"production": 0, "consumption": consumption})[0] == 202
        page.wait_for(lambda: figure(page, "gridnet") == expected, timeout=10)
    finally:
        page.driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
        page.console_errors()  # drop the blocked requests' messages
    page.open(url)
    page.wait_for(lambda: page.text("#conn") == "live (event stream)", timeout=10)


@needs_browser
def test_a_silent_node_turns_grey_on_the_map(grid: dict[str, NodeProc], page: Browser) -> None:
    grid["3"].kill()  # no goodbye: the others stop hearing from it and mark it stale
    status = "return document.querySelector('#map [data-node-id=\"3\"]').dataset.status"
    page.wait_for(lambda: page.js(status) == "stale", timeout=15)
    assert figure(page, "stale") == 1.0
    assert "not heard from" in page.text("#islands")


@needs_browser
def test_the_page_asked_no_other_host(grid: dict[str, NodeProc], page: Browser) -> None:
    own = grid["2"].address
    urls = page.requests()
    network = [urlsplit(u) for u in urls if urlsplit(u).scheme in NETWORK_SCHEMES]
    assert any(u.path == "/events" for u in network) and any(u.path == "/state" for u in network)
    foreign = sorted({u.geturl() for u in network if u.netloc != own})
    assert foreign == [], foreign
