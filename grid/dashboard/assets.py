"""The dashboard's files, read once from the installed package (``importlib.resources``)."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from importlib import resources

#: Media types of the files the dashboard ships; other files are not served.
MEDIA_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True, slots=True)
class Asset:
    """One file of the page: its bytes, media type and validator."""

    name: str
    body: bytes
    content_type: str
    etag: str

    @property
    def charset(self) -> str | None:
        """Text files are UTF-8."""
        return "utf-8" if self.content_type.startswith("text/") or self.content_type.endswith("+xml") else None


def _media_type(name: str) -> str | None:
    suffix = name[name.rfind(".") :] if "." in name else ""
    return MEDIA_TYPES.get(suffix)


@functools.cache
def load_assets() -> dict[str, Asset]:
    """Every servable file of ``grid/dashboard/static``, by file name.

    Read once per process: the files belong to the installed package and do
    not change while a node runs.
    """
    found: dict[str, Asset] = {}
    for item in resources.files(__package__).joinpath("static").iterdir():
        media = _media_type(item.name)
        if media is None or not item.is_file():
            continue
        body = item.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        found[item.name] = Asset(item.name, body, media, etag)
    return found
