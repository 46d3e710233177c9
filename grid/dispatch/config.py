"""The ``[dispatch]`` table of a node's TOML file, parsed and checked once at start.

```toml
[dispatch]
ack_policy = "opt_in"              # opt_in | opt_out | manual (default)
operator_seed = "<64 hex digits>"  # optional: this node may issue and sign
# operator_seed_file = "op.key"    # or read the seed from a file
# operator_id = "op-main"          # default: key_id(public key)
digest_every = 2                   # heartbeats between digest offers

[dispatch.operators]               # trusted operators: key id -> public key (hex)
op-main = "<64 hex digits>"

[[dispatch.programs]]
program_id = "p1"
name = "Peak saver"
channels = ["events", "webhook", "email"]
offered_kw = 2.0

[dispatch.webhook]                 # passed to grid.notify.webhook
url = "http://127.0.0.1:9000/hook"

[dispatch.email]                   # grid.notify.email.SmtpSettings
host = "127.0.0.1"
port = 2525
sender = "node@grid.local"
to = ["owner@example.com"]

[dispatch.rules.peak]              # nodes.dispatch.PriceAbove / NetBelow
kind = "price_above"
program_id = "p1"
threshold = 250
for_minutes = 5
dispatch_minutes = 30
curtailment_kw = 2
cooldown_minutes = 60
```
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from pydantic import ValidationError

from nodes.dispatch import AckPolicy, NetBelow, PriceAbove, Rule
from protocol.dispatch import SEED_BYTES, Enrolment, Program, key_id, public_key_from_seed

from ..notify.email import SmtpSettings
from ..notify.webhook import WebhookSettings

RULE_KINDS: dict[str, type[Rule]] = {"price_above": PriceAbove, "net_below": NetBelow}
_KNOWN = {"ack_policy", "operator_seed", "operator_seed_file", "operator_id", "digest_every",
          "operators", "programs", "webhook", "email", "rules"}  # fmt: skip


@dataclass(frozen=True)
class DispatchSettings:
    """Everything the dispatch feature of one node is told."""

    programs: tuple[Program, ...] = ()
    enrolments: tuple[Enrolment, ...] = ()
    operators: Mapping[str, bytes] = field(default_factory=dict)
    seed: bytes | None = field(default=None, repr=False)
    operator_id: str | None = None
    ack_policy: AckPolicy = "manual"
    digest_every: int = 2
    rules: tuple[Rule, ...] = ()
    webhook: WebhookSettings | None = None
    email: SmtpSettings | None = None

    @property
    def program_ids(self) -> tuple[str, ...]:
        """The programs this node is enrolled in, sorted."""
        return tuple(sorted({e.program_id for e in self.enrolments}))

    def enrolment(self, program_id: str) -> Enrolment | None:
        """This node's enrolment in ``program_id``, if any."""
        return next((e for e in self.enrolments if e.program_id == program_id), None)


def parse(raw: Mapping[str, Any]) -> DispatchSettings:
    """Parse a ``[dispatch]`` table; raises ValueError naming what is wrong."""
    unknown = sorted(set(raw) - _KNOWN)
    if unknown:
        raise ValueError(f"[dispatch]: unknown keys {unknown}; known: {sorted(_KNOWN)}")
    policy = raw.get("ack_policy", "manual")
    if policy not in get_args(AckPolicy):
        raise ValueError(f"[dispatch] ack_policy must be one of {get_args(AckPolicy)}, got {policy!r}")
    digest_every = raw.get("digest_every", 2)
    if not isinstance(digest_every, int) or digest_every < 1:
        raise ValueError("[dispatch] digest_every must be a whole number >= 1")
    seed = _seed(raw)
    operators = _operators(raw.get("operators", {}))
    operator_id = None
    if seed is not None:
        public = public_key_from_seed(seed)
        operator_id = str(raw.get("operator_id") or key_id(public))
        if operators.get(operator_id, public) != public:
            raise ValueError(f"[dispatch] operator {operator_id!r} is listed with another public key")
        operators[operator_id] = public  # a node trusts its own key
    programs, enrolments = _programs(raw.get("programs", []))
    rules = _rules(raw.get("rules", {}))
    if rules and seed is None:
        raise ValueError("[dispatch] rules issue signed dispatches: they need operator_seed")
    email = SmtpSettings.from_mapping(_table(raw, "email")) if "email" in raw else None
    webhook = WebhookSettings.from_mapping(_table(raw, "webhook")) if "webhook" in raw else None
    return DispatchSettings(
        programs=programs, enrolments=enrolments, operators=operators, seed=seed, operator_id=operator_id,
        ack_policy=policy, digest_every=digest_every, rules=rules, webhook=webhook, email=email,
    )  # fmt: skip


