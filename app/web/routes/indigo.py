"""INDIGO IAM's registration API: `/iam/api/client-registration[/{client_id}]` for
`default_realm`, and `/realms/{realm}/iam/api/client-registration[/{client_id}]`, for realms with
`compat: {indigo_iam: true}`. The same services, policies and tables as RFC 7591 / RFC 7592.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.config.realm_models import RealmConfig
from app.services import indigo
from app.web.requests import (
    NO_STORE,
    JsonResponse,
    by_method,
    caller_of,
    container_of,
    now,
    read_json_object,
)


def indigo_realm(request: Request) -> tuple[RealmConfig, str]:
    """The realm the request names (404 unless enabled with indigo_iam) and its endpoint."""
    container = container_of(request)
    path_realm: str | None = request.path_params.get("realm")
    name = indigo.realm_name(path_realm, container.settings.default_realm)
    realm = indigo.check_enabled(container.enabled_realm(name))
    return realm, indigo.endpoint(container.settings.base_url, path_realm)


async def create_client(request: Request) -> Response:
    """RFC 7591 §3.1 at POST /iam/api/client-registration"""
    registrations, (realm, endpoint) = container_of(request).registrations, indigo_realm(request)
    body = await read_json_object(request)
    caller = await caller_of(request, realm)
    reply = await registrations.register(realm, caller, body, now())
    shown = indigo.client_response(reply, endpoint)
    headers = {**NO_STORE, "Location": shown["registration_client_uri"]}
    return JsonResponse(shown, status_code=201, headers=headers)


async def read_client(request: Request) -> Response:
    """RFC 7592 §2.1 at GET /iam/api/client-registration/{client_id}"""
    registrations, (realm, endpoint) = container_of(request).registrations, indigo_realm(request)
    caller = await caller_of(request, realm)
    reply = await registrations.read(realm, request.path_params["client_id"], caller)
    return JsonResponse(indigo.client_response(reply, endpoint), headers=NO_STORE)


async def update_client(request: Request) -> Response:
    """RFC 7592 §2.2 at PUT /iam/api/client-registration/{client_id}"""
    registrations, (realm, endpoint) = container_of(request).registrations, indigo_realm(request)
    body = await read_json_object(request)
    caller = await caller_of(request, realm)
    client_id = request.path_params["client_id"]
    reply = await registrations.update(realm, client_id, caller, body, now())
    return JsonResponse(indigo.client_response(reply, endpoint), headers=NO_STORE)


async def delete_client(request: Request) -> Response:
    """RFC 7592 §2.3 at DELETE /iam/api/client-registration/{client_id}: 204, INDIGO's headers"""
    registrations, (realm, _) = container_of(request).registrations, indigo_realm(request)
    caller = await caller_of(request, realm)
    await registrations.remove(realm, request.path_params["client_id"], caller)
    return Response(status_code=204, headers=indigo.DELETE_HEADERS)


client_configuration = by_method(read_client, update_client, delete_client)


BARE = indigo.INDIGO_PATH
PER_REALM = "/realms/{realm}" + indigo.INDIGO_PATH

ROUTES: list[BaseRoute] = [
    Route(BARE, create_client, methods=["POST"]),
    Route(BARE + "/{client_id}", client_configuration, methods=["GET", "PUT", "DELETE"]),
    Route(PER_REALM, create_client, methods=["POST"]),
    Route(PER_REALM + "/{client_id}", client_configuration, methods=["GET", "PUT", "DELETE"]),
]
