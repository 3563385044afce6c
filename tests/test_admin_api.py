"""The admin API as Keycloak's libraries call it: the client list's `clientId` and `search`
and its trailing slash, DELETE of a client by an admin, and PUT of a ClientRepresentation
that applies what can change here and refuses any other change."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import admin, bearer, client_path, clients_path, rat_of, register

pytestmark = pytest.mark.anyio


async def test_client_id_finds_one_client_and_search_finds_by_part(
    client: httpx.AsyncClient,
) -> None:
    first, second = await register(client), await register(client)
    auth = await admin(client)
    exact = await client.get(clients_path(), params={"clientId": first["client_id"]}, headers=auth)
    assert [c["clientId"] for c in exact.json()] == [first["client_id"]]
    part = second["client_id"][-12:].upper()  # case-insensitive, as Keycloak's search
    found = await client.get(
        clients_path(), params={"clientId": part, "search": "true"}, headers=auth
    )
    assert [c["clientId"] for c in found.json()] == [second["client_id"]]
    none = await client.get(clients_path(), params={"clientId": part}, headers=auth)
    assert none.json() == []  # without search, clientId is the whole id
    wild = await client.get(
        clients_path(), params={"clientId": "%", "search": "true"}, headers=auth
    )
    assert wild.json() == []  # LIKE's wildcards are plain text here
    bad = await client.get(clients_path(), params={"search": "maybe"}, headers=auth)
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_request"


async def test_the_list_answers_with_a_trailing_slash(client: httpx.AsyncClient) -> None:
    registered = await register(client)
    listed = await client.get(clients_path() + "/", headers=await admin(client))
    assert listed.status_code == 200
    assert registered["client_id"] in [c["clientId"] for c in listed.json()]


async def test_an_admin_deletes_a_client(client: httpx.AsyncClient) -> None:
    registered = await register(client)
    path = f"{clients_path()}/{registered['client_id']}"
    viewer = await client.delete(path, headers=await admin(client, name="viewer"))
    assert viewer.status_code == 403
    assert viewer.json()["error"] == "insufficient_scope"
    assert (await client.delete(path, headers=await admin(client))).status_code == 204
    gone = await client.get(path, headers=await admin(client))
    assert gone.status_code == 404
    assert gone.json()["error"] == "not_found"
    rat = await client.get(client_path(registered), headers=bearer(rat_of(registered)))
    assert rat.status_code == 401
    again = await client.delete(path, headers=await admin(client))
    assert again.status_code == 404


async def test_put_applies_what_can_change_and_ignores_what_came_back_unchanged(
    client: httpx.AsyncClient,
) -> None:
    registered = await register(client, client_name="before")
    auth = await admin(client)
    path = f"{clients_path()}/{registered['client_id']}"
    shown = (await client.get(path, headers=auth)).json()
    changed = {
        **shown,
        "name": "after",
        "redirectUris": ["https://rp.example.org/other"],
        "enabled": False,
    }
    assert (await client.put(path, json=changed, headers=auth)).status_code == 204
    now = (await client.get(path, headers=auth)).json()
    assert (now["name"], now["redirectUris"], now["enabled"]) == (
        "after",
        ["https://rp.example.org/other"],
        False,
    )
    assert (await client.put(path, json={"enabled": True}, headers=auth)).status_code == 204
    assert (await client.get(path, headers=auth)).json()["enabled"] is True


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        ({"clientId": "chosen"}, 400, "invalid_request"),
        ({"notBefore": 5}, 400, "invalid_request"),
        ({"protocolMappers": [{"name": "m"}]}, 400, "invalid_request"),
        ({"redirectUris": ["https://rp.example.org/cb#fragment"]}, 400, "invalid_redirect_uri"),
        ({"enabled": "yes"}, 400, "invalid_request"),
    ],
)
async def test_put_refuses_what_cannot_change_here(
    client: httpx.AsyncClient, change: dict[str, object], status: int, error: str
) -> None:
    registered = await register(client, client_name="kept")
    auth = await admin(client)
    path = f"{clients_path()}/{registered['client_id']}"
    response = await client.put(path, json={"name": "changed", **change}, headers=auth)
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert (await client.get(path, headers=auth)).json()["name"] == "kept"  # nothing changed


async def test_without_max_the_list_is_every_client_in_creation_order(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keycloak answers every client when `max` is absent; registrar reads them a page at a
    time (here pages of 3, so the walk from page to page is what is tested)."""
    registered = {(await register(client))["client_id"] for _ in range(8)}
    auth = await admin(client)
    one_page = await client.get(clients_path(), params={"max": 100}, headers=auth)
    ids = [c["clientId"] for c in one_page.json()]  # creation order: created_at, then id
    assert set(ids) == registered
    monkeypatch.setattr("app.services.admin.MAX_PAGE", 3)
    listed = await client.get(clients_path(), headers=auth)
    assert listed.status_code == 200
    assert listed.headers["content-type"] == "application/json"
    assert listed.headers["x-content-type-options"] == "nosniff"
    assert [c["clientId"] for c in listed.json()] == ids
    skipped = await client.get(clients_path(), params={"first": 5}, headers=auth)
    assert [c["clientId"] for c in skipped.json()] == ids[5:]
    paged = await client.get(clients_path(), params={"max": 2}, headers=auth)  # max as asked
    assert [c["clientId"] for c in paged.json()] == ids[:2]
    nothing = await client.get(clients_path(), params={"clientId": "none"}, headers=auth)
    assert nothing.json() == []


async def test_collection_paths_accept_a_trailing_slash(client: httpx.AsyncClient) -> None:
    auth = await admin(client)
    path = "/admin/realms/open/clients-initial-access/"
    created = await client.post(path, json={"count": 1}, headers=auth)
    assert created.status_code in (200, 201), created.text
    listed = await client.get(path, headers=auth)
    assert created.json()["id"] in [row["id"] for row in listed.json()]
