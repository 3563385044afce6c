"""JSON endpoints of signed-in users' tokens: revocation (RFC 7009) and userinfo (OIDC Core
§5.3). The token grants share the token endpoint (app.web.routes.token)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.auth.callers import Caller
from app.errors import MissingToken
from app.services.token_endpoint import claimed_client_id
from app.web.requests import NO_STORE, JsonResponse, container_of, host_of, now, realm_of
from app.web.routes.token import OIDC, read_form


async def revoke(request: Request) -> Response:
    container, realm = container_of(request), realm_of(request)
    form = await read_form(request)
    authorization = request.headers.get("authorization")
    caller = Caller("anonymous", host=host_of(request))
    claimed = claimed_client_id(authorization, form)
    with container.events.recording(realm, "REVOKE_GRANT", caller, claimed):
        # RFC 7009 §2.1: "The authorization server first validates the client credentials (in
        # case of a confidential client)"
        client = await container.tokens.authenticate_request(realm, authorization, form)
        await container.user_tokens.revoke(realm, client, form.get("token"), now())
    # RFC 7009 §2.2: "The authorization server responds with HTTP status code 200 if the token
    # has been revoked successfully or if the client submitted an invalid token."
    return Response(status_code=200, headers=NO_STORE)


async def userinfo(request: Request) -> Response:
    realm = realm_of(request)
    scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise MissingToken("A bearer access token is required")
    claims = await container_of(request).user_tokens.userinfo(realm, token.strip(), now())
    return JsonResponse(claims, headers=NO_STORE)


ROUTES: list[BaseRoute] = [
    Route(OIDC + "/revoke", revoke, methods=["POST"]),
    Route(OIDC + "/userinfo", userinfo, methods=["GET", "POST"]),
]
