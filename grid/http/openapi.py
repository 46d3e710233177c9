"""``GET /openapi.json``: an OpenAPI 3.1 description of what this node serves.

Built from the application's own routes (so feature routes appear as they
are added) and from the pydantic models of :data:`protocol.messages.MESSAGE_TYPES`
(so the message schemas are exactly what the codec validates). The core
endpoints get hand-written descriptions below; any other route is described
from its method, path parameters and handler docstring. The document is
built once per distinct route table and cached.
"""

from __future__ import annotations

import functools
import importlib.metadata
import re
from typing import Any

from aiohttp import web
from pydantic.json_schema import models_json_schema

from protocol.keyring import KEY_HEADER, NONCE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER
from protocol.limits import MAX_NAME_LEN
from protocol.messages import MESSAGE_TYPES

OPENAPI_VERSION = "3.1.0"
_REF = "#/components/schemas/{model}"
_ERROR = {"$ref": "#/components/schemas/Error"}
_ANY_OBJECT: dict[str, Any] = {"type": "object"}
_PARAM = re.compile(r"{([^}:]+)(?::[^}]*)?}")

_ERRORS = {
    "400": "Malformed or invalid input",
    "401": "Missing or wrong operator token, or a peer message without a valid grid-key signature",
    "403": "The token's role does not allow this message",
    "404": "No such resource",
    "409": "The request contradicts the node's state",
    "413": "Body over 64 KiB",
    "415": "Content-Type is neither JSON nor msgpack",
    "429": "Too many failed authentications from this client; see Retry-After",
    "503": "The node is overloaded or stopping; see Retry-After",
}


async def serve(request: web.Request) -> web.Response:
    """The OpenAPI document of this node (public: it describes, it reveals no state)."""
    return web.json_response(describe(request.app))


def describe(app: web.Application) -> dict[str, Any]:
    """The OpenAPI document of ``app``."""
    routes = tuple(
        (route.method.lower(), route.resource.canonical, (route.handler.__doc__ or "").strip())
        for route in app.router.routes()
        if route.resource is not None and route.method not in ("HEAD", "*")
    )
    return _document(routes)


@functools.lru_cache(maxsize=8)
def _document(routes: tuple[tuple[str, str, str], ...]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, path, doc in routes:
        paths.setdefault(path, {})[method] = _operation(method, path, doc)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Grid node",
            "version": _version(),
            "description": "One node of a decentralized electricity grid. See docs/protocol.md.",
        },
        "paths": paths,
        "components": {"schemas": _schemas(), "securitySchemes": _security_schemes()},
    }


def _version() -> str:
    try:
        return importlib.metadata.version("grid")
    except importlib.metadata.PackageNotFoundError:
        return "0"


# ---------------------------------------------------------------- operations
def _operation(method: str, path: str, doc: str) -> dict[str, Any]:
    known = _KNOWN.get(path)
    if known is not None:
        return known(method)
    summary = doc.splitlines()[0] if doc else f"{method.upper()} {path}"
    operation: dict[str, Any] = {
        "summary": summary,
        "responses": {"200": _json("The answer", _ANY_OBJECT), **_error_responses("400", "401", "403", "404", "503")},
    }
    names = _PARAM.findall(path)
    if names:
        string = {"type": "string"}
        operation["parameters"] = [{"name": n, "in": "path", "required": True, "schema": string} for n in names]
    if method in ("post", "put", "patch"):
        operation["requestBody"] = {"content": {"application/json": {"schema": _ANY_OBJECT}}}
    operation["security"] = [{}, {"operatorToken": []}]
    return operation


def _messaging(method: str) -> dict[str, Any]:
    envelope = {"schema": {"$ref": "#/components/schemas/Envelope"}}
    return {
        "summary": "Send one envelope to the node (operators: JSON; peers: msgpack, signed with the grid key)",
        "description": (
            "A plain Tell without returnId is an operator message and needs a token whose role allows its "
            "msgType. Messages with returnId, and every Ask or Response, come from peers and must carry the "
            f"{KEY_HEADER}, {TIMESTAMP_HEADER}, {NONCE_HEADER} and {SIGNATURE_HEADER} headers when the node has "
            "a grid key. GET with a body is accepted, as in the original curl examples."
        ),
        "requestBody": {"required": True, "content": {"application/json": envelope, "application/msgpack": envelope}},
        "responses": {
            "200": _json("The Response envelope to an Ask, or the outcome of an idempotent request", _ANY_OBJECT),
            "202": _json("Accepted: the change is in the node's view", _ANY_OBJECT),
            **_error_responses(*_ERRORS),
        },
        "security": [{"operatorToken": []}, {"gridKey": []}, {}],
    }


