"""RFC 7662 introspection by the client the token was issued to (a resource server checking its
own tokens): the same answers as from any other caller, though its client row is read once per
request (docs/reference.md §3)."""

from __future__ import annotations

import base64

import httpx
import pytest
from starlette.applications import Starlette

from app.store.queries import Store
from tests.helpers import JSON, bearer, payload_of, service_token

pytestmark = pytest.mark.anyio

TOKEN = "/realms/open/protocol/openid-connect/token"
INTROSPECT = TOKEN + "/introspect"
DCR = "/realms/open/clients-registrations/openid-connect"


def basic(registered: JSON) -> dict[str, str]:
    raw = f"{registered['client_id']}:{registered['client_secret']}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


async def registered_client(http: httpx.AsyncClient) -> JSON:
    body = {"grant_types": ["client_credentials"], "client_name": "resource server"}
    response = await http.post(DCR, json=body)
    assert response.status_code == 201, response.text
    registered: JSON = response.json()
    return registered


async def token_for(http: httpx.AsyncClient, registered: JSON) -> str:
    response = await http.post(
        TOKEN, data={"grant_type": "client_credentials"}, headers=basic(registered)
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def introspected_by(http: httpx.AsyncClient, caller: JSON, token: str) -> JSON:
    response = await http.post(INTROSPECT, data={"token": token}, headers=basic(caller))
    assert response.status_code == 200, response.text
    body: JSON = response.json()
    return body


async def test_own_token_is_active_with_its_claims(client: httpx.AsyncClient) -> None:
    registered = await registered_client(client)
    token = await token_for(client, registered)
    reply = await introspected_by(client, registered, token)
    assert reply["active"] is True
    assert reply["client_id"] == registered["client_id"]
    assert reply["sub"] == registered["client_id"]


async def test_own_token_issued_before_the_clients_cut_off_is_inactive(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    # the client stays enabled and authenticates; only its tokens_valid_after moved (as a
    # disable and re-enable in another process leave it)
    registered = await registered_client(client)
    token = await token_for(client, registered)
    assert (await introspected_by(client, registered, token))["active"] is True
    store: Store = app.state.container.store
    await store.db.write_one(
        "UPDATE client SET tokens_valid_after = ? WHERE client_id = ?",
        (payload_of(token)["iat"], registered["client_id"]),
    )
    assert await introspected_by(client, registered, token) == {"active": False}


async def test_own_old_token_stays_inactive_after_a_disable_and_re_enable(
    client: httpx.AsyncClient,
) -> None:
    registered = await registered_client(client)
    token = await token_for(client, registered)
    admin = bearer(await service_token(client))
    path = f"/admin/realms/open/clients/{registered['client_id']}"
    assert (await client.put(path, json={"enabled": False}, headers=admin)).status_code == 204
    # disabled, it cannot authenticate to introspect at all
    refused = await client.post(INTROSPECT, data={"token": token}, headers=basic(registered))
    assert refused.status_code == 401
    assert (await client.put(path, json={"enabled": True}, headers=admin)).status_code == 204
    assert await introspected_by(client, registered, token) == {"active": False}


async def test_another_clients_token_is_checked_against_that_client(
    client: httpx.AsyncClient,
) -> None:
    resource_server = await registered_client(client)
    other = await registered_client(client)
    token = await token_for(client, other)
    assert (await introspected_by(client, resource_server, token))["active"] is True
    admin = bearer(await service_token(client))
    path = f"/admin/realms/open/clients/{other['client_id']}"
    assert (await client.put(path, json={"enabled": False}, headers=admin)).status_code == 204
    assert await introspected_by(client, resource_server, token) == {"active": False}


async def test_own_revoked_token_is_inactive_with_one_read(
    client: httpx.AsyncClient, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the caller's row and its own token's revocation come in one query: no second lookup
    registered = await registered_client(client)
    token, other_token = await token_for(client, registered), await token_for(client, registered)
    store: Store = app.state.container.store
    await store.revoke_token("open", payload_of(token)["jti"], 2_000_000_000)

    async def second_lookup(realm: str, jti: str) -> bool:
        raise AssertionError("the revocation was looked up a second time")

    monkeypatch.setattr(store, "is_revoked", second_lookup)
    assert await introspected_by(client, registered, token) == {"active": False}
    assert (await introspected_by(client, registered, other_token))["active"] is True


async def test_a_token_naming_a_revoked_id_is_judged_by_its_own_signature(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    # the revocation is looked up by the id the token names before its signature is checked:
    # an unsigned token naming a live token's id is inactive, and that id stays live
    registered = await registered_client(client)
    token = await token_for(client, registered)
    header, payload, _ = token.split(".")
    assert (await introspected_by(client, registered, f"{header}.{payload}.AAAA")) == {
        "active": False
    }
    assert (await introspected_by(client, registered, token))["active"] is True
    store: Store = app.state.container.store
    await store.revoke_token("open", payload_of(token)["jti"], 2_000_000_000)
    assert await introspected_by(client, registered, token) == {"active": False}
