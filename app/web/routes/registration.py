"""Endpoints of discovery, JWKS, health and RFC 7591 / RFC 7592 registration."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.services import discovery
from app.store.errors import DatabaseUnavailable
from app.web.requests import (
    NO_STORE,
    JsonResponse,
    by_method,
    caller_of,
    container_of,
    now,
    read_json_object,
    realm_of,
)

# --- health and discovery -------------------------------------------------------------------


async def health(request: Request) -> Response:
    container = container_of(request)
    try:
        await container.store.ping()
    except DatabaseUnavailable:
        return JsonResponse({"status": "unavailable", "database": "down"}, status_code=503)
    if not container.realms.loaded:
        return JsonResponse({"status": "starting", "realms": "not loaded"}, status_code=503)
    return JsonResponse({"status": "ok"})


async def openid_configuration(request: Request) -> Response:
    realm = realm_of(request)
    issuer = container_of(request).settings.issuer(realm.name)
    return JsonResponse(discovery.server_metadata(issuer, realm))


async def certs(request: Request) -> Response:
    container = container_of(request)
    realm = realm_of(request)
    keys = await container.keyring.get(realm.name)
    return JsonResponse(keys.public_jwks())


# --- RFC 7591 / RFC 7592 ----------------------------------------------------------------------


async def create_client(request: Request) -> Response:
    """RFC 7591 §3.1 — POST /realms/{realm}/clients-registrations/openid-connect"""
    registrations, realm = container_of(request).registrations, realm_of(request)
    body = await read_json_object(request)
    caller = await caller_of(request, realm)
    reply = await registrations.register(realm, caller, body, now())
    headers = {**NO_STORE, "Location": reply["registration_client_uri"]}
    return JsonResponse(reply, status_code=201, headers=headers)


async def read_client(request: Request) -> Response:
    """RFC 7592 §2.1 — GET …/clients-registrations/openid-connect/{client_id}"""
    registrations, realm = container_of(request).registrations, realm_of(request)
    caller = await caller_of(request, realm)
    reply = await registrations.read(realm, request.path_params["client_id"], caller)
    return JsonResponse(reply, headers=NO_STORE)


async def update_client(request: Request) -> Response:
    """RFC 7592 §2.2 — PUT …/clients-registrations/openid-connect/{client_id}"""
    registrations, realm = container_of(request).registrations, realm_of(request)
    body = await read_json_object(request)
    caller = await caller_of(request, realm)
    client_id = request.path_params["client_id"]
    reply = await registrations.update(realm, client_id, caller, body, now())
    return JsonResponse(reply, headers=NO_STORE)


async def delete_client(request: Request) -> Response:
    """RFC 7592 §2.3 — DELETE …/clients-registrations/openid-connect/{client_id}"""
    registrations, realm = container_of(request).registrations, realm_of(request)
    caller = await caller_of(request, realm)
    await registrations.remove(realm, request.path_params["client_id"], caller)
    return Response(status_code=204, headers=NO_STORE)


async def adapter_config(request: Request) -> Response:
    """Keycloak's GET …/clients-registrations/install/{client_id}: the adapter configuration"""
    registrations, realm = container_of(request).registrations, realm_of(request)
    caller = await caller_of(request, realm)
    config = await registrations.adapter_config(realm, request.path_params["client_id"], caller)
    return JsonResponse(config, headers=NO_STORE)


REALM = "/realms/{realm}"
DCR = REALM + "/clients-registrations/openid-connect"

ROUTES: list[BaseRoute] = [
    Route("/health", health, methods=["GET"]),
    Route(REALM + "/.well-known/openid-configuration", openid_configuration, methods=["GET"]),
    Route(
        "/.well-known/oauth-authorization-server/realms/{realm}",
        openid_configuration,
        methods=["GET"],
    ),
    Route(
        "/.well-known/openid-configuration/realms/{realm}", openid_configuration, methods=["GET"]
    ),
    Route(REALM + "/protocol/openid-connect/certs", certs, methods=["GET"]),
    Route(DCR, create_client, methods=["POST"]),
    Route(REALM + "/clients-registrations/install/{client_id}", adapter_config, methods=["GET"]),
    # one route per path, so a 405 names every method of the resource in Allow (RFC 9110 §15.5.6)
    Route(
        DCR + "/{client_id}",
        by_method(read_client, update_client, delete_client),
        methods=["GET", "PUT", "DELETE"],
    ),
]
