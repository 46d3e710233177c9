"""HTTP routes of the metering feature (served by every node; 400/404 where it does not run).

| route | answer |
|---|---|
| ``POST /meter/readings`` | ingest one reading or a list (original JSON shape, or msgpack) |
| ``GET /meter`` | devices, the day's totals, the node's hours (``?day=``, ``?tz=``) |
| ``GET /meter/alerts`` | stored alerts and webhook delivery status (``?device=``) |
| ``GET /meter/{device}`` | one device and its newest stored reading (the simulator's ack) |
| ``GET /meter/{device}/hourly`` | 24 hours of a day: kWh, maximum, exceeded flags |
| ``GET /meter/{device}/hourly.csv`` | the same as CSV |
| ``GET /meter/{device}/chart.png`` | the same as a bar chart |
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from protocol import codec
from protocol.errors import GridError
from protocol.metering import MeterReading

from ..http.app import NODE, ask_node, client_of, query, read_body
from ..node.commands import Query
from . import chart, wire


async def post_readings(request: web.Request) -> web.Response:
    """Readings from a meter: answered 202 once they are stored."""
    node = request.app[NODE]
    node.auth.require(MeterReading.msg_type, request.headers.get("Authorization"), client_of(request))
    with node.gate.admit():  # bounded like /messaging: 503 at once when the node is full
        kind = codec.media_type(request.headers.get("Content-Type"))
        readings = wire.decode_readings(await read_body(request, node.gate.body_timeout_s), kind)
        answer = await node.call(lambda reply: Query("metering.ingest", reply, {"readings": readings}))
    if isinstance(answer, GridError):
        raise answer
    return web.json_response(answer, status=202)


async def chart_png(request: web.Request) -> web.Response:
    """A device's day as a PNG bar chart, drawn off the event loop."""
    hourly = await ask_node(request, "metering.hourly")
    png = await asyncio.to_thread(chart.render_png, hourly)
    return web.Response(body=png, content_type="image/png")


def routes() -> list[web.RouteDef]:
    """The metering routes; fixed paths before ``{device}`` so they win."""
    return [
        web.post("/meter/readings", post_readings),
        web.get("/meter", query("metering.overview")),
        web.get("/meter/alerts", query("metering.alerts")),
        web.get("/meter/{device}", query("metering.device")),
        web.get("/meter/{device}/hourly", query("metering.hourly")),
        web.get("/meter/{device}/hourly.csv", query("metering.hourly_csv")),
        web.get("/meter/{device}/chart.png", chart_png),
    ]
