"""Operators: tokens, roles, and which role each message needs.

Rules:
- Roles are ordered ``viewer < owner < manager < admin``; a role may do
  everything the roles below it may. ``admin`` is the all-powers ``-t`` token
  of the original CLI.
- A node keeps only the SHA-256 of each token, never the token itself, and
  compares digests in constant time. Tokens are random secrets, not
  passwords, so a fast hash is enough: there is nothing to brute-force that
  would be cheaper than guessing the token.
- A node with no tokens is open (the original without ``-t``): every caller
  is ``admin``. The node must say so loudly.
- The ``Authorization`` header value is ``Bearer <token>`` or the bare token,
  as the original's curl examples send it.
- :data:`REQUIRED_ROLE` is the operator's side only; peers are authenticated
  with the grid key (:mod:`protocol.keyring`) instead.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .security import AuthError, ForbiddenError


class Role(enum.IntEnum):
    """What an operator may do; a higher role includes every lower one."""

    VIEWER = 0  #: reads: state, view, price, dashboard
    OWNER = 1  #: reports for its own node: meter readings, acknowledgements
    MANAGER = 2  #: shapes the grid: links, sync, control, dispatch, key rotation
    ADMIN = 3  #: everything, including what only peers normally send

    @classmethod
    def parse(cls, name: str) -> Role:
        """The role called ``name`` (case-insensitive), e.g. from a config file."""
        try:
            return cls[name.strip().upper()]
        except KeyError:
            choices = ", ".join(role.label for role in cls)
            raise ValueError(f"unknown role {name!r}; expected one of {choices}") from None

    @property
    def label(self) -> str:
        """The lowercase name used in configs, logs and errors."""
        return self.name.lower()

    def __str__(self) -> str:
        return self.label


#: Pseudo message type for every read-only operator request (GET of state,
#: view, price, dashboard, event stream), which carries no ``msgType``.
READ = "Read"

#: Minimum role per ``msgType`` sent by an operator. Append new types here;
#: anything missing needs :data:`DEFAULT_ROLE`.
REQUIRED_ROLE: Mapping[str, Role] = MappingProxyType(
    {
        READ: Role.VIEWER,
        "UpdateEnergy": Role.OWNER,
        "MeterReading": Role.OWNER,
        "Acknowledge": Role.OWNER,
        "AddSibling": Role.MANAGER,
        "RemoveSibling": Role.MANAGER,
        "SyncGrid": Role.MANAGER,
        "Control": Role.MANAGER,
        "Dispatch": Role.MANAGER,
        "KeyRotation": Role.MANAGER,
        # Gossip is a peer's job: an operator injecting entries could forge
        # other nodes' facts, so only the all-powers token may (for debugging).
        "UpdateNet": Role.ADMIN,
        # Support chat: a household's owner chats for its own node (and reads its chats).
        "Chat": Role.OWNER,
        "ChatReceipt": Role.OWNER,
        "ChatTyping": Role.OWNER,
        # Relays and their acks are peers'; an operator forging one could speak for another node.
        "ChatRelay": Role.ADMIN,
        "ChatAck": Role.ADMIN,
    }
)
#: The role a message type not listed in :data:`REQUIRED_ROLE` needs: unknown
#: types may change state, so they are not left to viewers or owners.
DEFAULT_ROLE = Role.MANAGER


def required_role(msg_type: str) -> Role:
    """The minimum role an operator needs to send ``msg_type``."""
    return REQUIRED_ROLE.get(msg_type, DEFAULT_ROLE)


def authorize(role: Role | None, msg_type: str) -> None:
    """Allow or refuse an operator's message.

    ``role`` is what :meth:`TokenStore.authenticate` returned. Raises
    :class:`AuthError` (401, ``unauthorized``) when it is ``None`` and
    :class:`ForbiddenError` (403) when the role is too low.
    """
    if role is None:
        raise AuthError("missing or wrong token in Authorization", code="unauthorized")
    needed = required_role(msg_type)
    if role < needed:
        raise ForbiddenError(f"{msg_type} needs role {needed.label}, token has {role.label}")


_TOKEN = re.compile(r"[\x21-\x7e]{1,256}")  # printable ASCII, no spaces: fits a header
_BEARER = "bearer "


def token_digest(token: str) -> str:
    """The SHA-256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def presented_token(authorization: str | None) -> str | None:
    """The token in an ``Authorization`` value: ``Bearer t1`` or plain ``t1``."""
    if authorization is None:
        return None
    value = authorization.strip()
    if value[: len(_BEARER)].lower() == _BEARER:  # the scheme is case-insensitive (RFC 9110)
        value = value[len(_BEARER) :].strip()
    return value or None


@dataclass(frozen=True, slots=True)
class Grant:
    """One operator token, as stored: its digest, its role, a label for logs and audit."""

    label: str
    role: Role
    digest: str = field(repr=False)  # short tokens are guessable from their hash: keep it out of logs


class TokenStore:
    """The operator tokens a node accepts, kept only as digests."""

    def __init__(self) -> None:
        self._grants: dict[str, Grant] = {}  # label -> grant

    @classmethod
    def from_cli(cls, token: str | None) -> TokenStore:
        """The store for ``-t token``: that token is admin; no token means open."""
        store = cls()
        if token:
            store.add(token, Role.ADMIN, "cli")
        return store

    @property
    def is_open(self) -> bool:
        """True when no token is configured: every caller is admin."""
        return not self._grants

    def labels(self) -> tuple[str, ...]:
        """Labels of the configured tokens, sorted."""
        return tuple(sorted(self._grants))

    def add(self, token: str, role: Role, label: str) -> None:
        """Accept ``token`` with ``role``; ``label`` names it (unique) and is all logs see."""
        if not _TOKEN.fullmatch(token):
            raise ValueError("a token is 1-256 printable ASCII characters without spaces")
        if not label or label in self._grants:
            raise ValueError(f"token label {label!r} is empty or already used")
        digest = token_digest(token)
        if self._find(digest) is not None:
            raise ValueError("this token is already configured under another label")
        self._grants[label] = Grant(label=label, role=Role(role), digest=digest)

    def remove(self, label: str) -> None:
        """Stop accepting the token called ``label``."""
        if self._grants.pop(label, None) is None:
            raise KeyError(f"no token labelled {label!r}")

    def identify(self, authorization: str | None) -> Grant | None:
        """The grant matching an ``Authorization`` value, or ``None`` (also in open mode)."""
        token = presented_token(authorization)
        if token is None:
            return None
        return self._find(token_digest(token))

    def authenticate(self, authorization: str | None) -> Role | None:
        """The role of the presented token; ``None`` if missing or wrong; admin if open."""
        if self.is_open:
            return Role.ADMIN
        grant = self.identify(authorization)
        return None if grant is None else grant.role

    def _find(self, digest: str) -> Grant | None:
        # Compare against every grant without stopping early, so the time taken
        # says nothing about which token (or how much of one) matched.
        found = None
        for grant in self._grants.values():
            if hmac.compare_digest(grant.digest, digest):
                found = grant
        return found

    def __repr__(self) -> str:
        grants = ", ".join(f"{g.label}:{g.role.label}" for g in self._grants.values())
        return f"TokenStore({grants})"


__all__ = [
    "DEFAULT_ROLE",
    "Grant",
    "READ",
    "REQUIRED_ROLE",
    "Role",
    "TokenStore",
    "authorize",
    "presented_token",
    "required_role",
    "token_digest",
]
