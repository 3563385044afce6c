"""Deduplicated registration (a realm's `deduplicate`, docs/reference.md): the same anonymous
public-client metadata from the same address within the window gets the same client and a new
registration access token, the old one refused; anything else registers a new client. The race
of identical registrations runs against real servers on SQLite and PostgreSQL."""

from __future__ import annotations

import concurrent.futures
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from tests.helpers import (
    JSON,
    RP,
    admin,
    assert_invalid_token,
    bearer,
    clients_path,
    dcr_path,
    delete_client,
    get_client,
    iat_path,
    put_client,
    rat_of,
    updatable,
)
from tests.inprocess import TRUSTED, asgi_client, make_settings, started
from tests.live import running_server

ADMIN = {"client_id": "admin", "secret": "admin-secret", "roles": ["manage-clients"]}
PUBLIC = {"redirect_uris": [RP], "token_endpoint_auth_method": "none", "client_name": "MCP tool"}
WINDOW = 600


def realm_file(deduplicate: object = None) -> str:
    """A realm file (JSON is YAML) without registration policies."""
    realm: JSON = {
        "registration": {"anonymous": [], "authenticated": []},
        "service_accounts": [ADMIN],
    }
    if deduplicate is not None:
        realm["deduplicate"] = deduplicate
    return json.dumps(realm)


@pytest.fixture
async def app(tmp_path: Path, realms_dir: Path, sqlite_url: str) -> AsyncIterator[Starlette]:
    (realms_dir / "again.yaml").write_text(realm_file({"window": "10m"}))
    (realms_dir / "always.yaml").write_text(realm_file(True))
    (realms_dir / "never.yaml").write_text(realm_file())
    async with started(make_settings(tmp_path, realms_dir, sqlite_url)) as application:
        yield application


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app, TRUSTED) as http:
        yield http


async def post(http: httpx.AsyncClient, body: JSON, realm: str = "again") -> JSON:
    response = await http.post(dcr_path(realm), json=body)
    assert response.status_code == 201, response.text
    registered: JSON = response.json()
    return registered


@pytest.mark.anyio
@pytest.mark.parametrize("realm", ["again", "always"])
async def test_the_same_registration_gets_the_same_client(
    client: httpx.AsyncClient, realm: str
) -> None:
    first = await post(client, PUBLIC, realm)
    second = await post(client, dict(reversed(PUBLIC.items())), realm)  # member order: no matter
    assert second["client_id"] == first["client_id"]
    assert second["client_id_issued_at"] == first["client_id_issued_at"]
    assert second["client_name"] == "MCP tool"
    assert rat_of(second) != rat_of(first)
    assert_invalid_token(await get_client(client, first, rat_of(first)))
    read = await get_client(client, second, rat_of(second))
    assert read.status_code == 200
    listed = await client.get(clients_path(realm), headers=await admin(client, realm))
    assert [c["clientId"] for c in listed.json()] == [first["client_id"]]


