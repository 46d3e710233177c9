"""The few error types of the protocol, each mapped to one HTTP status.

Every rejection a node makes is one of these; the HTTP layer turns it into a
``{"error": code, "detail": ...}`` JSON body with the class's status. Nothing
else escapes to the network (so no input can produce a 5xx).
"""

from __future__ import annotations

from typing import Any


class GridError(Exception):
    """Base of every protocol error: an HTTP status, a machine code, a detail."""

    status: int = 400
    code: str = "bad_request"

    def __init__(self, detail: Any = None, *, code: str | None = None) -> None:
        super().__init__(detail if isinstance(detail, str) else repr(detail))
        self.detail = detail
        if code is not None:
            self.code = code

    def to_json(self) -> dict[str, Any]:
        """The error body sent on the wire."""
        return {"error": self.code, "detail": self.detail}


class BadMessage(GridError):
    """Malformed, invalid or unsupported input (400)."""

    status = 400
    code = "bad_message"


class Unauthorized(GridError):
    """Missing or wrong credentials (401)."""

    status = 401
    code = "unauthorized"


class Forbidden(GridError):
    """Valid credentials without the role the message needs (403)."""

    status = 403
    code = "forbidden"


class NotFound(GridError):
    """No such resource (404)."""

    status = 404
    code = "not_found"


class Conflict(GridError):
    """The request contradicts the node's state (409), e.g. linking to itself."""

    status = 409
    code = "conflict"


class TooLarge(GridError):
    """Body over the size limit (413)."""

    status = 413
    code = "too_large"


class UnsupportedMediaType(GridError):
    """Content type is neither JSON nor msgpack (415)."""

    status = 415
    code = "unsupported_media_type"


class RetryLater(GridError):
    """Base of the refusals for now (429, 503), never raised itself.

    The client may retry after ``retry_after_s`` seconds; the HTTP layer sends
    it as the ``Retry-After`` header.
    """

    def __init__(self, detail: Any = None, *, retry_after_s: float = 1.0, code: str | None = None) -> None:
        super().__init__(detail, code=code)
        self.retry_after_s = retry_after_s


class RateLimited(RetryLater):
    """Too many failures or requests from one client (429)."""

    status = 429
    code = "rate_limited"


class Overloaded(RetryLater):
    """The node sheds load (503); the client should retry later."""

    status = 503
    code = "overloaded"
