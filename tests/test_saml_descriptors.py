"""Keycloak's SAML entity descriptor provider, …/clients-registrations/saml2-entity-descriptor:
SAML 2.0 metadata XML in, a `protocol: saml` client out; hostile XML refused with 400
(docs/reference.md, "SAML entity descriptors")."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.helpers import admin, assert_error, bearer, clients_path, initial_access_token
from tests.test_console import console, signed_in

pytestmark = pytest.mark.anyio

SHIBBOLETH_SP = (Path(__file__).parent / "data" / "shibboleth-sp-metadata.xml").read_bytes()
XML = {"content-type": "application/xml"}
MD = 'xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"'


def saml_path(realm: str = "open") -> str:
    return f"/realms/{realm}/clients-registrations/saml2-entity-descriptor"


async def post_xml(
    http: httpx.AsyncClient, xml: bytes, realm: str = "open", token: str | None = None
) -> httpx.Response:
    headers = {**XML, **(bearer(token) if token else {})}
    return await http.post(saml_path(realm), content=xml, headers=headers)


def descriptor(entity_id: str, acs: str = "https://sp.example.org/acs") -> bytes:
    return (
        f'<md:EntityDescriptor {MD} entityID="{entity_id}"><md:SPSSODescriptor '
        'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        '<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
        f'Location="{acs}" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>'
    ).encode()


async def test_a_shibboleth_sps_metadata_makes_a_saml_client(client: httpx.AsyncClient) -> None:
    response = await post_xml(client, SHIBBOLETH_SP, token=await initial_access_token(client))
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    shown = response.json()
    assert shown["protocol"] == "saml"
    assert shown["clientId"] == "https://sp.example.org/shibboleth"
    assert shown["redirectUris"] == [
        "https://sp.example.org/Shibboleth.sso/SAML2/POST",
        "https://sp.example.org/Shibboleth.sso/SAML2/POST-SimpleSign",
        "https://sp.example.org/Shibboleth.sso/SAML2/Artifact",
        "https://sp.example.org/Shibboleth.sso/SAML2/ECP",
    ]
    certificate = re.sub(
        r"\s+", "", SHIBBOLETH_SP.decode().split("<ds:X509Certificate>")[1].split("<")[0]
    )
    attributes = shown["attributes"]
    assert attributes["saml.signing.certificate"] == certificate
    assert attributes["saml.encryption.certificate"] == certificate
    assert attributes["saml_name_id_format"].endswith(":transient")
    assert shown["registrationAccessToken"].count(".") == 2
    assert shown["standardFlowEnabled"] is False  # no OAuth flow for a SAML client
    # the same client through the admin API and the representation provider
    auth = await admin(client)
    listed = await client.get(clients_path(), params={"clientId": shown["clientId"]}, headers=auth)
    assert [found["protocol"] for found in listed.json()] == ["saml"]
    rat = shown["registrationAccessToken"]
    path = f"/realms/open/clients-registrations/default/{quote(shown['clientId'], safe='')}"
    read = await client.get(path, headers=bearer(rat))
    assert read.status_code == 200, read.text
    assert read.json()["id"] == shown["id"]
    by_id = await client.get(f"{clients_path()}/{shown['id']}", headers=auth)
    assert by_id.json()["attributes"]["saml.signing.certificate"] == certificate


async def test_an_entity_id_of_the_realm_is_taken_once(client: httpx.AsyncClient) -> None:
    assert (await post_xml(client, descriptor("urn:example:sp"))).status_code == 201
    again = await post_xml(client, descriptor("urn:example:sp"))
    assert_error(again, 400, "invalid_client_metadata")


async def test_read_and_deleted_with_its_registration_access_token(
    client: httpx.AsyncClient,
) -> None:
    created = (await post_xml(client, descriptor("urn:example:lifecycle"))).json()
    path = "/realms/open/clients-registrations/default/urn:example:lifecycle"
    rat = bearer(created["registrationAccessToken"])
    read = await client.get(path, headers=rat)
    assert read.status_code == 200, read.text
    assert read.json()["protocol"] == "saml"
    assert (await client.delete(path, headers=rat)).status_code == 204


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&lol3;"/>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE md [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&xxe;"/>"""
EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE md SYSTEM "http://127.0.0.1:9/evil.dtd">
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="urn:x"/>"""


@pytest.mark.parametrize(
    "xml",
    [
        BILLION_LAUGHS,
        EXTERNAL_ENTITY,
        EXTERNAL_DTD,
        descriptor("urn:example:big", "https://sp.example.org/" + "a" * 70_000),  # over 64 KiB
        b"<not-xml",
        b'<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata"/>',
        f'<md:EntityDescriptor {MD} entityID="urn:x"/>'.encode(),  # no SPSSODescriptor
        f"<md:EntityDescriptor {MD}><md:SPSSODescriptor/></md:EntityDescriptor>".encode(),
        descriptor("urn:example:bad-acs", "javascript:alert(1)"),
    ],
    ids=[
        "billion-laughs",
        "external-entity",
        "external-dtd",
        "oversized",
        "not-well-formed",
        "not-an-entity-descriptor",
        "no-sp",
        "no-entity-id",
        "bad-acs",
    ],
)
async def test_hostile_or_wrong_xml_is_refused_with_400(
    client: httpx.AsyncClient, xml: bytes
) -> None:
    response = await post_xml(client, xml)
    assert response.status_code == 400, response.text
    assert response.json()["error"] in ("invalid_client_metadata", "invalid_redirect_uri")
    assert response.json()["error_description"]


async def test_only_xml_is_read(client: httpx.AsyncClient) -> None:
    response = await client.post(
        saml_path(), content=descriptor("urn:x"), headers={"content-type": "application/json"}
    )
    assert response.status_code == 415


async def test_policies_apply_here_too(client: httpx.AsyncClient) -> None:
    """Keycloak's default anonymous set refuses anonymous registration of a descriptor."""
    response = await post_xml(client, descriptor("urn:example:anon"), "locked")
    assert_error(response, 403, "insufficient_scope")
    assert response.json()["error_description"].startswith("Policy 'Trusted Hosts' rejected")


async def test_the_console_opens_edits_and_deletes_a_client_whose_id_is_a_url(
    client: httpx.AsyncClient,
) -> None:
    """An entity id is a URL, so its clientId holds "/": the console's pages still find it."""
    entity = "https://sp.example.org/shibboleth/console"
    created = await post_xml(client, descriptor(entity), token=await initial_access_token(client))
    assert created.status_code == 201, created.text
    csrf = await signed_in(client)
    page = f"{console()}/clients/{quote(entity)}"
    shown = await client.get(page)
    assert shown.status_code == 200, shown.text
    assert entity in shown.text
    disabled = await client.post(f"{page}/enabled", data={"csrf": csrf, "enabled": "false"})
    assert disabled.status_code == 303, disabled.text
    assert disabled.headers["location"].endswith(quote(entity) + "?notice=disabled")
    confirm = await client.get(f"{page}/delete")
    assert confirm.status_code == 200 and "Delete" in confirm.text
    deleted = await client.post(f"{page}/delete", data={"csrf": csrf, "confirm": "yes"})
    assert deleted.status_code == 303, deleted.text
    assert (await client.get(page)).status_code == 404