def _table(raw: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = raw[name]
    if not isinstance(value, Mapping):
        raise ValueError(f"[dispatch.{name}] must be a table")
    return value


def _hex_bytes(value: Any, what: str, size: int) -> bytes:
    try:
        data = bytes.fromhex(str(value).strip())
    except ValueError:
        raise ValueError(f"[dispatch] {what} is not hex") from None
    if len(data) != size:
        raise ValueError(f"[dispatch] {what} must be {size} bytes ({2 * size} hex digits), got {len(data)}")
    return data


def _seed(raw: Mapping[str, Any]) -> bytes | None:
    if "operator_seed" in raw and "operator_seed_file" in raw:
        raise ValueError("[dispatch] give operator_seed or operator_seed_file, not both")
    if "operator_seed_file" in raw:
        try:
            text = Path(raw["operator_seed_file"]).expanduser().read_text()
        except OSError as exc:
            raise ValueError(f"[dispatch] operator_seed_file: {exc}") from None
        return _hex_bytes(text, "operator_seed_file", SEED_BYTES)
    if "operator_seed" in raw:
        return _hex_bytes(raw["operator_seed"], "operator_seed", SEED_BYTES)
    return None


def _operators(raw: Any) -> dict[str, bytes]:
    if not isinstance(raw, Mapping):
        raise ValueError("[dispatch.operators] must be a table of key id = public key hex")
    return {str(k): _hex_bytes(v, f"operators.{k}", 32) for k, v in raw.items()}


def _programs(raw: Any) -> tuple[tuple[Program, ...], tuple[Enrolment, ...]]:
    if not isinstance(raw, list):
        raise ValueError("[[dispatch.programs]] must be an array of tables")
    programs, enrolments = [], []
    for item in raw:
        if not isinstance(item, Mapping) or "program_id" not in item:
            raise ValueError("each [[dispatch.programs]] needs program_id")
        extra = sorted(set(item) - {"program_id", "name", "channels", "offered_kw"})
        if extra:
            raise ValueError(f"[[dispatch.programs]] {item['program_id']}: unknown keys {extra}")
        try:
            programs.append(Program(program_id=item["program_id"], name=item.get("name", str(item["program_id"]))))
            enrolments.append(Enrolment.model_validate({k: v for k, v in item.items() if k != "name"}))
        except ValidationError as exc:
            raise ValueError(f"[[dispatch.programs]] {item['program_id']}: {exc.errors()[0]['msg']}") from None
    ids = [p.program_id for p in programs]
    if len(ids) != len(set(ids)):
        raise ValueError("[[dispatch.programs]]: a program is listed twice")
    return tuple(programs), tuple(enrolments)


def _rules(raw: Any) -> tuple[Rule, ...]:
    """``[dispatch.rules.ID]`` tables (the key is the rule id) or ``[[dispatch.rules]]`` with rule_id."""
    if isinstance(raw, Mapping):
        items = [{"rule_id": key, **value} for key, value in raw.items() if isinstance(value, Mapping)]
        if len(items) != len(raw):
            raise ValueError("[dispatch.rules] must hold one table per rule")
    elif isinstance(raw, list):
        items = list(raw)
    else:
        raise ValueError("[dispatch.rules] must be tables")
    return tuple(_rule(item) for item in items)


def _rule(item: Any) -> Rule:
    if not isinstance(item, Mapping):
        raise ValueError("a rule must be a table")
    values = dict(item)
    kind = values.pop("kind", None)
    cls = RULE_KINDS.get(kind)  # type: ignore[arg-type]
    if cls is None:
        raise ValueError(f"rule {values.get('rule_id')!r}: kind must be one of {sorted(RULE_KINDS)}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"rule {values.get('rule_id')!r}: unknown keys {unknown}")
    if "targets" in values:
        values["targets"] = tuple(str(t) for t in values["targets"])
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"rule {values.get('rule_id')!r}: {exc}") from None
