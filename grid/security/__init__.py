"""Security of a node: the grid key for peers, operator settings, flow limits.

The pure rules live in :mod:`protocol.keyring`, :mod:`protocol.roles` and
:mod:`protocol.security`; this package does the I/O around them.
"""

from .feature import SecurityFeature, make, security_of
from .flow import InflightGate
from .peers import PeerAuth
from .settings import Secret, SecuritySettings, fold_toml, with_flags

__all__ = [
    "InflightGate",
    "PeerAuth",
    "Secret",
    "SecurityFeature",
    "SecuritySettings",
    "fold_toml",
    "make",
    "security_of",
    "with_flags",
]
