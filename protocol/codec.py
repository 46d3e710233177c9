"""Bytes <-> envelopes, in JSON (operators, curl) or msgpack (peers).

The codec is the only place that parses untrusted bytes. It enforces the body
size limit, relies on the parsers' own nesting limits (pydantic's JSON parser
and msgpack both refuse deep nesting without recursion), validates the
envelope, then validates ``msg`` against the model of its ``msgType``. Any
failure is a :class:`~protocol.errors.GridError` with a precise detail.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

import msgpack
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model
from pydantic.alias_generators import to_camel

from .envelopes import Envelope, EnvType
from .errors import BadMessage, TooLarge, UnsupportedMediaType
from .limits import MAX_BODY_BYTES, MAX_NAME_LEN, EpochMillis, NodeId
from .messages import MESSAGE_TYPES

JSON = "application/json"
MSGPACK = "application/msgpack"
_MSGPACK_ALIASES = frozenset({MSGPACK, "application/x-msgpack", "application/vnd.msgpack"})

ShortStr = Annotated[str, Field(max_length=MAX_NAME_LEN)]


class _WireEnvelope(BaseModel):
    """The envelope as it arrives; ``msg`` is checked in a second step."""

    model_config = ConfigDict(extra="ignore", alias_generator=to_camel, populate_by_name=True, allow_inf_nan=False)

    env_type: EnvType
    msg_type: ShortStr
    msg: dict[str, Any] = Field(default_factory=dict)
    id: NodeId | None = None
    timestamp: EpochMillis | None = None
    req_id: NodeId | None = None
    master_req_id: NodeId | None = None
    return_id: NodeId | None = None


def media_type(content_type: str | None) -> str:
    """Normalise a Content-Type header to ``JSON`` or ``MSGPACK``, else raise 415."""
    if content_type is JSON or content_type is MSGPACK:
        return content_type  # already normalised (decode after media_type)
    base = (content_type or "").split(";", 1)[0].strip().lower()
    if base == JSON:
        return JSON
    if base in _MSGPACK_ALIASES:
        return MSGPACK
    raise UnsupportedMediaType(
        f"Content-Type {base or '(none)'!r} is not supported; use {JSON} or {MSGPACK}",
    )


def _typed_envelope(model: type[BaseModel]) -> type[_WireEnvelope]:
    """The envelope of one msgType, with ``msg`` checked against its model in the same pass."""
    return create_model(  # type: ignore[no-any-return, call-overload]
        f"_Wire{model.__name__}",
        __base__=_WireEnvelope,
        msg_type=(Literal[model.msg_type], ...),  # type: ignore[attr-defined]
        msg=(model, ...),
    )


#: Every envelope with a known msgType, told apart by msgType: one validation pass.
_TYPED = TypeAdapter(
    Annotated[Union[tuple(_typed_envelope(m) for m in MESSAGE_TYPES.values())], Field(discriminator="msg_type")]
)


def decode(body: bytes, content_type: str | None) -> Envelope:
    """Parse and validate one envelope; raise a GridError on any problem."""
    kind = media_type(content_type)
    if len(body) > MAX_BODY_BYTES:
        raise TooLarge(f"body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}")
    if not body:
        raise BadMessage("empty body; send a JSON envelope", code="empty_body")
    try:
        # A valid envelope is parsed and checked in one pass...
        typed = _TYPED.validate_json(body) if kind == JSON else _TYPED.validate_python(_unpack(body))
    except (ValidationError, BadMessage):
        # ... anything else takes the two steps below, whose errors say precisely what is wrong.
        wire = _decode_json(body) if kind == JSON else _decode_msgpack(body)
        return _to_envelope(wire)
    return _envelope(typed, typed.msg)


def _decode_json(body: bytes) -> _WireEnvelope:
    try:
        return _WireEnvelope.model_validate_json(body)
    except ValidationError as exc:
        raise BadMessage(_describe(exc), code=_json_code(exc)) from None


def _unpack(body: bytes) -> Any:
    try:
        return msgpack.unpackb(body, raw=False, strict_map_key=True)
    except (ValueError, msgpack.ExtraData, msgpack.StackError, msgpack.FormatError, TypeError) as exc:
        raise BadMessage(f"invalid msgpack: {type(exc).__name__}", code="invalid_msgpack") from None


def _decode_msgpack(body: bytes) -> _WireEnvelope:
    raw = _unpack(body)
    if not isinstance(raw, dict):
        raise BadMessage("the envelope must be a map", code="invalid_envelope")
    try:
        return _WireEnvelope.model_validate(raw)
    except ValidationError as exc:
        raise BadMessage(_describe(exc), code="invalid_envelope") from None


def _to_envelope(wire: _WireEnvelope) -> Envelope:
    model = MESSAGE_TYPES.get(wire.msg_type)
    if model is None:
        raise BadMessage(
            {"unknown msgType": wire.msg_type, "supported": sorted(MESSAGE_TYPES)}, code="unknown_msg_type"
        )
    try:
        message = model.model_validate(wire.msg)
    except ValidationError as exc:
        raise BadMessage(_describe(exc), code="invalid_msg") from None
    return _envelope(wire, message)


def _envelope(wire: _WireEnvelope, message: Any) -> Envelope:
    return Envelope(
        wire.env_type,
        message,
        id=wire.id,
        timestamp=wire.timestamp,
        req_id=wire.req_id,
        master_req_id=wire.master_req_id,
        return_id=wire.return_id,
    )


def encode(envelope: Envelope, kind: str = MSGPACK) -> bytes:
    """Serialise an envelope as msgpack (default, between peers) or JSON."""
    wire = envelope.to_wire()
    if kind == MSGPACK:
        return msgpack.packb(wire, use_bin_type=True)
    return encode_json(wire)


def encode_json(value: Any) -> bytes:
    """Compact JSON bytes of plain data."""
    import json

    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()


def _json_code(exc: ValidationError) -> str:
    return "invalid_json" if any(err["type"] == "json_invalid" for err in exc.errors()) else "invalid_envelope"


def _describe(exc: ValidationError) -> list[dict[str, Any]]:
    """A short, JSON-safe list of what was wrong, without echoing large inputs."""
    problems = []
    for err in exc.errors(include_url=False, include_input=False)[:10]:
        where = ".".join(str(part) for part in err.get("loc", ()))
        problems.append({"field": where or "(body)", "problem": err.get("msg", "invalid")})
    return problems
