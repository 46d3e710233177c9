"""GET /openapi.json: a valid OpenAPI 3.1 document covering every route a node serves."""

from __future__ import annotations

from typing import Any

import aiohttp
import jsonschema
import pytest
from aiohttp import web
from openapi_spec_validator import validate

from grid.events import EventHub
from grid.http import NodeHandle, make_app
from grid.http.auth import OperatorAuth
from grid.http.openapi import describe
from grid.transport.memory import MemoryTransport
from protocol.envelopes import tell
from protocol.messages import MESSAGE_TYPES, UpdateEnergy

from .inproc import node_config, start_node, stop_node


async def fetch(address: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.get(f"http://{address}/openapi.json") as resp:
        assert resp.status == 200 and resp.content_type == "application/json"
        return await resp.json()


async def test_a_running_node_describes_all_its_routes_validly() -> None:
    node = await start_node(node_config("A", "1", token="t1"), MemoryTransport())
    try:
        doc = await fetch(node.config.address)
        served = {(route.method.lower(), route.resource.canonical) for route in node._runner.app.router.routes()
                  if route.method not in ("HEAD", "*")}  # fmt: skip
    finally:
        await stop_node(node)
    validate(doc)  # raises on any violation of the OpenAPI 3.1 schema
    described = {(method, path) for path, item in doc["paths"].items() for method in item}
    assert described == served
    assert {"/messaging", "/state", "/grid", "/events", "/healthz", "/openapi.json"} <= set(doc["paths"])


def test_every_message_type_has_an_envelope_schema() -> None:
    schemas = describe(_app())["components"]["schemas"]
    mapping = schemas["Envelope"]["discriminator"]["mapping"]
    assert set(mapping) == set(MESSAGE_TYPES)
    for msg_type, model in MESSAGE_TYPES.items():
        assert schemas[f"{msg_type}Envelope"]["properties"]["msg"] == {"$ref": f"#/components/schemas/{model.__name__}"}


def test_schemas_accept_what_the_codec_sends_and_refuse_what_it_refuses() -> None:
    schemas = describe(_app())["components"]["schemas"]
    resolver = {"components": {"schemas": schemas}, **schemas["UpdateEnergyEnvelope"]}
    validator = jsonschema.Draft202012Validator(resolver)
    good = tell(UpdateEnergy(production=1.5, consumption=2)).to_wire()
    validator.validate(good)
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({**good, "msg": {"production": -1, "consumption": 0}})


def test_feature_routes_are_described_with_their_parameters() -> None:
    async def dispatch_event(request: web.Request) -> web.Response:
        """One dispatch event by id."""
        return web.json_response({})

    doc = describe(_app([web.get("/dispatch/{event_id}", dispatch_event)]))
    validate(doc)
    operation = doc["paths"]["/dispatch/{event_id}"]["get"]
    assert operation["summary"] == "One dispatch event by id."
    assert operation["parameters"][0]["name"] == "event_id"


def _app(routes: list[web.RouteDef] | None = None) -> web.Application:
    handle = NodeHandle(None, OperatorAuth.from_token(None), "1", EventHub())  # type: ignore[arg-type]
    return make_app(handle, routes)
