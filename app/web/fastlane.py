"""The two hottest requests skip Starlette's router and middleware stack.

POST …/clients-registrations/openid-connect and GET …/openid-connect/{client_id} are most of a
registration server's traffic. They are matched by splitting the path, run through the very
same endpoint functions and the same error rendering as every other route, and keep the same
request limits; only the generic routing and middleware layers are skipped (profiling showed
them at about a tenth of a registration's CPU time). Everything else goes through Starlette.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from app.errors import RegistrarError, error_response
from app.web.request_limits import RequestLimits, refuse
from app.web.routes.registration import create_client, read_client

_PREFIX = "/realms/"
_DCR = "clients-registrations"
_PROTOCOL = "openid-connect"


def hot_route(method: str, path: str) -> tuple[str, str | None] | None:
    """(realm, client_id) for the two hot requests, None for anything else."""
    if not path.startswith(_PREFIX):
        return None
    parts = path[len(_PREFIX) :].split("/")
    if len(parts) == 3 and method == "POST" and parts[1] == _DCR and parts[2] == _PROTOCOL:
        return (parts[0], None) if parts[0] else None
    if len(parts) == 4 and method == "GET" and parts[1] == _DCR and parts[2] == _PROTOCOL:
        return (parts[0], parts[3]) if parts[0] and parts[3] else None
    return None


class Registrar(Starlette):
    """Starlette with a fast lane and a cap on requests in flight.

    `limits` must be the same RequestLimits the middleware stack uses. Past `max_in_flight`
    requests a JSON 503 with Retry-After answers (uvicorn's own connection limit, set higher
    as a backstop, would answer in plain text).
    """

    limits: RequestLimits | None = None
    max_in_flight: int = 1024
    in_flight: int = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            await refuse(send, 503, "Too many requests in progress; retry shortly", retry_after=1)
            return
        self.in_flight += 1
        try:
            await self._route(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        hot = hot_route(scope["method"], scope["path"])
        if hot is None or self.limits is None:
            await super().__call__(scope, receive, send)
            return
        violation = self.limits.violation(scope)
        if violation is not None:
            await refuse(send, *violation)
            return
        scope["app"] = self
        realm, client_id = hot
        scope["path_params"] = (
            {"realm": realm}
            if client_id is None
            else {
                "realm": realm,
                "client_id": client_id,
            }
        )
        request = Request(scope, receive)
        try:
            if client_id is None:
                response = await create_client(request)
            else:
                response = await read_client(request)
        except RegistrarError as exc:
            response = await error_response(request, exc)
        await response(scope, receive, send)