@pytest.mark.anyio
async def test_past_the_window_a_new_client(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await post(client, PUBLIC)
    later = int(time.time()) + WINDOW - 5
    monkeypatch.setattr("app.web.routes.registration.now", lambda: later)
    # within the window, and the window starts again from this registration
    assert (await post(client, PUBLIC))["client_id"] == first["client_id"]
    monkeypatch.setattr("app.web.routes.registration.now", lambda: later + WINDOW - 5)
    assert (await post(client, PUBLIC))["client_id"] == first["client_id"]
    monkeypatch.setattr("app.web.routes.registration.now", lambda: later + 2 * WINDOW)
    assert (await post(client, PUBLIC))["client_id"] != first["client_id"]


@pytest.mark.anyio
async def test_another_address_or_other_metadata_a_new_client(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    first = await post(client, PUBLIC)
    async with asgi_client(app, "127.0.0.2") as elsewhere:
        assert (await post(elsewhere, PUBLIC))["client_id"] != first["client_id"]
    renamed = {**PUBLIC, "client_name": "MCP tool 2"}
    assert (await post(client, renamed))["client_id"] != first["client_id"]
    assert (await post(client, PUBLIC))["client_id"] == first["client_id"]


@pytest.mark.anyio
async def test_confidential_authenticated_and_undeduplicated_registrations_are_new(
    client: httpx.AsyncClient,
) -> None:
    confidential = {"redirect_uris": [RP], "client_name": "with a secret"}
    one, two = await post(client, confidential), await post(client, confidential)
    assert one["client_id"] != two["client_id"]  # a secret is never handed out again
    headers = await admin(client, "again")
    made = await client.post(iat_path("again"), json={"count": 2}, headers=headers)
    iat = made.json()["token"]
    by_iat = [await client.post(dcr_path("again"), json=PUBLIC, headers=bearer(iat)) for _ in "ab"]
    assert by_iat[0].json()["client_id"] != by_iat[1].json()["client_id"]
    one, two = await post(client, PUBLIC, "never"), await post(client, PUBLIC, "never")
    assert one["client_id"] != two["client_id"]


@pytest.mark.anyio
async def test_a_deleted_or_disabled_client_is_not_handed_back(client: httpx.AsyncClient) -> None:
    first = await post(client, PUBLIC)
    assert (await delete_client(client, first, rat_of(first))).status_code == 204
    second = await post(client, PUBLIC)
    assert second["client_id"] != first["client_id"]
    headers = await admin(client, "again")
    disabled = await client.put(
        f"{clients_path('again')}/{second['client_id']}", json={"enabled": False}, headers=headers
    )
    assert disabled.status_code == 204, disabled.text
    third = await post(client, PUBLIC)
    assert third["client_id"] not in (first["client_id"], second["client_id"])
    assert (await post(client, PUBLIC))["client_id"] == third["client_id"]


@pytest.mark.anyio
async def test_deduplicate_is_checked_at_load(realms_dir: Path) -> None:
    from app.config.realm_models import RealmConfig  # noqa: PLC0415

    for wrong in ({"window": "soon"}, {"window": "10m", "other": 1}, "yes"):
        with pytest.raises(ValueError):
            RealmConfig.model_validate({**json.loads(realm_file(wrong)), "name": "x"})
    default = RealmConfig.model_validate({**json.loads(realm_file(True)), "name": "x"})
    assert default.deduplicate is not None and default.deduplicate.window_seconds == WINDOW
    off = RealmConfig.model_validate({**json.loads(realm_file(False)), "name": "x"})
    assert off.deduplicate is None


@pytest.mark.live
def test_identical_registrations_at_once_make_one_client(
    tmp_path: Path, realms_dir: Path, database_url: str
) -> None:
    (realms_dir / "again.yaml").write_text(realm_file({"window": "10m"}))
    with running_server(tmp_path, realms_dir, database_url, workers=2) as server:
        url = server.url + dcr_path("again")

        def register(_: int) -> httpx.Response:
            return httpx.post(url, json=PUBLIC, timeout=30)  # a connection each

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(register, range(16)))
        assert [a.status_code for a in answers] == [201] * 16, [a.text for a in answers]
        assert len({a.json()["client_id"] for a in answers}) == 1
        # one registration access token is left working: the last one handed out
        working = [
            a
            for a in answers
            if httpx.get(
                a.json()["registration_client_uri"], headers=bearer(rat_of(a.json())), timeout=30
            ).status_code
            == 200
        ]
        assert len(working) == 1
        token = httpx.post(
            server.url + "/realms/again/protocol/openid-connect/token",
            data={"grant_type": "client_credentials"},
            auth=("admin", "admin-secret"),
            timeout=30,
        ).json()["access_token"]
        listed = httpx.get(server.url + clients_path("again"), headers=bearer(token), timeout=30)
        assert len(listed.json()) == 1


@pytest.mark.anyio
async def test_a_client_updated_since_is_not_handed_back(client: httpx.AsyncClient) -> None:
    """The client a registration gets back has the metadata it asked for, or it is new."""
    first = await post(client, PUBLIC)
    changed = {**updatable(first), "client_name": "renamed by its owner"}
    updated = await put_client(client, first, rat_of(first), changed)
    assert updated.status_code == 200, updated.text
    second = await post(client, PUBLIC)
    assert second["client_id"] != first["client_id"]
    assert second["client_name"] == "MCP tool"
    assert (await post(client, PUBLIC))["client_id"] == second["client_id"]
