"""Smart metering on a node: the I/O half of ``nodes.metering``.

``feature`` (ingest, storage, alerts), ``store`` (SQLite tables), ``routes``
(``/meter/...``), ``config`` (the ``[metering]`` table), ``wire`` (decoding and
parameters), ``views`` (endpoint answers), ``chart`` (PNG), ``simulator`` and
``client`` (the meter simulator process).
"""

from __future__ import annotations

from .config import MeteringSettings
from .feature import MeteringFeature
from .routes import routes

__all__ = ["MeteringFeature", "MeteringSettings", "routes"]
