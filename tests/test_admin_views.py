"""Admin views of registered clients (docs/reference.md §3): Keycloak's ClientRepresentation,
paging by `first` and `max`, and enabling or disabling a client with PUT {"enabled": bool}."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from tests.helpers import (
    JSON,
    RP,
    admin,
    assert_error,
    bearer,
    clients_path,
    dcr_path,
    error_of,
    register,
)

pytestmark = pytest.mark.anyio

REPRESENTATION = {
    "clientId",
    "name",
    "enabled",
    "publicClient",
    "consentRequired",
    "fullScopeAllowed",
    "redirectUris",
    "registrationAuth",
    "createdTimestamp",
}


async def read_with_rat(http: httpx.AsyncClient, registered: JSON, realm: str = "open") -> int:
    response = await http.get(
        f"{dcr_path(realm)}/{registered['client_id']}",
        headers=bearer(registered["registration_access_token"]),
    )
    if response.status_code == 401:
        assert error_of(response, strict=False) == "invalid_token"
    return response.status_code


async def set_enabled(
    http: httpx.AsyncClient, client_id: str, body: Any, realm: str = "open"
) -> httpx.Response:
    headers = {**await admin(http, realm), "Content-Type": "application/json"}
    # the body goes out as JSON whatever it is, `null` included
    return await http.put(
        f"{clients_path(realm)}/{client_id}", content=json.dumps(body), headers=headers
    )


# --- the representation ----------------------------------------------------------------------


async def test_single_client_is_keycloak_shaped(client: httpx.AsyncClient) -> None:
    registered = await register(
        client, client_name="Shop", redirect_uris=[RP, "https://rp.example.org/other"]
    )
    response = await client.get(
        f"{clients_path()}/{registered['client_id']}", headers=await admin(client)
    )
    assert response.status_code == 200, response.text
    shown = response.json()
    assert REPRESENTATION <= set(shown)
    assert shown["clientId"] == registered["client_id"]
    assert shown["name"] == "Shop"
    assert shown["enabled"] is True
    assert shown["publicClient"] is False
    assert shown["consentRequired"] is False
    assert shown["fullScopeAllowed"] is True
    assert shown["redirectUris"] == [RP, "https://rp.example.org/other"]
    assert shown["registrationAuth"] == "anonymous"
    # Keycloak's timestamps in the admin API are epoch milliseconds
    assert shown["createdTimestamp"] == registered["client_id_issued_at"] * 1000
    assert abs(shown["createdTimestamp"] / 1000 - time.time()) < 60
    # the admin view carries neither secret nor token
    assert registered["client_secret"] not in response.text
    assert registered["registration_access_token"] not in response.text


async def test_public_client_and_policy_flags_are_shown(client: httpx.AsyncClient) -> None:
    registered = await register(client, "strict", token_endpoint_auth_method="none")
    response = await client.get(
        f"{clients_path('strict')}/{registered['client_id']}", headers=await admin(client, "strict")
    )
    shown = response.json()
    assert shown["publicClient"] is True
    assert shown["consentRequired"] is True  # consent-required policy
    assert shown["fullScopeAllowed"] is False  # scope policy: "Full Scope Disabled"


async def test_view_only_bearer_sees_the_views(client: httpx.AsyncClient) -> None:
    registered = await register(client)
    viewer = await admin(client, name="viewer")
    assert (await client.get(clients_path(), headers=viewer)).status_code == 200
    one = await client.get(f"{clients_path()}/{registered['client_id']}", headers=viewer)
    assert one.status_code == 200


async def test_unknown_client_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{clients_path()}/no-such-client", headers=await admin(client))
    assert_error(response, 404, "not_found")


async def test_client_of_another_realm_is_404(client: httpx.AsyncClient) -> None:
    registered = await register(client, "steady")
    response = await client.get(
        f"{clients_path()}/{registered['client_id']}", headers=await admin(client)
    )
    assert_error(response, 404, "not_found")
    disabled = await set_enabled(client, registered["client_id"], {"enabled": False})
    assert_error(disabled, 404, "not_found")
    assert await read_with_rat(client, registered, "steady") == 200


# --- the list and its paging ---------------------------------------------------------------------


async def test_list_pages_by_first_and_max(client: httpx.AsyncClient) -> None:
    made = [(await register(client, client_name=f"c{n}"))["client_id"] for n in range(5)]
    headers = await admin(client)
    everything = await client.get(clients_path(), headers=headers)
    assert everything.status_code == 200
    ids = [row["clientId"] for row in everything.json()]
    assert sorted(ids) == sorted(made)
    for row in everything.json():
        assert REPRESENTATION <= set(row)
    pages = []
    for first in (0, 2, 4, 6):
        page = await client.get(clients_path(), params={"first": first, "max": 2}, headers=headers)
        assert page.status_code == 200, page.text
        pages.append([row["clientId"] for row in page.json()])
    assert [len(p) for p in pages] == [2, 2, 1, 0]
    assert [client_id for p in pages for client_id in p] == ids  # stable order, no overlap
    only_max = await client.get(clients_path(), params={"max": 3}, headers=headers)
    assert [row["clientId"] for row in only_max.json()] == ids[:3]
    only_first = await client.get(clients_path(), params={"first": 3}, headers=headers)
    assert [row["clientId"] for row in only_first.json()] == ids[3:]


async def test_list_is_per_realm(client: httpx.AsyncClient) -> None:
    await register(client, "steady")
    response = await client.get(clients_path(), headers=await admin(client))
    assert response.json() == []


@pytest.mark.parametrize(
    "params",
    [
        {"first": "-1"},
        {"max": "-1"},
        {"first": "abc"},
        {"max": "1.5"},
        {"first": "1e3"},
        {"max": "²"},
        {"first": "١"},
        {"max": "9" * 12},
        {"first": " 1"},
        {"max": "0x10"},
    ],
)
async def test_bad_paging_params_are_400(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    response = await client.get(clients_path(), params=params, headers=await admin(client))
    assert response.status_code == 400, response.text
    assert error_of(response, strict=False) == "invalid_request"


async def test_paging_is_checked_after_the_caller(client: httpx.AsyncClient) -> None:
    response = await client.get(clients_path(), params={"first": "-1"})
    assert_error(response, 401, "invalid_token")


# --- enabling and disabling ---------------------------------------------------------------------


async def test_disabled_client_rat_is_401_until_enabled_again(client: httpx.AsyncClient) -> None:
    registered = await register(client)
    assert await read_with_rat(client, registered) == 200
    disabled = await set_enabled(client, registered["client_id"], {"enabled": False})
    assert disabled.status_code == 204, disabled.text
    assert disabled.content == b""
    assert await read_with_rat(client, registered) == 401
    shown = await client.get(
        f"{clients_path()}/{registered['client_id']}", headers=await admin(client)
    )
    assert shown.json()["enabled"] is False
    listed = await client.get(clients_path(), headers=await admin(client))
    assert [row["enabled"] for row in listed.json()] == [False]
    enabled = await set_enabled(client, registered["client_id"], {"enabled": True})
    assert enabled.status_code == 204
    assert await read_with_rat(client, registered) == 200


async def test_disabling_twice_is_fine(client: httpx.AsyncClient) -> None:
    registered = await register(client)
    for _ in range(2):
        response = await set_enabled(client, registered["client_id"], {"enabled": False})
        assert response.status_code == 204


async def test_admin_approves_a_client_held_by_client_disabled(client: httpx.AsyncClient) -> None:
    registered = await register(client, "held", grant_types=["client_credentials"])
    shown = await client.get(
        f"{clients_path('held')}/{registered['client_id']}", headers=await admin(client, "held")
    )
    assert shown.json()["enabled"] is False
    assert await read_with_rat(client, registered, "held") == 401
    token_request = {"grant_type": "client_credentials"}
    credentials = (registered["client_id"], registered["client_secret"])
    held = await client.post(
        "/realms/held/protocol/openid-connect/token", data=token_request, auth=credentials
    )
    assert_error(held, 401, "invalid_client")
    approved = await set_enabled(client, registered["client_id"], {"enabled": True}, "held")
    assert approved.status_code == 204
    assert await read_with_rat(client, registered, "held") == 200
    issued = await client.post(
        "/realms/held/protocol/openid-connect/token", data=token_request, auth=credentials
    )
    assert issued.status_code == 200, issued.text


async def test_members_sent_back_unchanged_are_ignored(client: httpx.AsyncClient) -> None:
    registered = await register(client)
    body = {"enabled": False, "clientId": registered["client_id"], "protocol": "openid-connect"}
    assert (await set_enabled(client, registered["client_id"], body)).status_code == 204
    assert await read_with_rat(client, registered) == 401
    # nothing to change is no error either (Keycloak's PUT of a representation as it is)
    assert (await set_enabled(client, registered["client_id"], {})).status_code == 204


@pytest.mark.parametrize(
    "body",
    [{"enabled": "false"}, {"enabled": None}, {"enabled": 0}, {"enabled": 1}, [], "x", None],
    ids=repr,
)
async def test_bad_body_is_400(client: httpx.AsyncClient, body: Any) -> None:
    registered = await register(client)
    response = await set_enabled(client, registered["client_id"], body)
    assert response.status_code == 400, response.text
    assert error_of(response, strict=False) == "invalid_request"
    assert await read_with_rat(client, registered) == 200


async def test_body_that_is_not_json_is_400_and_wrong_type_415(client: httpx.AsyncClient) -> None:
    registered = await register(client)
    path = f"{clients_path()}/{registered['client_id']}"
    headers = await admin(client)
    broken = await client.put(
        path, content=b'{"enabled": fal', headers={**headers, "Content-Type": "application/json"}
    )
    assert_error(broken, 400, "invalid_request")
    as_form = await client.put(path, data={"enabled": "false"}, headers=headers)
    assert_error(as_form, 415, "invalid_request")


async def test_put_of_unknown_client_is_404(client: httpx.AsyncClient) -> None:
    response = await set_enabled(client, "no-such-client", {"enabled": False})
    assert_error(response, 404, "not_found")


@pytest.mark.parametrize("name", ["viewer", "creator", "nobody"])
async def test_put_needs_manage_clients(client: httpx.AsyncClient, name: str) -> None:
    registered = await register(client)
    response = await client.put(
        f"{clients_path()}/{registered['client_id']}",
        json={"enabled": False},
        headers=await admin(client, name=name),
    )
    assert response.status_code == 403
    assert error_of(response, strict=False) == "insufficient_scope"
    assert await read_with_rat(client, registered) == 200


async def test_post_on_admin_client_views_is_405(client: httpx.AsyncClient) -> None:
    registered = await register(client)
    headers = await admin(client)
    path = f"{clients_path()}/{registered['client_id']}"
    assert_error(await client.post(path, json={}, headers=headers), 405, "invalid_request")
    # POST on the list creates a client (Keycloak's admin API): PATCH is no method of it
    assert_error(
        await client.patch(clients_path(), json={}, headers=headers), 405, "invalid_request"
    )