def _read(summary: str) -> Any:
    def operation(method: str) -> dict[str, Any]:
        return {
            "summary": summary,
            "responses": {"200": _json(summary, _ANY_OBJECT), **_error_responses("401", "403", "429", "503")},
            "security": [{}, {"operatorToken": []}],
        }

    return operation


def _events(method: str) -> dict[str, Any]:
    return {
        "summary": "Server-sent events: state changes and feature events, replayed after Last-Event-ID",
        "parameters": [
            {"name": "kinds", "in": "query", "required": False, "schema": {"type": "string"},
             "description": "Comma-separated event kinds to receive"},
            {"name": "Last-Event-ID", "in": "header", "required": False, "schema": {"type": "string"}},
        ],  # fmt: skip
        "responses": {
            "200": {"description": "An endless event stream",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}}},  # fmt: skip
            **_error_responses("401", "403", "429"),
        },
        "security": [{}, {"operatorToken": []}],
    }


def _healthz(method: str) -> dict[str, Any]:
    schema = {"type": "object", "properties": {"status": {"const": "ok"}, "id": {"type": "string"}}}
    return {"summary": "Liveness, answered without the node actor", "responses": {"200": _json("Alive", schema)}}


def _openapi(method: str) -> dict[str, Any]:
    return {"summary": "This document", "responses": {"200": _json("The OpenAPI description", _ANY_OBJECT)}}


_KNOWN = {
    "/messaging": _messaging,
    "/state": _read("This node and the grid as it sees it"),
    "/grid": _read("The node's whole view of the grid, one row per node"),
    "/events": _events,
    "/healthz": _healthz,
    "/openapi.json": _openapi,
}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error_responses(*statuses: str) -> dict[str, Any]:
    responses = {}
    for status in statuses:
        response = _json(_ERRORS[status], _ERROR)
        if status in ("429", "503"):
            response["headers"] = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}
        responses[status] = response
    return responses


# ---------------------------------------------------------------- schemas
@functools.lru_cache(maxsize=1)
def _schemas() -> dict[str, Any]:
    """Every message model's JSON schema, one envelope schema per msgType, and the error body."""
    models = list(MESSAGE_TYPES.values())
    _, top = models_json_schema([(model, "validation") for model in models], by_alias=True, ref_template=_REF)
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
    mapping = {}
    for msg_type, model in MESSAGE_TYPES.items():
        name = f"{msg_type}Envelope"
        schemas[name] = _envelope(msg_type, model.__name__)
        mapping[msg_type] = _REF.format(model=name)
    schemas["Envelope"] = {
        "description": "Routing metadata around one message; msgType says which msg schema applies.",
        "oneOf": [{"$ref": ref} for ref in mapping.values()],
        "discriminator": {"propertyName": "msgType", "mapping": mapping},
    }
    schemas["Error"] = {
        "type": "object",
        "required": ["error", "detail"],
        "properties": {"error": {"type": "string", "description": "Machine code"}, "detail": {}},
    }
    return schemas


def _envelope(msg_type: str, model_name: str) -> dict[str, Any]:
    node_id = {"oneOf": [{"type": "string", "maxLength": MAX_NAME_LEN, "pattern": r"^[A-Za-z0-9_.:\-]+$"},
                         {"type": "integer"}]}  # fmt: skip
    return {
        "type": "object",
        "required": ["envType", "msgType", "msg"],
        "properties": {
            "envType": {"enum": ["Tell", "Ask", "Response"]},
            "msgType": {"const": msg_type},
            "msg": {"$ref": _REF.format(model=model_name)},
            "id": node_id,
            "timestamp": {"type": "integer", "minimum": 0, "maximum": 2**53, "description": "Sender clock, epoch ms"},
            "reqId": node_id,
            "masterReqId": node_id,
            "returnId": {**node_id, "description": "The sending node's id: present on every peer message"},
        },
    }


def _security_schemes() -> dict[str, Any]:
    return {
        "operatorToken": {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "An operator token, plain or as 'Bearer TOKEN'; its role decides what it may send.",
        },
        "gridKey": {
            "type": "apiKey",
            "in": "header",
            "name": SIGNATURE_HEADER,
            "description": (
                f"HMAC-SHA256 under the grid key named in {KEY_HEADER}, over the method, path, "
                f"{TIMESTAMP_HEADER}, {NONCE_HEADER} and the SHA-256 of the body (docs/protocol.md, Security)."
            ),
        },
    }


__all__ = ["OPENAPI_VERSION", "describe", "serve"]
