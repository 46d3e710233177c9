"""A lean HTTP/1.1 load generator: keep-alive connections, one request in flight each.

Hand-written on asyncio streams because a full HTTP client spends more CPU per
request than the servers it measures. Run as a process:
``python -m bench.load HOST PORT PATH CONTENT_TYPE BODY_FILE SECONDS CONNECTIONS [TOKEN]``;
prints ``{"requests": n, "ok": n, "seconds": s}`` as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time


def build_request(host: str, port: int, path: str, content_type: str, body: bytes, token: str | None) -> bytes:
    """The raw bytes of one POST request."""
    headers = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
    ]
    if token:
        headers.append(f"Authorization: {token}")
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one response; returns its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def connection(host: str, port: int, request: bytes, deadline: float, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            writer.write(request)
            status = await read_response(reader)
            counts[0] += 1
            counts[1] += 200 <= status < 300
    finally:
        writer.close()


async def run(host: str, port: int, request: bytes, seconds: float, connections: int) -> dict[str, float]:
    counts = [0, 0]
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.gather(*(connection(host, port, request, deadline, counts) for _ in range(connections)))
    return {"requests": counts[0], "ok": counts[1], "seconds": time.perf_counter() - start}


def main() -> None:
    host, port, path, content_type, body_file, seconds, connections = sys.argv[1:8]
    token = sys.argv[8] if len(sys.argv) > 8 else None
    with open(body_file, "rb") as f:
        body = f.read()
    request = build_request(host, int(port), path, content_type, body, token)
    result = asyncio.run(run(host, int(port), request, float(seconds), int(connections)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
