"""Admin endpoints: /admin/realms/{realm}/clients-initial-access and /clients (Keycloak's paths)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.auth.callers import MANAGE_CLIENTS, VIEW_CLIENTS
from app.errors import NO_STORE, InvalidRequest
from app.services import admin
from app.web.requests import (
    JsonResponse,
    credential_of,
    now,
    read_json_object,
    realm_of,
    services_of,
)


async def initial_access_tokens(request: Request) -> Response:
    services, realm = services_of(request), realm_of(request)
    cred = await credential_of(request, realm)
    if request.method == "GET":
        admin.require_role(cred, VIEW_CLIENTS, MANAGE_CLIENTS)
        listed = await admin.list_initial_access_tokens(services, realm)
        return JsonResponse(listed)
    admin.require_role(cred, MANAGE_CLIENTS)
    body = await read_json_object(request)
    expiration = admin.non_negative_int(body, "expiration", 0)
    count = admin.non_negative_int(body, "count", 1)
    created = await admin.create_initial_access_token(services, realm, expiration, count, now())
    return JsonResponse(created, status_code=201, headers=NO_STORE)


async def initial_access_token(request: Request) -> Response:
    services, realm = services_of(request), realm_of(request)
    cred = await credential_of(request, realm)
    admin.require_role(cred, MANAGE_CLIENTS)
    await admin.delete_initial_access_token(services, realm, request.path_params["id"])
    return Response(status_code=204)


def _page_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    # isascii: str.isdigit() is true of "²", which int() refuses
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise InvalidRequest(f"Query parameter {name} must be a non-negative whole number")
    return int(raw)


async def clients(request: Request) -> Response:
    services, realm = services_of(request), realm_of(request)
    cred = await credential_of(request, realm)
    admin.require_role(cred, VIEW_CLIENTS, MANAGE_CLIENTS)
    first = _page_param(request, "first", 0)
    limit = min(_page_param(request, "max", admin.DEFAULT_PAGE), admin.MAX_PAGE)
    listed = await admin.list_clients(services, realm, cred, first, limit)
    return JsonResponse(listed)


async def client(request: Request) -> Response:
    services, realm = services_of(request), realm_of(request)
    client_id = request.path_params["client_id"]
    cred = await credential_of(request, realm)
    if request.method == "GET":
        found = await admin.get_client(services, realm, cred, client_id)
        return JsonResponse(found)
    admin.require_role(cred, MANAGE_CLIENTS)
    body = await read_json_object(request)
    await admin.set_client_enabled(services, realm, cred, client_id, body, now())
    return Response(status_code=204)


ADMIN = "/admin/realms/{realm}"

ROUTES: list[BaseRoute] = [
    Route(ADMIN + "/clients-initial-access", initial_access_tokens, methods=["GET", "POST"]),
    Route(ADMIN + "/clients-initial-access/{id}", initial_access_token, methods=["DELETE"]),
    Route(ADMIN + "/clients", clients, methods=["GET"]),
    Route(ADMIN + "/clients/{client_id}", client, methods=["GET", "PUT"]),
]
