"""A tiny blocking HTTP client for the CLI (standard library only)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import typer


def _request(url: str, data: bytes | None, headers: dict[str, str], timeout: float) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")
    except (urllib.error.URLError, OSError) as exc:
        typer.echo(f"cannot reach {url}: {exc}", err=True)
        raise typer.Exit(2) from None


def post_envelope(address: str, envelope: dict[str, Any], token: str | None, timeout: float = 5.0) -> tuple[int, Any]:
    """POST a JSON envelope to ``address``'s /messaging; returns (status, JSON answer)."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = token
    return _request(f"http://{address}/messaging", json.dumps(envelope).encode(), headers, timeout)


def get_json(address: str, path: str, token: str | None = None, timeout: float = 5.0) -> Any:
    """GET a JSON document from a node; exit with a message on errors."""
    headers = {"Authorization": token} if token else {}
    status, body = _request(f"http://{address}{path}", None, headers, timeout)
    if status >= 400:
        typer.echo(f"{address}{path}: HTTP {status}: {body}", err=True)
        raise typer.Exit(1)
    return body
