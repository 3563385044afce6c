"""Request limits checked before routing: header size (431) and request-target length (414).

The HTTP parser has already read the request head; these limits keep oversized heads from
reaching the application and tell the client clearly (RFC 6585 §5, RFC 9110 §15.5.15).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import NO_STORE
from app.jsonio import dumps


class RequestLimits:
    def __init__(self, app: ASGIApp, max_header_bytes: int, max_url_bytes: int) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes
        self.max_url_bytes = max_url_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            violation = self.violation(scope)
            if violation is not None:
                await refuse(send, *violation)
                return
        await self.app(scope, receive, send)

    def violation(self, scope: Scope) -> tuple[int, str] | None:
        """(status, description) when the request head is over a limit, else None."""
        target = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
        if target > self.max_url_bytes:
            return 414, f"The request target is longer than {self.max_url_bytes} bytes"
        head = sum(len(name) + len(value) + 4 for name, value in scope["headers"])
        if head > self.max_header_bytes:
            return 431, f"The request headers are larger than {self.max_header_bytes} bytes"
        return None


async def refuse(send: Send, status: int, description: str, retry_after: int | None = None) -> None:
    error = "temporarily_unavailable" if status == 503 else "invalid_request"
    body = dumps({"error": error, "error_description": description})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in NO_STORE.items()]
    headers.append((b"connection", b"close"))
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
