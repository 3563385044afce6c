"""Requests through trusted proxies are seen from their client (docs/reference.md §1): the address
`Forwarded` or `X-Forwarded-For` names (app/rules/forwarded.py) replaces the peer's in the ASGI
scope, before anything reads it, so the trusted-hosts policy, rate limits, events and logs all see
the same address. From any other peer both headers are ignored. Only the address is read: the
public URL is REGISTRAR_PUBLIC_URL, never a header's word.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from app.rules.forwarded import TrustedProxies, client_address

_FORWARDED = b"forwarded"
_X_FORWARDED_FOR = b"x-forwarded-for"


class ProxyLayer:
    """Rewrites scope["client"] of HTTP requests from `trusted` proxies."""

    def __init__(self, app: ASGIApp, trusted: TrustedProxies) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        peer = scope.get("client")
        if peer and self.trusted.trust(peer[0]):
            forwarded: list[str] = []
            x_forwarded_for: list[str] = []
            for name, value in scope["headers"]:
                if name == _FORWARDED:
                    forwarded.append(value.decode("latin-1"))
                elif name == _X_FORWARDED_FOR:
                    x_forwarded_for.append(value.decode("latin-1"))
            if forwarded or x_forwarded_for:
                host = client_address(peer[0], self.trusted, forwarded, x_forwarded_for)
                if host != peer[0]:
                    # the client's port is unknown; 0, as uvicorn's proxy headers had it
                    scope["client"] = (host, 0)
        await self.app(scope, receive, send)
