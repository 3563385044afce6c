"""INDIGO IAM's registration API (issue 8): `/iam/api/client-registration[/{client_id}]` for
`default_realm`, and `/realms/{realm}/iam/api/client-registration[/{client_id}]`, for realms with
`compat: {indigo_iam: true}`. The same services, policies and tables as RFC 7591 / RFC 7592.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.config.realms import RealmConfig
from app.errors import NO_STORE
from app.services import indigo, registration
from app.web.requests import (
    JsonResponse,
    credential_of,
    host_of,
    now,
    read_json_object,
    services_of,
)


def indigo_realm(request: Request) -> tuple[RealmConfig, str]:
    """The realm the request names (404 unless enabled with indigo_iam) and its endpoint."""
    services = services_of(request)
    path_realm: str | None = request.path_params.get("realm")
    name = indigo.realm_name(path_realm, services.settings.default_realm)
    realm = indigo.check_enabled(services.enabled_realm(name))
    return realm, indigo.endpoint(services.settings.base_url, path_realm)


async def create_client(request: Request) -> Response:
    """RFC 7591 §3.1 at POST /iam/api/client-registration"""
    services, (realm, endpoint) = services_of(request), indigo_realm(request)
    body = await read_json_object(request)
    cred = await credential_of(request, realm)
    reply = await registration.register(services, realm, cred, host_of(request), body, now())
    shown = indigo.client_response(reply, endpoint)
    headers = {**NO_STORE, "Location": shown["registration_client_uri"]}
    return JsonResponse(shown, status_code=201, headers=headers)


async def read_client(request: Request) -> Response:
    """RFC 7592 §2.1 at GET /iam/api/client-registration/{client_id}"""
    services, (realm, endpoint) = services_of(request), indigo_realm(request)
    cred = await credential_of(request, realm)
    client_id = request.path_params["client_id"]
    reply = await registration.read(services, realm, client_id, cred, host_of(request), now())
    return JsonResponse(indigo.client_response(reply, endpoint), headers=NO_STORE)


async def update_client(request: Request) -> Response:
    """RFC 7592 §2.2 at PUT /iam/api/client-registration/{client_id}"""
    services, (realm, endpoint) = services_of(request), indigo_realm(request)
    body = await read_json_object(request)
    cred = await credential_of(request, realm)
    client_id, host = request.path_params["client_id"], host_of(request)
    reply = await registration.update(services, realm, client_id, cred, host, body, now())
    return JsonResponse(indigo.client_response(reply, endpoint), headers=NO_STORE)


async def delete_client(request: Request) -> Response:
    """RFC 7592 §2.3 at DELETE /iam/api/client-registration/{client_id}: 204, INDIGO's headers"""
    services, (realm, _) = services_of(request), indigo_realm(request)
    cred = await credential_of(request, realm)
    client_id = request.path_params["client_id"]
    await registration.remove(services, realm, client_id, cred, host_of(request), now())
    return Response(status_code=204, headers=indigo.DELETE_HEADERS)


async def client_configuration(request: Request) -> Response:
    """RFC 7592 §2 — the client configuration endpoint, by method."""
    if request.method == "PUT":
        return await update_client(request)
    if request.method == "DELETE":
        return await delete_client(request)
    return await read_client(request)  # GET, and HEAD, which Starlette adds to GET


BARE = indigo.INDIGO_PATH
PER_REALM = "/realms/{realm}" + indigo.INDIGO_PATH

ROUTES: list[BaseRoute] = [
    Route(BARE, create_client, methods=["POST"]),
    Route(BARE + "/{client_id}", client_configuration, methods=["GET", "PUT", "DELETE"]),
    Route(PER_REALM, create_client, methods=["POST"]),
    Route(PER_REALM + "/{client_id}", client_configuration, methods=["GET", "PUT", "DELETE"]),
]
