"""Admin endpoints: /admin/realms/{realm}/clients-initial-access and /clients (Keycloak's paths),
with a client's "Regenerate secret" and "Regenerate registration access token".

Each endpoint verifies the caller's token (401), reads the request, and hands both to the admin
service, which checks the caller's roles (403) and does the work.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.auth.callers import Caller
from app.web.requests import (
    NO_STORE,
    JsonResponse,
    caller_of,
    container_of,
    json_array,
    now,
    read_json_object,
    realm_of,
)


async def initial_access_tokens(request: Request) -> Response:
    admin, realm = container_of(request).admin, realm_of(request)
    caller = await caller_of(request, realm)
    if request.method == "GET":
        return JsonResponse(await admin.list_initial_access_tokens(realm, caller))
    body = await read_json_object(request)
    created = await admin.create_initial_access_token(realm, caller, body, now())
    # 200, as Keycloak answers (python-keycloak accepts nothing else)
    return JsonResponse(created, headers=NO_STORE)


async def initial_access_token(request: Request) -> Response:
    admin, realm = container_of(request).admin, realm_of(request)
    caller = await caller_of(request, realm)
    await admin.delete_initial_access_token(realm, caller, request.path_params["id"])
    return Response(status_code=204)


async def clients(request: Request) -> Response:
    admin, realm = container_of(request).admin, realm_of(request)
    caller = await caller_of(request, realm)
    if request.method == "POST":
        # Keycloak: 201, no body, the new client's path in Location
        body = await read_json_object(request)
        key = await admin.create_client(realm, caller, body, now())
        issuer = container_of(request).settings.issuer(realm.name)
        base = issuer.removesuffix(f"/realms/{realm.name}")
        location = f"{base}/admin/realms/{realm.name}/clients/{quote(key, safe='')}"
        return Response(status_code=201, headers={"Location": location})
    return json_array(await admin.list_clients_page(realm, caller, request.query_params))


async def client_id_of(request: Request) -> tuple[Caller, str]:
    """The caller, and the clientId of the client the path names by its Keycloak `id`."""
    admin, realm = container_of(request).admin, realm_of(request)
    caller = await caller_of(request, realm)
    key, to_change = request.path_params["id"], request.method not in ("GET", "HEAD")
    return caller, await admin.client_id_of(realm, caller, key, to_change=to_change)


async def client(request: Request) -> Response:
    admin, realm = container_of(request).admin, realm_of(request)
    caller, client_id = await client_id_of(request)
    if request.method == "GET":
        return JsonResponse(await admin.get_client(realm, caller, client_id))
    if request.method == "DELETE":
        await admin.delete_client(realm, caller, client_id)
        return Response(status_code=204)
    body = await read_json_object(request)
    await admin.update_client(realm, caller, client_id, body, now())
    return Response(status_code=204)


async def client_secret(request: Request) -> Response:
    """Keycloak's GET and POST …/clients/{id}/client-secret: 200 {"type": "secret", "value": …}
    (POST makes a new one)."""
    container, realm = container_of(request), realm_of(request)
    caller, client_id = await client_id_of(request)
    if request.method == "GET":
        secret = await container.admin.client_secret(realm, caller, client_id)
        return JsonResponse({"type": "secret", "value": secret}, headers=NO_STORE)
    secret = await container.registrations.regenerate_secret(realm, client_id, caller, now())
    return JsonResponse({"type": "secret", "value": secret}, headers=NO_STORE)


async def registration_access_token(request: Request) -> Response:
    """Keycloak's POST …/clients/{id}/registration-access-token: 200 with the client's
    ClientRepresentation and its new `registrationAccessToken`."""
    container, realm = container_of(request), realm_of(request)
    caller, client_id = await client_id_of(request)
    registrations = container.registrations
    rat = await registrations.regenerate_registration_access_token(realm, client_id, caller, now())
    shown = await container.admin.get_client(realm, caller, client_id)
    return JsonResponse({**shown, "registrationAccessToken": rat}, headers=NO_STORE)


async def events(request: Request) -> Response:
    """Keycloak's GET /admin/realms/{realm}/events"""
    container, realm = container_of(request), realm_of(request)
    caller = await caller_of(request, realm)
    params = request.query_params
    query = {**params, "type": params.getlist("type")}
    return JsonResponse(await container.events.list_events(realm, caller, query))


ADMIN = "/admin/realms/{realm}"

ROUTES: list[BaseRoute] = [
    Route(ADMIN + "/clients-initial-access", initial_access_tokens, methods=["GET", "POST"]),
    Route(ADMIN + "/clients-initial-access/", initial_access_tokens, methods=["GET", "POST"]),
    Route(ADMIN + "/clients-initial-access/{id}", initial_access_token, methods=["DELETE"]),
    Route(ADMIN + "/events", events, methods=["GET"]),
    Route(ADMIN + "/clients", clients, methods=["GET", "POST"]),
    # Keycloak's admin client asks for the list with a trailing slash (clients.find())
    Route(ADMIN + "/clients/", clients, methods=["GET", "POST"]),
    Route(ADMIN + "/clients/{id}", client, methods=["GET", "PUT", "DELETE"]),
    Route(ADMIN + "/clients/{id}/client-secret", client_secret, methods=["GET", "POST"]),
    Route(
        ADMIN + "/clients/{id}/registration-access-token",
        registration_access_token,
        methods=["POST"],
    ),
]
