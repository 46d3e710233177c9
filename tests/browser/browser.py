"""Headless Chromium for tests: Debian's ``chromium`` and ``chromedriver``, driven by Selenium.

Nothing is downloaded: the browser and its driver must be installed (Debian
packages ``chromium`` and ``chromium-driver``); :func:`missing` says what is
not there so tests can skip with that reason. Each browser gets a fresh
profile directory and flags that keep it off the network (no sync, no
component updates, no background requests), so every request it makes comes
from the page under test; :meth:`Browser.requests` lists them from the
performance log.
"""

from __future__ import annotations

import base64
import json
import shutil
import time
from pathlib import Path
from typing import Any, Callable

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser")
CHROMEDRIVER = "chromedriver"

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)

DESKTOP = (1280, 800)
PHONE = (390, 844)


def chromium_path() -> str | None:
    """The Chromium binary on PATH, if any."""
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def missing() -> str | None:
    """Why a browser test cannot run here, or None when it can."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    if chromium_path() is None:
        return "chromium is not installed (Debian: apt-get install -y chromium chromium-driver)"
    if shutil.which(CHROMEDRIVER) is None:
        return "chromedriver is not installed (Debian: apt-get install -y chromium-driver)"
    return None


#: True once every chart and the map are drawn at their container's width (after a resize).
_DRAWN_TO_WIDTH = """
return [...document.querySelectorAll('#map, .chart')].every((box) => {
  const drawn = box.querySelector(':scope > svg');
  return box.offsetParent === null || !drawn || Number(drawn.getAttribute('width')) === Math.max(box.clientWidth, 240);
});
"""


class Browser:
    """One headless Chromium with a fresh profile; close it with :meth:`close`."""

    def __init__(self, profile: Path, size: tuple[int, int] = DESKTOP) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = chromium_path() or ""
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")
        options.add_argument(f"--window-size={size[0]},{size[1]}")
        options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
        # An explicit driver path: Selenium never looks for (or downloads) one itself.
        service = Service(executable_path=shutil.which(CHROMEDRIVER))
        self.driver = webdriver.Chrome(service=service, options=options)
        self.driver.set_page_load_timeout(20)
        self.driver.set_script_timeout(10)
        self._log: list[dict[str, Any]] = []
        self.size = size

    def close(self) -> None:
        """Quit the browser and its driver."""
        self.driver.quit()

    def open(self, url: str) -> None:
        """Load ``url`` and wait until the dashboard has shown the node's state."""
        self.driver.get(url)
        self.wait_for(lambda: self.js("return document.body.dataset.ready === 'true'"), timeout=15)

    def js(self, script: str, *args: Any) -> Any:
        """Run JavaScript in the page and return its value."""
        return self.driver.execute_script(script, *args)

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
        """Poll ``predicate`` until truthy; fail after ``timeout`` seconds (bounded)."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = predicate()
            if last:
                return last
            time.sleep(interval)
        raise AssertionError(f"browser condition not met within {timeout} s (last: {last!r})")

    def field(self, name: str) -> str | None:
        """The raw value (``data-value``) of a dashboard figure."""
        return self.js("const e = document.querySelector(`[data-field='${arguments[0]}']`);"
                       " return e ? e.dataset.value ?? null : null;", name)  # fmt: skip

    def text(self, selector: str) -> str:
        """The visible text of the first element matching ``selector``."""
        return self.js("const e = document.querySelector(arguments[0]); return e ? e.textContent : '';", selector)

    def resize(self, size: tuple[int, int]) -> None:
        """Set the viewport's CSS size (what media queries see) and wait for the page to redraw."""
        width, height = size
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})  # fmt: skip
        self.size = size
        self.wait_for(lambda: self.js(_DRAWN_TO_WIDTH), timeout=5)

    def screenshot(self, path: Path) -> Path:
        """A PNG of the whole page at the current width (the viewport grows to the page's height)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        width, height = self.size
        full = int(self.js("return document.documentElement.scrollHeight"))
        self.resize((width, max(height, full)))
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
        self.resize((width, height))
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def requests(self) -> list[str]:
        """Every URL the browser has asked for so far (from the performance log)."""
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.requestWillBeSent":
                self._log.append(message["params"]["request"])
        return [request["url"] for request in self._log]

    def console_errors(self) -> list[str]:
        """Severe messages of the page's console (script errors, CSP violations)."""
        return [e["message"] for e in self.driver.get_log("browser") if e.get("level") == "SEVERE"]
