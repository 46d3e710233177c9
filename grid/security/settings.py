"""A node's security settings: grid keys, operator tokens, flow limits.

They come from the node TOML file and from flags, and end up in the
``security`` block of :attr:`grid.node.NodeConfig.features`::

    [security]
    grid_keys = ["k1:a-long-random-secret-from-openssl-rand"]   # ID:SECRET, repeatable flag --grid-key
    max_inflight = 256      # /messaging requests handled at once; more get 503 (flag --max-inflight)
    body_timeout_s = 10.0   # a request body that takes longer gets 400 body_timeout

    [[operators]]           # repeatable; flag --operator ROLE:LABEL:TOKEN
    token = "..."
    role = "owner"          # viewer | owner | manager | admin
    label = "meter-7"       # what logs and audit show instead of the token

Secrets and tokens are wrapped in :class:`Secret`, whose ``repr`` hides the
value, so printing a config or a traceback never shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from protocol.keyring import Keyring
from protocol.roles import Role, TokenStore

#: Feature-settings key of the security block.
SECTION = "security"
#: Default bound on /messaging requests in flight per node.
DEFAULT_MAX_INFLIGHT = 256
#: Default time a request may take to send its body.
DEFAULT_BODY_TIMEOUT_S = 10.0


class Secret(str):
    """A string that never shows itself in ``repr`` (logs, tracebacks, config dumps)."""

    def __repr__(self) -> str:
        return "Secret('***')"


@dataclass(frozen=True)
class Operator:
    """One operator token with its role; ``label`` is what logs show."""

    role: Role
    label: str
    token: Secret = field(repr=False)


@dataclass(frozen=True)
class SecuritySettings:
    """Everything a node needs to know about security, parsed and checked."""

    grid_keys: tuple[tuple[str, Secret], ...] = ()
    operators: tuple[Operator, ...] = ()
    max_inflight: int = DEFAULT_MAX_INFLIGHT
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S

    @classmethod
    def parse(cls, section: Mapping[str, Any] | None) -> "SecuritySettings":
        """Settings from a ``security`` block; raises ValueError naming what is wrong."""
        section = section or {}
        unknown = set(section) - {"grid_keys", "operators", "max_inflight", "body_timeout_s"}
        if unknown:
            raise ValueError(f"[security] has unknown settings: {', '.join(sorted(unknown))}")
        settings = cls(
            grid_keys=tuple(parse_grid_key(item) for item in section.get("grid_keys", ())),
            operators=tuple(parse_operator(item) for item in section.get("operators", ())),
            max_inflight=int(section.get("max_inflight", DEFAULT_MAX_INFLIGHT)),
            body_timeout_s=float(section.get("body_timeout_s", DEFAULT_BODY_TIMEOUT_S)),
        )
        if settings.max_inflight < 1 or not 0 < settings.body_timeout_s <= 3600:
            raise ValueError("max_inflight must be >= 1 and body_timeout_s in (0, 3600]")
        settings.keyring()  # refuses bad ids, weak secrets and one id given two secrets
        settings.token_store(None)  # refuses bad tokens and duplicate labels
        return settings

    def keyring(self) -> Keyring:
        """The configured keys; the first one signs."""
        keyring = Keyring()
        for key_id, secret in self.grid_keys:
            keyring.install(key_id, secret.encode("ascii"))
        return keyring

    def token_store(self, cli_token: str | None) -> TokenStore:
        """The ``-t`` token (admin, label ``cli``) plus every configured operator."""
        tokens = TokenStore.from_cli(cli_token)
        for operator in self.operators:
            tokens.add(operator.token, operator.role, operator.label)
        return tokens


def parse_grid_key(item: Any) -> tuple[str, Secret]:
    """``"ID:SECRET"`` (flag, TOML string) or ``{id, secret}`` (TOML table)."""
    if isinstance(item, Mapping):
        key_id, secret = str(item.get("id", "")), str(item.get("secret", ""))
    elif isinstance(item, (tuple, list)) and len(item) == 2:
        key_id, secret = str(item[0]), str(item[1])
    else:
        key_id, _, secret = str(item).partition(":")
    if not key_id or not secret or not secret.isascii() or not secret.isprintable() or " " in secret:
        raise ValueError("a grid key is ID:SECRET, the secret printable ASCII without spaces")
    return key_id, Secret(secret)


def parse_operator(item: Any) -> Operator:
    """``"ROLE:LABEL:TOKEN"`` (flag) or ``{token, role, label}`` (TOML ``[[operators]]``)."""
    if isinstance(item, Operator):
        return item
    if isinstance(item, Mapping):
        role, label, token = str(item.get("role", "")), str(item.get("label", "")), str(item.get("token", ""))
    else:
        parts = str(item).split(":", 2)
        if len(parts) != 3:
            raise ValueError("an operator is ROLE:LABEL:TOKEN")
        role, label, token = parts
    if not label or not token:
        raise ValueError("an operator needs a role, a label and a token")
    return Operator(Role.parse(role), label, Secret(token))


def fold_toml(data: Mapping[str, Any]) -> dict[str, Any]:
    """A parsed node TOML with top-level ``[[operators]]`` moved into ``[security]``.

    Feature settings are tables; operators are an array of tables, so they
    are folded into the security table before the tables are picked out.
    """
    folded = dict(data)
    operators = folded.pop("operators", None)
    if operators is not None:
        security = dict(folded.get(SECTION, {}))
        security["operators"] = list(security.get("operators", [])) + list(operators)
        folded[SECTION] = security
    return folded


def with_flags(
    features: Mapping[str, Mapping[str, Any]],
    grid_keys: list[str] | None = None,
    operators: list[str] | None = None,
    max_inflight: int | None = None,
) -> dict[str, Mapping[str, Any]]:
    """Feature settings with the security flags added (flags after the file's entries).

    The block is checked here so a bad flag or file stops the node before it
    starts; secrets come out wrapped in :class:`Secret`.
    """
    section = dict(features.get(SECTION, {}))
    section["grid_keys"] = list(section.get("grid_keys", [])) + list(grid_keys or [])
    section["operators"] = list(section.get("operators", [])) + list(operators or [])
    if max_inflight is not None:
        section["max_inflight"] = max_inflight
    settings = SecuritySettings.parse(section)
    section["grid_keys"] = list(settings.grid_keys)
    section["operators"] = list(settings.operators)
    return {**features, SECTION: section}


__all__ = [
    "DEFAULT_BODY_TIMEOUT_S",
    "DEFAULT_MAX_INFLIGHT",
    "Operator",
    "SECTION",
    "Secret",
    "SecuritySettings",
    "fold_toml",
    "parse_grid_key",
    "parse_operator",
    "with_flags",
]
