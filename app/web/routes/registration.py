"""Endpoints of discovery, JWKS, health and RFC 7591 / RFC 7592 registration."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.errors import NO_STORE, ServiceUnavailable
from app.services import discovery, registration
from app.web.requests import (
    JsonResponse,
    credential_of,
    host_of,
    now,
    read_json_object,
    realm_of,
    services_of,
)

# --- health and discovery -------------------------------------------------------------------


async def health(request: Request) -> Response:
    services = services_of(request)
    try:
        await services.store.ping()
    except ServiceUnavailable:
        return JsonResponse({"status": "unavailable", "database": "down"}, status_code=503)
    if not services.realms.loaded:
        return JsonResponse({"status": "starting", "realms": "not loaded"}, status_code=503)
    return JsonResponse({"status": "ok"})


async def openid_configuration(request: Request) -> Response:
    services = services_of(request)
    realm = realm_of(request)
    return JsonResponse(discovery.metadata(services, realm))


async def certs(request: Request) -> Response:
    services = services_of(request)
    realm = realm_of(request)
    keys = await services.keyring.get(realm.name)
    return JsonResponse(keys.public_jwks())


# --- RFC 7591 / RFC 7592 ----------------------------------------------------------------------


async def create_client(request: Request) -> Response:
    """RFC 7591 §3.1 — POST /realms/{realm}/clients-registrations/openid-connect"""
    services, realm = services_of(request), realm_of(request)
    body = await read_json_object(request)
    cred = await credential_of(request, realm)
    reply = await registration.register(services, realm, cred, host_of(request), body, now())
    headers = {**NO_STORE, "Location": reply["registration_client_uri"]}
    return JsonResponse(reply, status_code=201, headers=headers)


async def read_client(request: Request) -> Response:
    """RFC 7592 §2.1 — GET …/clients-registrations/openid-connect/{client_id}"""
    services, realm = services_of(request), realm_of(request)
    cred = await credential_of(request, realm)
    reply = await registration.read(
        services, realm, request.path_params["client_id"], cred, host_of(request), now()
    )
    return JsonResponse(reply, headers=NO_STORE)


async def update_client(request: Request) -> Response:
    """RFC 7592 §2.2 — PUT …/clients-registrations/openid-connect/{client_id}"""
    services, realm = services_of(request), realm_of(request)
    body = await read_json_object(request)
    cred = await credential_of(request, realm)
    reply = await registration.update(
        services, realm, request.path_params["client_id"], cred, host_of(request), body, now()
    )
    return JsonResponse(reply, headers=NO_STORE)


async def delete_client(request: Request) -> Response:
    """RFC 7592 §2.3 — DELETE …/clients-registrations/openid-connect/{client_id}"""
    services, realm = services_of(request), realm_of(request)
    cred = await credential_of(request, realm)
    await registration.remove(
        services, realm, request.path_params["client_id"], cred, host_of(request), now()
    )
    return Response(status_code=204, headers=NO_STORE)


async def client_configuration(request: Request) -> Response:
    """RFC 7592 §2 — the client configuration endpoint, by method."""
    if request.method == "PUT":
        return await update_client(request)
    if request.method == "DELETE":
        return await delete_client(request)
    return await read_client(request)  # GET, and HEAD, which Starlette adds to GET


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
    # one route per path, so a 405 names every method of the resource in Allow (RFC 9110 §15.5.6)
    Route(DCR + "/{client_id}", client_configuration, methods=["GET", "PUT", "DELETE"]),
]
