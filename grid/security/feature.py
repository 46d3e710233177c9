"""The ``security`` feature: the node's grid keyring, rotated by ``KeyRotation``.

Built for every node (:func:`make`). Its :class:`~grid.security.peers.PeerAuth`
is made from the configuration and the store before the actor starts, and the
node service hands the same object to the HTTP layer and the transport, so
a rotation applied here signs and checks the very next message. The feature
persists every change in the node's store (:mod:`.keystore`), keeps the
node's ``dev_mode`` in step with the keyring, and shows key ids (never
secrets) and rejection counts in the ``security`` block of /state.
"""

from __future__ import annotations

import logging
from typing import Any

from protocol.envelopes import Envelope
from protocol.errors import BadMessage, Conflict, NotFound
from protocol.keyring import KeyringError
from protocol.keyrotation import KeyRotation

from ..node.commands import Outcome
from ..node.config import NodeConfig
from ..node.feature import Feature, MessageHandler
from .keystore import KeyStore, merge, read_stored
from .peers import PeerAuth
from .settings import SECTION, SecuritySettings

log = logging.getLogger("grid.security")

_KEYRING_ERRORS = {"key_conflict": Conflict, "active_key": Conflict, "unknown_key": NotFound}


class SecurityFeature(Feature):
    """Owns the node's keyring: persistence, rotation, and its /state block."""

    name = SECTION

    def __init__(self, peers: PeerAuth, settings: SecuritySettings, removed: set[str] | None = None) -> None:
        self.peers = peers
        self.settings = settings
        self.removed = set(removed or ())

    def start(self) -> None:
        self.keystore = KeyStore(self.node.store.db)
        self._persist()  # configured keys join the store on the first start

    def handlers(self) -> dict[str, MessageHandler]:
        return {KeyRotation.msg_type: self.rotate}

    def rotate(self, env: Envelope) -> Outcome:
        """Apply one KeyRotation from an operator (the HTTP layer checked the manager role)."""
        msg: KeyRotation = env.message  # type: ignore[assignment]
        try:
            if msg.action == "install":
                self.peers.install(msg.key_id, msg.secret_bytes())
                self.removed.discard(msg.key_id)
            elif msg.action == "use":
                self.peers.use(msg.key_id)
            else:
                self.peers.remove(msg.key_id)
                self.removed.add(msg.key_id)
        except KeyringError as exc:
            raise _KEYRING_ERRORS.get(exc.code, BadMessage)(exc.detail, code=exc.code) from None
        self._persist()
        self.node.dev_mode = self.peers.is_open
        log.info("%s: grid key %s %s; active key %s", self.node.config.name, msg.key_id, _past(msg.action),
                 self.peers.active_id)  # fmt: skip
        return Outcome(200, {"status": "ok", **self.keys()})

    def keys(self) -> dict[str, Any]:
        """Key ids and the active one: never a secret."""
        return {"keys": list(self.peers.ids()), "active": self.peers.active_id}

    def state(self) -> dict[str, Any]:
        return {
            "dev_mode": self.peers.is_open,
            **self.keys(),
            "accepted": self.peers.accepted,
            "rejected": dict(sorted(self.peers.rejected.items())),
        }

    def _persist(self) -> None:
        self.keystore.save(self.peers.snapshot(), self.removed)


def _past(action: str) -> str:
    return {"install": "installed", "use": "in use", "remove": "removed"}[action]


def make(config: NodeConfig) -> SecurityFeature:
    """The feature of one node: settings checked, keyring merged from config and store."""
    settings = SecuritySettings.parse(config.feature(SECTION))
    stored = read_stored(config.store_path)
    keyring, skipped = merge(stored, settings.keyring())
    for key_id in skipped:
        log.warning("%s: grid key %s was removed by a rotation; ignoring its configuration", config.name, key_id)
    return SecurityFeature(PeerAuth(keyring), settings, stored.removed)


def security_of(features: list[Feature], config: NodeConfig) -> SecurityFeature:
    """The node's security feature; one made from ``config`` if the list has none."""
    for feature in features:
        if isinstance(feature, SecurityFeature):
            return feature
    return make(config)


__all__ = ["SecurityFeature", "make", "security_of"]
