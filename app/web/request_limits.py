"""Request limits checked before routing: header size (431) and request-target length (414).

The HTTP parser has already read the request head; these limits keep oversized heads from
reaching the application and tell the client clearly (RFC 6585 §5, RFC 9110 §15.5.15). One
RequestLimits is made per app and given to both the middleware and the fast lane.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import HeadersTooLarge, RegistrarError, UriTooLong
from app.web.errors import refuse


@dataclass(frozen=True)
class RequestLimits:
    max_header_bytes: int
    max_url_bytes: int

    def violation(self, scope: Scope) -> RegistrarError | None:
        """The error for a request head over a limit, else None."""
        target = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
        if target > self.max_url_bytes:
            return UriTooLong(f"The request target is longer than {self.max_url_bytes} bytes")
        head = sum(len(name) + len(value) + 4 for name, value in scope["headers"])
        if head > self.max_header_bytes:
            return HeadersTooLarge(
                f"The request headers are larger than {self.max_header_bytes} bytes"
            )
        return None


class RequestLimitsMiddleware:
    """Refuses an over-limit request head before Starlette routes it."""

    def __init__(self, app: ASGIApp, limits: RequestLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            violation = self.limits.violation(scope)
            if violation is not None:
                await refuse(send, violation)
                return
        await self.app(scope, receive, send)
