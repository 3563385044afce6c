"""Keycloak's representation provider, …/clients-registrations/default[/{clientId}]: a
ClientRepresentation in and out, on the same clients, policies and tokens as the OpenID Connect
provider and the admin API (docs/reference.md, "Keycloak's representation")."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import (
    JSON,
    RP,
    admin,
    assert_error,
    assert_invalid_token,
    bearer,
    clients_path,
    dcr_path,
    initial_access_token,
    register,
)

pytestmark = pytest.mark.anyio


def default_path(realm: str = "open", client_id: str = "") -> str:
    path = f"/realms/{realm}/clients-registrations/default"
    return f"{path}/{client_id}" if client_id else path


async def create(
    http: httpx.AsyncClient, body: JSON, realm: str = "open", token: str | None = None
) -> httpx.Response:
    return await http.post(default_path(realm), json=body, headers=bearer(token) if token else {})


async def created(http: httpx.AsyncClient, body: JSON, token: str | None = None) -> JSON:
    response = await create(http, body, token=token)
    assert response.status_code == 201, response.text
    shown: JSON = response.json()
    return shown


async def test_the_seed_example_a_chosen_client_id_with_an_initial_access_token(
    client: httpx.AsyncClient,
) -> None:
    token = await initial_access_token(client)
    response = await create(client, {"clientId": "myclient"}, token=token)
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    shown = response.json()
    assert shown["clientId"] == "myclient"
    assert shown["id"] != "myclient" and len(shown["id"]) == 36  # a server-made UUID
    assert shown["secret"] and shown["registrationAccessToken"].count(".") == 2
    assert shown["protocol"] == "openid-connect"
    assert shown["publicClient"] is False and shown["enabled"] is True
    assert shown["registrationAuth"] == "authenticated"
    assert response.headers["location"].endswith("/clients-registrations/default/myclient")
    # the token was spent: a second registration with it is refused
    again = await create(client, {"clientId": "other"}, token=token)
    assert_invalid_token(again)


async def test_without_a_client_id_the_server_makes_one_equal_to_the_id(
    client: httpx.AsyncClient,
) -> None:
    shown = await created(client, {"name": "made", "redirectUris": [RP]})
    assert shown["clientId"] == shown["id"]
    assert shown["name"] == "made" and shown["redirectUris"] == [RP]
    assert shown["standardFlowEnabled"] is True
    assert shown["registrationAuth"] == "anonymous"


async def test_a_client_id_is_unique_in_its_realm_only(client: httpx.AsyncClient) -> None:
    await created(client, {"clientId": "twice"})
    again = await create(client, {"clientId": "twice"})
    assert_error(again, 400, "invalid_client_metadata")
    assert again.json()["error_description"] == "Client Identifier in use"
    elsewhere = await create(
        client, {"clientId": "twice"}, "capped", await initial_access_token(client, "capped")
    )
    assert elsewhere.status_code == 201, elsewhere.text


async def test_a_refused_registration_does_not_use_up_the_initial_access_token(
    client: httpx.AsyncClient,
) -> None:
    await created(client, {"clientId": "taken"})
    token = await initial_access_token(client)
    assert (await create(client, {"clientId": "taken"}, token=token)).status_code == 400
    assert (await create(client, {"clientId": "free"}, token=token)).status_code == 201


async def test_members_map_to_client_metadata_and_back(client: httpx.AsyncClient) -> None:
    rep: JSON = {
        "clientId": "mapped",
        "name": "Mapped",
        "description": "kept beside the metadata",
        "rootUrl": "https://rp.example.org",
        "baseUrl": "https://rp.example.org/home",
        "redirectUris": [RP],
        "webOrigins": ["https://rp.example.org"],
        "standardFlowEnabled": True,
        "serviceAccountsEnabled": True,
        "directAccessGrantsEnabled": True,
        "attributes": {"logoUri": "https://rp.example.org/logo.png", "use.refresh.tokens": "true"},
        "defaultClientScopes": ["openid", "email"],
        "optionalClientScopes": ["phone"],
    }
    shown = await created(client, rep)
    for name in ("clientId", "name", "description", "rootUrl", "baseUrl", "redirectUris"):
        assert shown[name] == rep[name], name
    assert shown["webOrigins"] == rep["webOrigins"]
    assert shown["serviceAccountsEnabled"] is True and shown["directAccessGrantsEnabled"] is True
    assert shown["implicitFlowEnabled"] is False
    assert shown["attributes"]["logoUri"] == "https://rp.example.org/logo.png"
    assert shown["defaultClientScopes"] == ["openid", "email"]
    assert shown["optionalClientScopes"] == ["phone"]
    # the OpenID Connect face of the same client, with the same RAT
    oidc = await client.get(
        f"{dcr_path()}/mapped", headers=bearer(shown["registrationAccessToken"])
    )
    assert oidc.status_code == 200, oidc.text
    metadata = oidc.json()
    assert metadata["client_id"] == "mapped"
    assert metadata["client_name"] == "Mapped"
    assert metadata["client_uri"] == "https://rp.example.org/home"
    assert metadata["logo_uri"] == "https://rp.example.org/logo.png"
    assert metadata["client_secret"] == shown["secret"]
    assert metadata["scope"] == "openid email phone"
    assert sorted(metadata["grant_types"]) == sorted(
        ["authorization_code", "client_credentials", "password", "refresh_token"]
    )
    assert "keycloak_representation" not in metadata and "description" not in metadata


async def test_a_public_client_has_no_secret(client: httpx.AsyncClient) -> None:
    shown = await created(client, {"publicClient": True, "redirectUris": [RP]})
    assert shown["publicClient"] is True and "secret" not in shown


async def test_get_put_delete_with_the_registration_access_token(
    client: httpx.AsyncClient,
) -> None:
    shown = await created(client, {"clientId": "lifecycle", "redirectUris": [RP]})
    path, rat = default_path(client_id="lifecycle"), shown["registrationAccessToken"]
    read = await client.get(path, headers=bearer(rat))
    assert read.status_code == 200, read.text
    assert read.json()["registrationAccessToken"] == rat  # a GET does not rotate
    assert read.json()["secret"] == shown["secret"]
    # a PUT merges the members sent over the stored ones, and rotates the RAT
    updated = await client.put(path, json={"name": "renamed"}, headers=bearer(rat))
    assert updated.status_code == 200, updated.text
    assert updated.json()["name"] == "renamed"
    assert updated.json()["redirectUris"] == [RP]
    new_rat = updated.json()["registrationAccessToken"]
    assert new_rat != rat
    assert_invalid_token(await client.get(path, headers=bearer(rat)))
    deleted = await client.delete(path, headers=bearer(new_rat))
    assert deleted.status_code == 204 and deleted.content == b""
    assert_invalid_token(await client.get(path, headers=bearer(new_rat)))


async def test_put_may_not_change_the_client_id_or_the_secret(client: httpx.AsyncClient) -> None:
    shown = await created(client, {"clientId": "fixed"})
    path, rat = default_path(client_id="fixed"), shown["registrationAccessToken"]
    renamed = await client.put(path, json={"clientId": "other"}, headers=bearer(rat))
    assert_error(renamed, 400, "invalid_client_metadata")
    wrong = await client.put(path, json={"secret": "not-the-secret"}, headers=bearer(rat))
    assert_error(wrong, 400, "invalid_client_metadata")


async def test_bad_members_are_refused_with_400(client: httpx.AsyncClient) -> None:
    cases: list[Any] = [
        {"clientId": ""},
        {"clientId": 5},
        {"clientId": "x" * 256},
        {"publicClient": "yes"},
        {"redirectUris": "https://rp.example.org/cb"},
        {"attributes": ["a"]},
        {"protocol": "ws-fed"},
        {"standardFlowEnabled": True},  # the code flow needs a redirect URI
    ]
    for body in cases:
        response = await create(client, body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error"] in ("invalid_client_metadata", "invalid_redirect_uri")
    assert_error(
        await client.post(default_path(), content=b"[]", headers=JSON_TYPE), 400, "invalid_request"
    )


JSON_TYPE = {"content-type": "application/json"}


async def test_a_client_made_by_the_oidc_provider_is_read_here(client: httpx.AsyncClient) -> None:
    registered = await register(client, client_name="from oidc")
    path = default_path(client_id=registered["client_id"])
    read = await client.get(path, headers=bearer(registered["registration_access_token"]))
    assert read.status_code == 200, read.text
    shown = read.json()
    assert shown["id"] == shown["clientId"] == registered["client_id"]
    assert shown["name"] == "from oidc" and shown["secret"] == registered["client_secret"]


async def test_the_admin_api_names_a_chosen_client_by_its_id(client: httpx.AsyncClient) -> None:
    shown = await created(client, {"clientId": "admin-face", "redirectUris": [RP]})
    auth = await admin(client)
    listed = await client.get(clients_path(), params={"clientId": "admin-face"}, headers=auth)
    assert [found["id"] for found in listed.json()] == [shown["id"]]
    by_id = await client.get(f"{clients_path()}/{shown['id']}", headers=auth)
    assert by_id.status_code == 200 and by_id.json()["clientId"] == "admin-face"
    by_client_id = await client.get(f"{clients_path()}/admin-face", headers=auth)
    assert_error(by_client_id, 404, "not_found")
    changed = await client.put(
        f"{clients_path()}/{shown['id']}", json={"description": "by an admin"}, headers=auth
    )
    assert changed.status_code == 204, changed.text
    read = await client.get(default_path(client_id="admin-face"), headers=auth)
    assert read.json()["description"] == "by an admin"
    assert (await client.delete(f"{clients_path()}/{shown['id']}", headers=auth)).status_code == 204
    gone = await client.get(default_path(client_id="admin-face"), headers=auth)
    assert_error(gone, 404, "not_found")


async def test_policies_apply_here_too(client: httpx.AsyncClient) -> None:
    """Keycloak's default anonymous set (trusted-hosts with no hosts) refuses anonymous
    registration through this provider as through the OpenID Connect one."""
    response = await create(client, {"clientId": "anon"}, "locked")
    assert_error(response, 403, "insufficient_scope")
    assert response.json()["error_description"].startswith("Policy 'Trusted Hosts' rejected")


async def test_a_bearer_needs_a_role_to_register(client: httpx.AsyncClient) -> None:
    nobody = await admin(client, name="nobody")
    response = await client.post(default_path(), json={"clientId": "x"}, headers=nobody)
    assert_error(response, 403, "insufficient_scope")
    creator = await admin(client, name="creator")
    response = await client.post(default_path(), json={"clientId": "y"}, headers=creator)
    assert response.status_code == 201, response.text


async def test_an_admin_creates_a_client_with_a_representation(client: httpx.AsyncClient) -> None:
    auth = await admin(client)
    body = {"clientId": "by-admin", "redirectUris": [RP], "serviceAccountsEnabled": True}
    response = await client.post(clients_path(), json=body, headers=auth)
    assert response.status_code == 201, response.text
    assert response.content == b""
    key = response.headers["location"].rsplit("/", 1)[1]
    assert response.headers["location"] == f"http://testserver{clients_path()}/{key}"
    shown = (await client.get(f"{clients_path()}/{key}", headers=auth)).json()
    assert shown["clientId"] == "by-admin" and shown["serviceAccountsEnabled"] is True
    secret = await client.get(f"{clients_path()}/{key}/client-secret", headers=auth)
    assert secret.status_code == 200, secret.text
    assert secret.json()["type"] == "secret" and len(secret.json()["value"]) > 20
    viewer = await admin(client, name="viewer")
    masked = await client.get(f"{clients_path()}/{key}/client-secret", headers=viewer)
    assert masked.json()["value"] == "**********"
    refused = await client.post(clients_path(), json={"clientId": "x"}, headers=viewer)
    assert_error(refused, 403, "insufficient_scope")
    taken = await client.post(clients_path(), json=body, headers=auth)
    assert_error(taken, 400, "invalid_client_metadata")


async def test_trusted_hosts_checks_the_representations_own_urls(
    client: httpx.AsyncClient,
) -> None:
    """Keycloak's trusted-hosts policy checks rootUrl and adminUrl too, which have no metadata
    member: they are checked where the representation keeps them."""
    for member in ("rootUrl", "adminUrl", "baseUrl"):
        body = {member: "https://evil.example.com/", "redirectUris": ["https://a.example.org/cb"]}
        refused = await create(client, body, "policy_hosts")
        assert_error(refused, 403, "insufficient_scope")
        assert "evil.example.com" in refused.json()["error_description"], member
    fine = {"rootUrl": "https://a.example.org/", "redirectUris": ["https://a.example.org/cb"]}
    assert (await create(client, fine, "policy_hosts")).status_code == 201
