"""RFC 7592 client configuration through HTTP: read, replace and delete with a registration
access token, RAT rotation, and every way a token can fail to fit (docs/reference.md §3)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.helpers import (
    RP,
    access_token,
    admin_token,
    assert_error,
    assert_invalid_token,
    bearer,
    client_path,
    dcr_path,
    delete_client,
    error_of,
    get_client,
    initial_access_token,
    put_client,
    rat_of,
    register,
    updatable,
)

pytestmark = pytest.mark.anyio

READ_ONLY = (
    "registration_access_token",
    "registration_client_uri",
    "client_id_issued_at",
    "client_secret_expires_at",
)


# --- GET ----------------------------------------------------------------------------------


async def test_get_returns_the_registration_as_posted(client: httpx.AsyncClient) -> None:
    registered = await register(client, client_name="Reader", contacts=["a@rp.example.org"])
    response = await get_client(client, registered, rat_of(registered))
    assert response.status_code == 200, response.text
    assert response.json() == registered
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"


async def test_get_does_not_rotate_the_rat(client: httpx.AsyncClient) -> None:
    registered = await register(client)
    rat = rat_of(registered)
    for _ in range(2):
        response = await get_client(client, registered, rat)
        assert response.status_code == 200, response.text
        assert response.json()["registration_access_token"] == rat
    updated = await put_client(client, registered, rat, updatable(registered))
    assert updated.status_code == 200, updated.text


async def test_get_of_a_public_client_has_no_secret(client: httpx.AsyncClient) -> None:
    registered = await register(client, token_endpoint_auth_method="none")
    response = await get_client(client, registered, rat_of(registered))
    assert response.status_code == 200
    assert "client_secret" not in response.json()


async def test_manage_clients_bearer_reads_the_secret(client: httpx.AsyncClient) -> None:
    registered = await register(client)
    response = await get_client(client, registered, await admin_token(client))
    assert response.status_code == 200, response.text
    assert response.json()["client_secret"] == registered["client_secret"]
    assert "registration_access_token" not in response.json()


async def test_view_clients_bearer_sees_a_masked_secret(client: httpx.AsyncClient) -> None:
    registered = await register(client)
    viewer = (await access_token(client, client_id="viewer")).json()["access_token"]
    response = await get_client(client, registered, viewer)
    assert response.status_code == 200, response.text
    assert response.json()["client_secret"] == "**********"


async def test_admin_bearer_naming_an_unknown_client_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get(
        f"{dcr_path()}/{uuid.uuid4()}", headers=bearer(await admin_token(client))
    )
    assert_error(response, 404, "not_found")


# --- PUT ----------------------------------------------------------------------------------


async def test_put_replaces_the_metadata(client: httpx.AsyncClient) -> None:
    registered = await register(
        client, client_name="Old name", logo_uri="https://rp.example.org/logo.png"
    )
    body = updatable(registered)
    del body["logo_uri"]
    body["client_name"] = "New name"
    body["redirect_uris"] = ["https://rp.example.org/new"]
    response = await put_client(client, registered, rat_of(registered), body)
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["client_name"] == "New name"
    assert updated["redirect_uris"] == ["https://rp.example.org/new"]
    assert "logo_uri" not in updated  # RFC 7592 §2.2: omitted fields are treated as null
    assert updated["client_id"] == registered["client_id"]
    assert updated["client_secret"] == registered["client_secret"]
    assert updated["client_id_issued_at"] == registered["client_id_issued_at"]
    again = await get_client(client, registered, updated["registration_access_token"])
    assert again.json() == updated


async def test_put_applies_defaults_again(client: httpx.AsyncClient) -> None:
    registered = await register(client, scope="openid phone")
    body = {"client_id": registered["client_id"], "redirect_uris": [RP]}
    response = await put_client(client, registered, rat_of(registered), body)
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["scope"] == "openid profile email"
    assert updated["grant_types"] == ["authorization_code"]
    assert updated["token_endpoint_auth_method"] == "client_secret_basic"


async def test_put_response_is_not_cached(client: httpx.AsyncClient) -> None:
    registered = await register(client)
    response = await put_client(client, registered, rat_of(registered), updatable(registered))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"


# a fixed UUID: test ids must not change between runs
@pytest.mark.parametrize(
    "client_id", [None, "", "someone-else", "0190f7a2-5c3e-7d41-9b2a-6e8f1c4d3a57", 42]
)
async def test_put_without_the_clients_own_id_is_400(
    client: httpx.AsyncClient, client_id: object
) -> None:
    registered = await register(client)
    body = updatable(registered)
    if client_id is None:
        del body["client_id"]
    else:
        body["client_id"] = client_id
    response = await put_client(client, registered, rat_of(registered), body)
    assert response.status_code == 400
    assert error_of(response) == "invalid_client_metadata"


@pytest.mark.parametrize("member", READ_ONLY)
async def test_put_with_a_read_only_member_is_400(client: httpx.AsyncClient, member: str) -> None:
    registered = await register(client)
    body = {**updatable(registered), member: registered[member]}
    response = await put_client(client, registered, rat_of(registered), body)
    assert response.status_code == 400
    assert error_of(response) == "invalid_client_metadata"


async def test_refused_put_leaves_the_rat_valid(client: httpx.AsyncClient) -> None:
    registered = await register(client)
    body = {**updatable(registered), "redirect_uris": ["/relative"]}
    refused = await put_client(client, registered, rat_of(registered), body)
    assert refused.status_code == 400
    assert error_of(refused) == "invalid_redirect_uri"
    response = await get_client(client, registered, rat_of(registered))
    assert response.status_code == 200
    assert response.json()["redirect_uris"] == [RP]


@pytest.mark.parametrize("secret", ["wrong", "", 12345])
async def test_put_with_a_wrong_client_secret_is_400(
    client: httpx.AsyncClient, secret: object
) -> None:
    registered = await register(client)
    body = {**updatable(registered), "client_secret": secret}
    response = await put_client(client, registered, rat_of(registered), body)
    assert response.status_code == 400
    assert error_of(response) == "invalid_client_metadata"


async def test_put_with_the_issued_client_secret_is_accepted(client: httpx.AsyncClient) -> None:
    registered = await register(client)
    body = updatable(registered)
    assert body["client_secret"] == registered["client_secret"]
    response = await put_client(client, registered, rat_of(registered), body)
    assert response.status_code == 200, response.text
    assert response.json()["client_secret"] == registered["client_secret"]


async def test_put_with_a_client_secret_on_a_public_client_is_400(
    client: httpx.AsyncClient,
) -> None:
    registered = await register(client, token_endpoint_auth_method="none")
    body = {**updatable(registered), "client_secret": "anything"}
    response = await put_client(client, registered, rat_of(registered), body)
    assert response.status_code == 400
    assert error_of(response) == "invalid_client_metadata"


async def test_public_client_made_confidential_gets_a_secret(client: httpx.AsyncClient) -> None:
    registered = await register(client, token_endpoint_auth_method="none")
    body = {**updatable(registered), "token_endpoint_auth_method": "client_secret_post"}
    response = await put_client(client, registered, rat_of(registered), body)
    assert response.status_code == 200, response.text
    updated = response.json()
    assert len(updated["client_secret"]) >= 43
    assert updated["client_secret_expires_at"] == 0


async def test_confidential_client_made_public_loses_its_secret(
    client: httpx.AsyncClient,
) -> None:
    registered = await register(client)
    body = {**updatable(registered), "token_endpoint_auth_method": "none"}
    del body["client_secret"]
    response = await put_client(client, registered, rat_of(registered), body)
    assert response.status_code == 200, response.text
    assert "client_secret" not in response.json()


async def test_put_with_invalid_metadata_is_400(client: httpx.AsyncClient) -> None:
    registered = await register(client)
    body = {**updatable(registered), "jwks_uri": "https://rp.example.org/j", "jwks": {"keys": []}}
    response = await put_client(client, registered, rat_of(registered), body)
    assert response.status_code == 400
    assert error_of(response) == "invalid_client_metadata"


# --- RAT rotation -------------------------------------------------------------------------


async def test_put_rotates_the_rat(client: httpx.AsyncClient) -> None:
    registered = await register(client)
    response = await put_client(client, registered, rat_of(registered), updatable(registered))
    assert response.status_code == 200, response.text
    new_rat = rat_of(response.json())
    assert new_rat != rat_of(registered)
    assert (await get_client(client, registered, new_rat)).status_code == 200


async def test_used_rat_is_401_after_rotation(client: httpx.AsyncClient) -> None:
    registered = await register(client)
    old_rat = rat_of(registered)
    response = await put_client(client, registered, old_rat, updatable(registered))
    assert response.status_code == 200
    assert_invalid_token(await get_client(client, registered, old_rat))
    assert_invalid_token(await put_client(client, registered, old_rat, updatable(registered)))
    assert_invalid_token(await delete_client(client, registered, old_rat))


async def test_rotated_rat_works_for_the_next_put(client: httpx.AsyncClient) -> None:
    registered = await register(client)
    rat = rat_of(registered)
    for name in ("one", "two", "three"):
        body = {**updatable(registered), "client_name": name}
        response = await put_client(client, registered, rat, body)
        assert response.status_code == 200, response.text
        assert response.json()["client_name"] == name
        rat = rat_of(response.json())


async def test_rat_is_kept_on_a_realm_without_rotation(client: httpx.AsyncClient) -> None:
    registered = await register(client, realm="steady")
    rat = rat_of(registered)
    for name in ("one", "two"):
        body = {**updatable(registered), "client_name": name}
        response = await put_client(client, registered, rat, body)
        assert response.status_code == 200, response.text
        assert rat_of(response.json()) == rat
    response = await get_client(client, registered, rat)
    assert response.status_code == 200
    assert response.json()["client_name"] == "two"


async def test_admin_put_does_not_rotate_the_rat(client: httpx.AsyncClient) -> None:
    registered = await register(client)
    body = {**updatable(registered), "client_name": "by admin"}
    response = await put_client(client, registered, await admin_token(client), body)
    assert response.status_code == 200, response.text
    assert (await get_client(client, registered, rat_of(registered))).status_code == 200


# --- DELETE -------------------------------------------------------------------------------


async def test_delete_is_204_without_a_body(client: httpx.AsyncClient) -> None:
    registered = await register(client)
    response = await delete_client(client, registered, rat_of(registered))
    assert response.status_code == 204
    assert response.content == b""


async def test_rat_of_a_deleted_client_is_401(client: httpx.AsyncClient) -> None:
    registered = await register(client)
    assert (await delete_client(client, registered, rat_of(registered))).status_code == 204
    assert_invalid_token(await get_client(client, registered, rat_of(registered)))
    assert_invalid_token(await delete_client(client, registered, rat_of(registered)))


async def test_deleted_client_secret_stops_working_at_the_token_endpoint(
    client: httpx.AsyncClient,
) -> None:
    registered = await register(client, grant_types=["client_credentials"], redirect_uris=None)
    client_id, secret = registered["client_id"], registered["client_secret"]
    before = await access_token(client, client_id=client_id, secret=secret)
    assert before.status_code == 200, before.text
    assert before.json()["token_type"] == "Bearer"
    assert (await delete_client(client, registered, rat_of(registered))).status_code == 204
    after = await access_token(client, client_id=client_id, secret=secret)
    assert after.status_code == 401
    assert error_of(after) == "invalid_client"


async def test_admin_bearer_deletes_a_client(client: httpx.AsyncClient) -> None:
    registered = await register(client)
    response = await delete_client(client, registered, await admin_token(client))
    assert response.status_code == 204
    assert_invalid_token(await get_client(client, registered, rat_of(registered)))


# --- tokens that do not fit -----------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_rat_on_an_unknown_client_is_401_not_404(
    client: httpx.AsyncClient, method: str
) -> None:
    registered = await register(client)
    response = await client.request(
        method,
        f"{dcr_path()}/{uuid.uuid4()}",
        headers=bearer(rat_of(registered)),
        json=updatable(registered) if method == "PUT" else None,
    )
    assert_invalid_token(response)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_rat_of_another_client_is_401(client: httpx.AsyncClient, method: str) -> None:
    mine, theirs = await register(client), await register(client)
    response = await client.request(
        method,
        client_path(theirs),
        headers=bearer(rat_of(mine)),
        json=updatable(theirs) if method == "PUT" else None,
    )
    assert_invalid_token(response)
    assert (await get_client(client, theirs, rat_of(theirs))).status_code == 200


async def test_rat_of_another_realm_is_401(client: httpx.AsyncClient) -> None:
    elsewhere = await register(client, realm="steady")
    here = await register(client)
    # under the other realm's path for its own client id, and on a client of this realm
    moved = f"{dcr_path('open')}/{elsewhere['client_id']}"
    assert_invalid_token(await client.get(moved, headers=bearer(rat_of(elsewhere))))
    assert_invalid_token(await get_client(client, here, rat_of(elsewhere)))


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_initial_access_token_on_a_client_is_401(
    client: httpx.AsyncClient, method: str
) -> None:
    registered = await register(client)
    iat = await initial_access_token(client)
    response = await client.request(
        method,
        client_path(registered),
        headers=bearer(iat),
        json=updatable(registered) if method == "PUT" else None,
    )
    assert_invalid_token(response)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_no_token_on_a_client_is_401(client: httpx.AsyncClient, method: str) -> None:
    registered = await register(client)
    response = await client.request(
        method, client_path(registered), json=updatable(registered) if method == "PUT" else None
    )
    assert response.status_code == 401
    assert error_of(response) == "invalid_token"
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_garbage_token_on_a_client_is_401(client: httpx.AsyncClient) -> None:
    registered = await register(client)
    assert_invalid_token(await get_client(client, registered, "not-a-token"))


async def test_rat_of_a_disabled_client_is_401(client: httpx.AsyncClient) -> None:
    registered = await register(client)
    disabled = await client.put(
        f"/admin/realms/open/clients/{registered['client_id']}",
        json={"enabled": False},
        headers=bearer(await admin_token(client)),
    )
    assert disabled.status_code == 204, disabled.text
    assert_invalid_token(await get_client(client, registered, rat_of(registered)))


@pytest.mark.parametrize("account", ["viewer", "creator", "nobody"])
async def test_bearer_without_manage_clients_cannot_change_a_client(
    client: httpx.AsyncClient, account: str
) -> None:
    registered = await register(client)
    token = (await access_token(client, client_id=account)).json()["access_token"]
    response = await put_client(client, registered, token, updatable(registered))
    assert response.status_code == 403
    assert error_of(response) == "insufficient_scope"
    response = await delete_client(client, registered, token)
    assert response.status_code == 403
    assert error_of(response) == "insufficient_scope"
