"""CORS for browser applications (Fetch standard): preflights answered with 204, and responses
marked with Access-Control-Allow-Origin, for the origins a realm allows (`cors.allowed_origins`).

It wraps the fast lane and the router alike, so the hot registration requests get the same
headers as every other. A request without an Origin header passes untouched.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config.realms import RealmRegistry
from app.rules.cors import allowed_origin, cors_realm

ALLOW_METHODS = b"GET, POST, PUT, DELETE, OPTIONS"
ALLOW_HEADERS = b"Authorization, Content-Type"
EXPOSE_HEADERS = b"Location, Retry-After, WWW-Authenticate"
MAX_AGE = b"3600"


class CorsLayer:
    def __init__(self, app: ASGIApp, realms: RealmRegistry) -> None:
        self.app = app
        self.realms = realms

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        origin = _header(scope, b"origin")
        name = cors_realm(scope["path"]) if origin is not None else None
        if origin is None or name is None:
            await self.app(scope, receive, send)
            return
        realm = self.realms.get(name)
        allow = None
        if realm is not None and realm.enabled:
            allow = allowed_origin(realm.cors.allowed_origins, origin)
        preflight = scope["method"] == "OPTIONS" and (
            _header(scope, b"access-control-request-method") is not None
        )
        if preflight:
            await _answer_preflight(send, allow)
            return
        if allow is None:
            await self.app(scope, receive, send)
            return

        async def marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += _cors_headers(allow)
                headers.append((b"access-control-expose-headers", EXPOSE_HEADERS))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, marked)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _cors_headers(allow: str) -> list[tuple[bytes, bytes]]:
    # Vary: the answer depends on the Origin, so a cache must not give it to another origin
    return [(b"access-control-allow-origin", allow.encode("latin-1")), (b"vary", b"Origin")]


async def _answer_preflight(send: Send, allow: str | None) -> None:
    """204 to every preflight; the CORS headers only for an allowed origin (a browser then
    refuses the actual request of any other)."""
    headers = [(b"content-length", b"0")]
    if allow is not None:
        headers += _cors_headers(allow)
        headers += [
            (b"access-control-allow-methods", ALLOW_METHODS),
            (b"access-control-allow-headers", ALLOW_HEADERS),
            (b"access-control-max-age", MAX_AGE),
        ]
    await send({"type": "http.response.start", "status": 204, "headers": headers})
    await send({"type": "http.response.body", "body": b""})
