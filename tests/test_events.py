"""Events under Keycloak's names for a realm with `events.enabled`: each registration step and
its failure recorded once, with no secret or token in it; read back newest first with
Keycloak's filters, by view-events or manage-clients only."""

from __future__ import annotations

import datetime
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from tests.helpers import bearer, client_path, dcr_path, rat_of, service_token, updatable
from tests.test_console import console, signed_in

pytestmark = pytest.mark.anyio

AUDITED = """\
registration:
  anonymous:
    - type: trusted-hosts
      trusted-hosts: ["127.0.0.1"]
      client-uris-must-match: false
events:
  enabled: true
  retention: 1d
service_accounts:
  - {client_id: admin, secret: admin-secret, roles: [manage-clients]}
  - {client_id: auditor, secret: auditor-secret, roles: [view-events]}
  - {client_id: viewer, secret: viewer-secret, roles: [view-clients]}
"""
EVENTS = "/admin/realms/audited/events"
BODY = {"client_name": "audited", "redirect_uris": ["https://rp.example.org/cb"]}


@pytest.fixture
async def audited(app: Starlette, realms_dir: Path) -> Starlette:
    (realms_dir / "audited.yaml").write_text(AUDITED)
    app.state.container.realms.reload()
    return app


async def events_of(http: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    """The realm's events, without the reader's own sign-ins (its token is a CLIENT_LOGIN)."""
    token = await service_token(http, "auditor", "audited")
    answer = await http.get(EVENTS, params=params, headers=bearer(token))
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()
    return [event for event in found if event.get("clientId") != "auditor"]


@pytest.mark.usefixtures("audited")
async def test_every_step_of_a_registration_is_recorded_once(client: httpx.AsyncClient) -> None:
    registered = (await client.post(dcr_path("audited"), json=BODY)).json()
    path, rat = client_path(registered), rat_of(registered)
    assert (await client.get(path, headers=bearer(rat))).status_code == 200
    updated = await client.put(path, json=updatable(registered), headers=bearer(rat))
    assert updated.status_code == 200
    new_rat = updated.json()["registration_access_token"]
    assert (await client.get(path, headers=bearer(rat))).status_code == 401  # rotated out
    bad = await client.post(dcr_path("audited"), json={"redirect_uris": "nope"})
    assert bad.status_code == 400
    assert (await client.delete(path, headers=bearer(new_rat))).status_code == 204
    listed = await events_of(client)
    assert [e["type"] for e in listed] == [  # newest first
        "CLIENT_DELETE",
        "CLIENT_REGISTER_ERROR",
        "CLIENT_INFO_ERROR",
        "CLIENT_UPDATE",
        "CLIENT_INFO",
        "CLIENT_REGISTER",
    ]
    client_id = registered["client_id"]
    assert {e.get("clientId") for e in listed} == {client_id, None}
    assert all(e["realmId"] == "audited" and e["ipAddress"] == "127.0.0.1" for e in listed)
    assert listed[1]["error"] == "invalid_redirect_uri"
    assert listed[2]["error"] == "invalid_token"
    text = str(listed)
    for secret in (registered["client_secret"], rat, new_rat):
        assert secret not in text


@pytest.mark.usefixtures("audited")
async def test_keycloaks_filters(client: httpx.AsyncClient) -> None:
    first = (await client.post(dcr_path("audited"), json=BODY)).json()
    second = (await client.post(dcr_path("audited"), json=BODY)).json()
    await client.get(client_path(first), headers=bearer(rat_of(first)))
    infos = await events_of(client, type="CLIENT_INFO")
    assert [e["clientId"] for e in infos] == [first["client_id"]]
    both = await events_of(client, type=["CLIENT_INFO", "CLIENT_REGISTER"])
    assert len(both) == 3
    mine = await events_of(client, client=second["client_id"])
    assert [e["type"] for e in mine] == ["CLIENT_REGISTER"]
    steps = ["CLIENT_INFO", "CLIENT_REGISTER"]
    assert len(await events_of(client, type=steps, max=1)) == 1
    assert len(await events_of(client, type=steps, first=2)) == 1
    today = datetime.datetime.now(datetime.UTC).date()
    assert len(await events_of(client, type=steps, dateFrom=str(today), dateTo=str(today))) == 3
    assert await events_of(client, dateTo=str(today - datetime.timedelta(days=2))) == []


@pytest.mark.usefixtures("audited")
async def test_who_may_read_the_events(client: httpx.AsyncClient) -> None:
    admin = await client.get(
        EVENTS, headers=bearer(await service_token(client, "admin", "audited"))
    )
    assert admin.status_code == 200
    viewer = await client.get(
        EVENTS, headers=bearer(await service_token(client, "viewer", "audited"))
    )
    assert viewer.status_code == 403
    assert viewer.json()["error"] == "insufficient_scope"
    nobody = await client.get(EVENTS)
    assert nobody.status_code == 401
    wrong = await client.get(
        EVENTS,
        params={"dateFrom": "yesterday"},
        headers=bearer(await service_token(client, "auditor", "audited")),
    )
    assert wrong.status_code == 400


async def test_a_realm_without_events_records_none(client: httpx.AsyncClient) -> None:
    await client.post(dcr_path(), json=BODY)
    token = await service_token(client, "admin")
    listed = await client.get("/admin/realms/open/events", headers=bearer(token))
    assert listed.status_code == 200
    assert listed.json() == []


async def test_events_older_than_the_retention_are_swept(
    client: httpx.AsyncClient, audited: Starlette
) -> None:
    await client.post(dcr_path("audited"), json=BODY)
    assert len(await events_of(client)) == 1
    container = audited.state.container
    realm = container.realms.get("audited")
    now = int(datetime.datetime.now(datetime.UTC).timestamp())
    await container.events.sweep([realm], now)  # within the day's retention: kept
    assert len(await events_of(client)) == 1
    await container.events.sweep([realm], now + 86_400 + 5)
    assert await events_of(client) == []


def cells(page: httpx.Response) -> list[str]:
    return re.findall(r'<td data-label="Type" class="id">([A-Z_]+)</td>', page.text)


@pytest.mark.usefixtures("audited")
async def test_the_console_lists_the_events(client: httpx.AsyncClient) -> None:
    registered = (await client.post(dcr_path("audited"), json=BODY)).json()
    await client.post(dcr_path("audited"), json={"redirect_uris": "nope"})
    await signed_in(client, "admin", "audited")
    page = await client.get(console("audited") + "/events")
    assert page.status_code == 200
    assert cells(page) == ["CLIENT_REGISTER_ERROR", "CLIENT_REGISTER"]  # newest first
    assert registered["client_id"] in page.text
    only = await client.get(console("audited") + "/events?type=CLIENT_REGISTER")
    assert cells(only) == ["CLIENT_REGISTER"]
    assert (await client.get(console("audited") + "/events?type=NOPE")).status_code == 400


@pytest.mark.usefixtures("audited")
async def test_token_introspection_and_revocation_are_recorded(
    client: httpx.AsyncClient,
) -> None:
    token_path = "/realms/audited/protocol/openid-connect/token"
    form = {"grant_type": "client_credentials"}
    good = await client.post(token_path, data=form, auth=("admin", "admin-secret"))
    assert good.status_code == 200
    bad = await client.post(token_path, data=form, auth=("admin", "wrong"))
    assert bad.status_code == 401
    introspected = await client.post(
        token_path + "/introspect",
        data={"token": good.json()["access_token"]},
        auth=("admin", "admin-secret"),
    )
    assert introspected.status_code == 200
    revoked = await client.post(
        "/realms/audited/protocol/openid-connect/revoke",
        data={"token": "not-a-token"},
        auth=("admin", "admin-secret"),
    )
    assert revoked.status_code == 200
    listed = await events_of(client)
    assert [(e["type"], e.get("error")) for e in listed] == [
        ("REVOKE_GRANT", None),
        ("INTROSPECT_TOKEN", None),
        ("CLIENT_LOGIN_ERROR", "invalid_client"),
        ("CLIENT_LOGIN", None),
    ]
    assert all(e["clientId"] == "admin" for e in listed)
    assert good.json()["access_token"] not in str(listed)
