"""The hottest requests skip Starlette's router and middleware stack.

POST …/clients-registrations/openid-connect and GET, PUT and DELETE …/openid-connect/{client_id}
are most of a registration server's traffic, POST …/protocol/openid-connect/token and
…/token/introspect most of an authorization server's. They are matched against the very path
templates their routes are declared with (app.web.routes.registration and .token), run through
the same endpoint functions and the same error rendering as every other route, and keep the same
request limits (the one RequestLimits the middleware holds); only the generic routing and
middleware layers are skipped (profiling showed them at about a tenth of a registration's CPU
time). Everything else goes through Starlette. tests/test_fastlane.py and
tests/test_fastlane_tokens.py send the same requests both ways and compare.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.container import Container
from app.errors import ServerBusy
from app.rules.forwarded import TrustedProxies
from app.web.cors import CorsLayer
from app.web.errors import HANDLED, error_response, refuse
from app.web.proxies import ProxyLayer
from app.web.request_ids import RequestIdLayer
from app.web.request_limits import RequestLimits, RequestLimitsMiddleware
from app.web.requests import Endpoint
from app.web.routes.registration import (
    DCR,
    create_client,
    delete_client,
    read_client,
    update_client,
)
from app.web.routes.token import OIDC, introspect, token


@dataclass(frozen=True)
class HotRoute:
    """A method and a path template (`/realms/{realm}/…`), matched segment by segment."""

    method: str
    template: str
    endpoint: Endpoint
    segments: tuple[str, ...] = field(init=False)
    # (index, text) of the template's fixed segments, and (index, name) of its parameters
    _fixed: tuple[tuple[int, str], ...] = field(init=False)
    _params: tuple[tuple[int, str], ...] = field(init=False)

    def __post_init__(self) -> None:
        segments = tuple(self.template.split("/"))
        params = [(i, s[1:-1]) for i, s in enumerate(segments) if s.startswith("{")]
        fixed = [(i, s) for i, s in enumerate(segments) if not s.startswith("{")]
        object.__setattr__(self, "segments", segments)
        object.__setattr__(self, "_params", tuple(params))
        # the most telling segments first: the last fixed ones differ between routes
        object.__setattr__(self, "_fixed", tuple(reversed(fixed)))

    def match(self, method: str, parts: Sequence[str]) -> dict[str, str] | None:
        """The path parameters when method and path fit; a parameter matches one non-empty
        segment, as Starlette's `{name}` does."""
        if method != self.method or len(parts) != len(self.segments):
            return None
        for index, text in self._fixed:
            if parts[index] != text:
                return None
        params: dict[str, str] = {}
        for index, name in self._params:
            part = parts[index]
            if not part:
                return None
            params[name] = part
        return params


HOT_ROUTES = (
    HotRoute("POST", DCR, create_client),
    HotRoute("GET", DCR + "/{client_id}", read_client),
    HotRoute("PUT", DCR + "/{client_id}", update_client),
    HotRoute("DELETE", DCR + "/{client_id}", delete_client),
    HotRoute("POST", OIDC + "/token", token),
    HotRoute("POST", OIDC + "/token/introspect", introspect),
)


class InFlightCap:
    """Past `max_in_flight` requests in progress, a JSON 503 with Retry-After answers (uvicorn's
    own connection limit, set higher as a backstop, would answer in plain text)."""

    def __init__(self, app: ASGIApp, max_in_flight: int) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.in_flight >= self.max_in_flight:
            await refuse(send, ServerBusy("Too many requests in progress; retry shortly"))
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


class Registrar(Starlette):
    """Starlette with the request limits, a fast lane for HOT_ROUTES and a cap on requests
    in flight, all fixed at construction."""

    def __init__(
        self,
        *,
        limits: RequestLimits,
        max_in_flight: int,
        container: Container,
        access_log: bool = False,
        trusted_proxies: TrustedProxies | None = None,
        **kwargs: Any,
    ) -> None:
        middleware = [Middleware(RequestLimitsMiddleware, limits=limits)]
        super().__init__(middleware=middleware, **kwargs)
        self.limits = limits
        self.container = container
        self.state.container = container
        # request ids and CORS around the fast lane and the router alike, inside the cap
        layers = RequestIdLayer(CorsLayer(self._route, container.realms), access_log)
        self.capped = InFlightCap(layers, max_in_flight)
        # the client behind a trusted proxy, before anything reads the address
        self.entry: ASGIApp = (
            ProxyLayer(self.capped, trusted_proxies) if trusted_proxies else self.capped
        )
        # the fixed segments every hot template starts with, to skip other paths at once
        self._prefix = os.path.commonprefix([hot.template for hot in HOT_ROUTES]).split("{")[0]
        # the routes worth matching, by method and number of segments
        self._candidates: dict[tuple[str, int], list[HotRoute]] = {}
        for hot in HOT_ROUTES:
            self._candidates.setdefault((hot.method, len(hot.segments)), []).append(hot)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        await self.entry(scope, receive, send)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if path.startswith(self._prefix):
            parts = path.split("/")
            for hot in self._candidates.get((scope["method"], len(parts)), ()):
                params = hot.match(scope["method"], parts)
                if params is not None:
                    await self._run(hot, params, scope, receive, send)
                    return
        await super().__call__(scope, receive, send)

    async def _run(
        self, hot: HotRoute, params: dict[str, str], scope: Scope, receive: Receive, send: Send
    ) -> None:
        violation = self.limits.violation(scope)
        if violation is not None:
            await refuse(send, violation)
            return
        scope["app"] = self
        scope["path_params"] = params
        request = Request(scope, receive)
        try:
            response = await hot.endpoint(request)
        except HANDLED as exc:
            response = await error_response(request, exc)
        await response(scope, receive, send)
