"""The chat panel in a real browser: a household and the grid operator chat through their dashboards.

Topology (a line; chats are relayed by node 2, ``[chat] direct = false``)::

    1 (grid operator, manager token) --- 2 --- 3 (household, owner token, support = "1")

One headless Chromium, two windows: the household's dashboard (node 3) and the
operator's (node 1). Both stay visible, as two people's screens would.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import pytest

from ..integration.procs import Cluster, NodeProc
from .browser import DESKTOP, Browser, missing

FAST = ["--heartbeat", "0.3", "--ttl", "3", "--sync-interval", "0.5"]
MANAGER, OWNER = "ops-token", "home-token"
QUESTION = "Why did my bill double this month?"
ANSWER = "Your battery was off for a week; it is back on now."

pytestmark = pytest.mark.skipif(missing() is not None, reason=missing() or "")


@pytest.fixture(scope="module")
def line(module_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, NodeProc]:
    folder = tmp_path_factory.mktemp("chat-configs")
    configs = {"1": "[chat]\ndirect = false\n", "2": "[chat]\ndirect = false\n",
               "3": '[chat]\ndirect = false\nsupport = "1"\n'}  # fmt: skip
    roles = {"1": f"manager:ops:{MANAGER}", "2": f"owner:home:{OWNER}", "3": f"owner:home:{OWNER}"}
    for node_id, text in configs.items():
        (folder / f"{node_id}.toml").write_text(text)
    with ThreadPoolExecutor(3) as pool:
        started = [pool.submit(module_cluster.start, f"N{i}", i, f"t{i}", extra=[
            *FAST, "--config", str(folder / f"{i}.toml"), "--operator", roles[i]]) for i in configs]  # fmt: skip
        nodes = {n.node_id: n for n in (f.result() for f in started)}
    assert nodes["1"].link(nodes["2"])[0] == 202 and nodes["2"].link(nodes["3"])[0] == 202
    module_cluster.agree(list(nodes.values()), gridnet=0.0, live=3, timeout=30)
    return nodes


@pytest.fixture(scope="module")
def windows(line: dict[str, NodeProc], browser: Browser) -> Iterator[dict[str, str]]:
    """Window handles: ``home`` shows node 3's dashboard, ``ops`` node 1's, each with its operator's token."""
    browser.resize(DESKTOP)
    handles = {}
    for who, node, token in (("home", line["3"], OWNER), ("ops", line["1"], MANAGER)):
        if handles:
            browser.driver.switch_to.new_window("window")
        handles[who] = browser.driver.current_window_handle
        browser.open(f"http://{node.address}/")
        browser.js("sessionStorage.setItem('grid.operatorToken', arguments[0])", token)
        browser.open(f"http://{node.address}/")  # again, now with the token
        browser.wait_for(lambda: not browser.js("return document.getElementById('chat-panel').hidden"))
    yield handles


def show(browser: Browser, handles: dict[str, str], who: str) -> Browser:
    browser.driver.switch_to.window(handles[who])
    return browser


def log_rows(browser: Browser) -> list[dict[str, str]]:
    return browser.js("""return [...document.querySelectorAll('#chat-log li')].map((li) => ({
        text: li.querySelector('.text').textContent, direction: li.dataset.direction, status: li.dataset.status}));""")


def test_a_message_typed_in_one_dashboard_appears_in_the_other(browser: Browser, windows: dict[str, str],
                                                               artifacts: Path) -> None:  # fmt: skip
    home = show(browser, windows, "home")
    home.wait_for(lambda: home.text("#chat-title").startswith("N1"), timeout=10)  # the support node opens
    field = home.driver.find_element("id", "chat-input")
    field.send_keys(QUESTION)
    sent = time.monotonic()
    home.driver.find_element("id", "chat-send").click()
    home.wait_for(lambda: any(r["text"] == QUESTION for r in log_rows(home)), timeout=10)
    assert field.get_attribute("value") == ""

    ops = show(browser, windows, "ops")
    ops.wait_for(lambda: ops.js("return document.querySelector('#chat-conversations li[data-peer=\"3\"]') !== null"),
                 timeout=10)  # fmt: skip
    ops.wait_for(lambda: any(r["text"] == QUESTION and r["direction"] == "in" for r in log_rows(ops)), timeout=10)
    seen = time.monotonic()
    assert ops.text("#chat-title").startswith("N3")
    assert ops.js("return document.querySelector('#chat-panel .chat').dataset.mode") == "many"
    # The operator's page had the conversation open and visible: it marked the question read.
    ops.wait_for(lambda: ops.js("return document.querySelector('#chat-conversations li[data-peer=\"3\"]')"
                                ".dataset.unread") == "0", timeout=10)  # fmt: skip

    home = show(browser, windows, "home")
    home.wait_for(lambda: [r["status"] for r in log_rows(home) if r["text"] == QUESTION] == ["read"], timeout=10)
    (artifacts / "chat_latency.json").write_text(json.dumps({"typed_to_shown_s": round(seen - sent, 2)}) + "\n")


def test_typing_shows_on_the_other_side_and_the_answer_arrives(browser: Browser, windows: dict[str, str],
                                                               artifacts: Path) -> None:  # fmt: skip
    ops = show(browser, windows, "ops")
    field = ops.driver.find_element("id", "chat-input")
    field.send_keys(ANSWER[:10])

    home = show(browser, windows, "home")
    home.wait_for(lambda: home.js("return document.getElementById('chat-typing').dataset.typing") == "true",
                  timeout=5)  # fmt: skip
    assert "N1 is typing" in home.text("#chat-typing")

    ops = show(browser, windows, "ops")
    field.send_keys(ANSWER[10:] + "\n")  # Enter sends
    ops.wait_for(lambda: any(r["text"] == ANSWER and r["direction"] == "out" for r in log_rows(ops)), timeout=10)

    home = show(browser, windows, "home")
    home.wait_for(lambda: any(r["text"] == ANSWER and r["direction"] == "in" for r in log_rows(home)), timeout=10)
    home.wait_for(lambda: home.js("return document.getElementById('chat-typing').hidden"), timeout=5)
    ops = show(browser, windows, "ops")
    ops.wait_for(lambda: [r["status"] for r in log_rows(ops) if r["text"] == ANSWER] == ["read"], timeout=10)
    home = show(browser, windows, "home")
    home.screenshot(artifacts / "chat-household.png")
    assert home.console_errors() == []
