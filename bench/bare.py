"""The baseline: a bare aiohttp handler doing what any JSON endpoint must do.

It reads the body, parses it, and answers 202 with a small JSON body. The
node's /messaging is measured against it on the same machine in the same run.
Run as ``python -m bench.bare PORT``.
"""

from __future__ import annotations

import json
import sys

import msgpack
from aiohttp import web


async def handler(request: web.Request) -> web.Response:
    body = await request.read()
    if request.content_type == "application/json":
        json.loads(body)
    else:
        msgpack.unpackb(body)
    return web.json_response({"status": "accepted"}, status=202)


def main() -> None:
    app = web.Application()
    app.router.add_post("/messaging", handler)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)


if __name__ == "__main__":
    main()
