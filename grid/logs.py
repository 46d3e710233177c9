"""How a node process logs: readable text (the default) or one JSON object per line.

``--log-format json`` suits log shippers (journald, Loki, Elasticsearch):
every record becomes one line ``{"time", "level", "logger", "message", ...}``
with the record's ``extra`` fields and the node's identity added. Secrets
never get in: values of type :class:`~grid.security.Secret`, and values of
fields whose name says token, secret, password, authorization, api key or
grid key, are written as ``"***"``. (Messages themselves never format a secret; a test
checks a real node's log for its token.)
"""

from __future__ import annotations

import enum
import json
import logging
import re
import sys
from datetime import datetime, timezone
from typing import Any, Mapping

from .security import Secret

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(message)s"
REDACTED = "***"
#: Field names whose values are never written.
_SECRET_NAME = re.compile(r"token|secret|password|passwd|authorization|api_?key|grid_?key", re.IGNORECASE)
#: Attributes every LogRecord has; anything else on a record came as ``extra``.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "taskName"}


class LogFormat(str, enum.Enum):
    """The two formats of ``--log-format``."""

    text = "text"
    json = "json"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def __init__(self, fields: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        #: Added to every line (the node's id and name), under the record's own fields.
        self.fields = dict(fields or {})

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **self.fields,
        }
        for name, value in record.__dict__.items():
            if name not in _STANDARD and not name.startswith("_"):
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(redact(line), default=repr, ensure_ascii=False)


def redact(value: Any, name: str = "") -> Any:
    """``value`` with secrets replaced by ``***`` (recursively through dicts and lists)."""
    if isinstance(value, Secret) or (name and _SECRET_NAME.search(name) and value is not None):
        return REDACTED
    if isinstance(value, Mapping):
        return {str(key): redact(item, str(key)) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [redact(item) for item in value]
    return value


def configure(level: str = "INFO", fmt: LogFormat | str = LogFormat.text, **fields: Any) -> None:
    """Set up the root logger of a node process, writing to stderr.

    ``fields`` (e.g. ``node="A"``) are added to every JSON line. Python
    warnings go through logging too, so a JSON log holds nothing but JSON.
    """
    handler = logging.StreamHandler(sys.stderr)
    if LogFormat(fmt) is LogFormat.json:
        handler.setFormatter(JsonFormatter(fields))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT, datefmt="%H:%M:%S"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    logging.captureWarnings(True)
