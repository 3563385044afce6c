"""Keycloak's other registration providers: the client representation one
(…/clients-registrations/default[/{clientId}]) and SAML entity descriptors
(…/clients-registrations/saml2-entity-descriptor)."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.errors import InvalidClientMetadata, PayloadTooLarge
from app.services.saml_descriptors import MAX_DESCRIPTOR, read_entity_descriptor
from app.web.requests import (
    NO_STORE,
    JsonResponse,
    by_method,
    caller_of,
    container_of,
    now,
    read_body,
    read_json_object,
    realm_of,
)

XML_TYPES = ("application/xml", "text/xml", "application/samlmetadata+xml")


async def create_client(request: Request) -> Response:
    """POST …/clients-registrations/default: 201 with the representation, its `id`, `secret`
    and `registrationAccessToken`."""
    container, realm = container_of(request), realm_of(request)
    body = await read_json_object(request)
    caller = await caller_of(request, realm)
    created = await container.representations.create(realm, caller, body, now())
    issuer = container.settings.issuer(realm.name)
    location = f"{issuer}/clients-registrations/default/{quote(created['clientId'], safe='')}"
    return JsonResponse(created, status_code=201, headers={**NO_STORE, "Location": location})


async def read_client(request: Request) -> Response:
    container, realm = container_of(request), realm_of(request)
    caller = await caller_of(request, realm)
    shown = await container.representations.read(realm, request.path_params["client_id"], caller)
    return JsonResponse(shown, headers=NO_STORE)


async def update_client(request: Request) -> Response:
    container, realm = container_of(request), realm_of(request)
    body = await read_json_object(request)
    caller = await caller_of(request, realm)
    client_id = request.path_params["client_id"]
    shown = await container.representations.update(realm, client_id, caller, body, now())
    return JsonResponse(shown, headers=NO_STORE)


async def delete_client(request: Request) -> Response:
    container, realm = container_of(request), realm_of(request)
    caller = await caller_of(request, realm)
    await container.representations.remove(realm, request.path_params["client_id"], caller)
    return Response(status_code=204, headers=NO_STORE)


async def create_saml_client(request: Request) -> Response:
    """POST …/clients-registrations/saml2-entity-descriptor: 201 with the SAML client's
    representation and `registrationAccessToken`; hostile or oversized XML → 400."""
    container, realm = container_of(request), realm_of(request)
    try:
        xml = await read_body(request, XML_TYPES)
    except PayloadTooLarge as exc:
        raise InvalidClientMetadata(
            f"The entity descriptor is larger than {MAX_DESCRIPTOR} bytes"
        ) from exc
    caller = await caller_of(request, realm)
    rep = read_entity_descriptor(xml)
    created = await container.representations.create_read(realm, caller, rep, now())
    return JsonResponse(created, status_code=201, headers=NO_STORE)


REGISTRATIONS = "/realms/{realm}/clients-registrations"

ROUTES: list[BaseRoute] = [
    Route(REGISTRATIONS + "/default", create_client, methods=["POST"]),
    Route(
        # a SAML client's clientId is its entity id, often a URL: '/' belongs to it
        REGISTRATIONS + "/default/{client_id:path}",
        by_method(read_client, update_client, delete_client),
        methods=["GET", "PUT", "DELETE"],
    ),
    Route(REGISTRATIONS + "/saml2-entity-descriptor", create_saml_client, methods=["POST"]),
]
