"""A small blocking HTTP client of a node's ``/meter`` endpoints (simulator, CLI, bench).

Answers are sorted into three outcomes: success; :class:`Unreachable` (no
answer, 408, 429, 5xx: worth retrying later); :class:`Refused` (any other 4xx:
the request itself is wrong).
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any

from nodes.metering import Reading

from .simulator import Refused, Unreachable

_RETRY = frozenset({408, 429})


class HttpMeterLink:
    """Talks to one node: the simulator's :class:`~grid.metering.simulator.MeterLink`."""

    def __init__(self, address: str, token: str | None = None, timeout: float = 5.0) -> None:
        self.address = address
        self.token = token
        self.timeout = timeout

    def last_timestamp(self, device_id: str) -> int | None:
        """The newest timestamp the node has stored for ``device_id``."""
        body = self.get(f"/meter/{urllib.parse.quote(device_id, safe='')}")
        return body.get("last_timestamp")

    def send(self, readings: Sequence[Reading]) -> None:
        """POST readings (original JSON shape) to ``/meter/readings``; returns once stored."""
        payload = json.dumps([reading.to_wire() for reading in readings]).encode()
        self.request("POST", "/meter/readings", payload)

    def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        """GET a JSON document."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        return self.request("GET", path + query)

    def request(self, method: str, path: str, body: bytes | None = None) -> Any:
        """One request; the parsed JSON answer, or Unreachable / Refused."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = self.token
        request = urllib.request.Request(f"http://{self.address}{path}", data=body, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = _detail(exc)
            if exc.code >= 500 or exc.code in _RETRY:
                raise Unreachable(f"HTTP {exc.code}: {detail}") from None
            raise Refused(f"HTTP {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
            raise Unreachable(f"{type(exc).__name__}: {exc}") from None


def _detail(exc: urllib.error.HTTPError) -> str:
    try:
        return json.dumps(json.loads(exc.read()))[:500]
    except (ValueError, OSError):
        return exc.reason or ""
