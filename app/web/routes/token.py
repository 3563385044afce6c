"""The realm's token endpoint (RFC 6749 §3.2) and introspection endpoint (RFC 7662 §2)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.auth.callers import Caller
from app.errors import InvalidRequest, UnauthorizedClient
from app.metrics import TOKENS_ISSUED, labelled
from app.services.token_endpoint import claimed_client_id, client_credentials_from
from app.web.requests import (
    NO_STORE,
    JsonResponse,
    container_of,
    host_of,
    now,
    read_body,
    realm_of,
)

FORM = ("application/x-www-form-urlencoded",)


async def read_form(request: Request) -> dict[str, str]:
    """RFC 6749 §3.2: parameters sent as application/x-www-form-urlencoded, none repeated."""
    body = await read_body(request, FORM)
    try:
        pairs = form_pairs(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest("The request body is not a valid form") from exc
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            # RFC 6749 §3.2: "Request and response parameters MUST NOT be included more than once."
            raise InvalidRequest(f"Parameter {name} is repeated")
        form[name] = value
    return form


def form_pairs(text: str) -> list[tuple[str, str]]:
    """What parse_qsl(text, keep_blank_values=True) gives; a form with nothing encoded (most
    token requests) split directly, as parse_qsl would leave every piece as it is."""
    if "%" in text or "+" in text:
        return parse_qsl(text, keep_blank_values=True, strict_parsing=False)
    return [(name, value) for name, _, value in (p.partition("=") for p in text.split("&") if p)]


# Keycloak's event of each grant (CLIENT_LOGIN: a client's own token, client_credentials)
GRANT_EVENTS = {"authorization_code": "CODE_TO_TOKEN", "refresh_token": "REFRESH_TOKEN"}


async def token(request: Request) -> Response:
    container, realm = container_of(request), realm_of(request)
    tokens = container.tokens
    form = await read_form(request)
    authorization = request.headers.get("authorization")
    claimed = claimed_client_id(authorization, form)
    grant_type, users = form.get("grant_type"), container.user_tokens
    event = GRANT_EVENTS.get(grant_type or "", "CLIENT_LOGIN")
    with container.events.recording(
        realm, event, Caller("anonymous", host=host_of(request)), claimed
    ):
        await tokens.count_request(realm, claimed, now())
        client = await tokens.authenticate_request(realm, authorization, form)
        if grant_type == "authorization_code":
            reply = await users.authorization_code(realm, client, form, now())
        elif grant_type == "refresh_token":
            reply = await users.refresh(realm, client, form, now())
        elif client.public:
            raise UnauthorizedClient("A public client cannot use this grant type")
        else:
            reply = await tokens.issue_token(realm, client, form, now())
    labelled(TOKENS_ISSUED, realm.name, str(grant_type)).inc()  # a grant the endpoint supports
    # RFC 6749 §5.1: "The authorization server MUST include the HTTP "Cache-Control" response
    # header field [RFC2616] with a value of "no-store" in any response containing tokens"
    return JsonResponse(reply, headers=NO_STORE)


async def introspect(request: Request) -> Response:
    container, realm = container_of(request), realm_of(request)
    form = await read_form(request)
    client_id, secret = client_credentials_from(request.headers.get("authorization"), form)
    caller = Caller("anonymous", host=host_of(request))
    with container.events.recording(realm, "INTROSPECT_TOKEN", caller, client_id):
        # RFC 7662 §2.1: "the endpoint MUST also require some form of authorization to access
        # this endpoint": a service account or a registered confidential client of this realm
        token_text = form.get("token")
        client = await container.tokens.authenticate_introspector(
            realm, client_id, secret, token_text
        )
        reply = await container.tokens.introspect(realm, token_text, now(), client)
    return JsonResponse(reply, headers=NO_STORE)


OIDC = "/realms/{realm}/protocol/openid-connect"

ROUTES: list[BaseRoute] = [
    Route(OIDC + "/token", token, methods=["POST"]),
    Route(OIDC + "/token/introspect", introspect, methods=["POST"]),
]
