"""The console as a realm admin uses it, in-process: deletions confirmed, a client
edited through the RFC 7592 update, its secret and registration access token regenerated (in
the console and Keycloak's admin API), the registration policies page, a form kept across an
ended session, every problem of a form at once, and the example realms' console accounts."""

from __future__ import annotations

import asyncio
import html
import re
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import yaml
from starlette.applications import Starlette

from app.main import create_app
from tests.helpers import (
    JSON,
    access_token,
    bearer,
    clients_path,
    get_client,
    put_client,
    rat_of,
    register,
    service_token,
)
from tests.inprocess import make_settings
from tests.test_console import console, csrf_of

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).parent.parent
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


async def signed_in(
    http: httpx.AsyncClient, name: str = "admin", realm: str = "open", secret: str = ""
) -> str:
    """Sign in and return a CSRF token of the session."""
    form = await http.get(console(realm) + "/signin")
    response = await http.post(
        console(realm) + "/signin",
        data={
            "csrf": csrf_of(form),
            "client_id": name,
            "client_secret": secret or f"{name}-secret",
        },
    )
    assert response.status_code == 303, response.text
    page = await http.get(console(realm) + "/", follow_redirects=True)
    assert page.status_code == 200
    return csrf_of(page)


async def admin_read(http: httpx.AsyncClient, client_id: str) -> JSON:
    """The client's RFC 7591 metadata as an admin bearer reads it (the secret in clear)."""
    token = await service_token(http)
    response = await http.get(
        f"/realms/open/clients-registrations/openid-connect/{client_id}", headers=bearer(token)
    )
    assert response.status_code == 200, response.text
    found: JSON = response.json()
    return found


async def exists(http: httpx.AsyncClient, client_id: str) -> bool:
    token = await service_token(http)
    response = await http.get(f"{clients_path()}/{client_id}", headers=bearer(token))
    assert response.status_code in (200, 404), response.text
    return response.status_code == 200


# --- 1. deletions are confirmed ---------------------------------------------------------------


async def test_client_delete_asks_for_confirmation_first(client: httpx.AsyncClient) -> None:
    registered = await register(client, client_name="doomed-app")
    client_id = registered["client_id"]
    csrf = await signed_in(client)
    detail = await client.get(f"{console()}/clients/{client_id}")
    # the client page links to the confirmation; it has no one-click delete form any more
    assert f'href="{console()}/clients/{client_id}/delete"' in detail.text
    assert f'action="{console()}/clients/{client_id}/delete"' not in detail.text

    confirm = await client.get(f"{console()}/clients/{client_id}/delete")
    assert confirm.status_code == 200
    assert "Delete client doomed-app?" in confirm.text
    assert client_id in confirm.text
    assert "https://rp.example.org/cb" in confirm.text
    assert '<input type="hidden" name="confirm" value="yes">' in confirm.text
    assert f'href="{console()}/clients/{client_id}">Cancel' in confirm.text
    assert await exists(client, client_id)

    # the old one-click form, without the confirmation field: the confirmation page again
    unconfirmed = await client.post(f"{console()}/clients/{client_id}/delete", data={"csrf": csrf})
    assert unconfirmed.status_code == 200
    assert "Delete client doomed-app?" in unconfirmed.text
    assert await exists(client, client_id)

    # a confirmation without the session's CSRF token deletes nothing either
    forged = await client.post(
        f"{console()}/clients/{client_id}/delete", data={"confirm": "yes", "csrf": "x"}
    )
    assert forged.status_code == 403
    assert await exists(client, client_id)

    deleted = await client.post(
        f"{console()}/clients/{client_id}/delete", data={"csrf": csrf, "confirm": "yes"}
    )
    assert deleted.status_code == 303
    assert deleted.headers["location"] == f"{console()}/clients?notice=deleted"
    assert not await exists(client, client_id)


async def test_a_viewer_gets_no_delete_confirmation(client: httpx.AsyncClient) -> None:
    registered = await register(client)
    await signed_in(client, "viewer")
    confirm = await client.get(f"{console()}/clients/{registered['client_id']}/delete")
    assert confirm.status_code == 403
    assert await exists(client, registered["client_id"])


async def test_initial_access_token_delete_asks_for_confirmation_first(
    client: httpx.AsyncClient,
) -> None:
    csrf = await signed_in(client)
    created = await client.post(console() + "/tokens", data={"csrf": csrf, "count": "3"})
    assert created.status_code == 201
    found = re.search(r'<td data-label="Id" class="id">([^<]+)<', created.text)
    assert found
    token_id = found.group(1)
    delete_path = f"{console()}/tokens/{token_id}/delete"
    assert f'href="{delete_path}"' in created.text
    assert f'action="{delete_path}"' not in created.text

    confirm = await client.get(delete_path)
    assert confirm.status_code == 200
    assert f"Delete initial access token {token_id}?" in confirm.text
    assert "<dt>Remaining registrations</dt><dd>3</dd>" in confirm.text
    assert f'href="{console()}/tokens">Cancel' in confirm.text

    unconfirmed = await client.post(delete_path, data={"csrf": csrf})
    assert unconfirmed.status_code == 200
    assert token_id in (await client.get(console() + "/tokens")).text

    deleted = await client.post(delete_path, data={"csrf": csrf, "confirm": "yes"})
    assert deleted.status_code == 303
    listed = await client.get(deleted.headers["location"])
    assert token_id not in listed.text
    assert (await client.get(delete_path)).status_code == 404


# --- 2. editing a client ----------------------------------------------------------------------


async def test_admin_edits_a_client_through_the_update_service(client: httpx.AsyncClient) -> None:
    registered = await register(
        client,
        client_name="before",
        grant_types=["authorization_code", "client_credentials"],
        scope="openid profile",
        client_uri="https://rp.example.org/",
    )
    client_id = registered["client_id"]
    csrf = await signed_in(client)
    page = await client.get(f"{console()}/clients/{client_id}")
    assert f'action="{console()}/clients/{client_id}/edit"' in page.text
    assert 'value="before"' in page.text
    assert 'name="scope" value="admin.write"' in page.text  # restricted: manage-clients only

    saved = await client.post(
        f"{console()}/clients/{client_id}/edit",
        data={
            "csrf": csrf,
            "client_name": "after",
            "redirect_uris": "https://rp.example.org/one\r\n\r\nhttps://rp.example.org/two",
            "scope": ["openid", "email", "offline_access"],
            # enabled unchecked: the client is disabled
        },
    )
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == f"{console()}/clients/{client_id}?notice=saved"
    after = await admin_read(client, client_id)
    assert after["client_name"] == "after"
    assert after["redirect_uris"] == ["https://rp.example.org/one", "https://rp.example.org/two"]
    assert after["scope"] == "openid email offline_access"
    # the members the form does not show are kept, and so is the secret
    assert after["grant_types"] == ["authorization_code", "client_credentials"]
    assert after["client_uri"] == "https://rp.example.org/"
    assert after["client_secret"] == registered["client_secret"]
    token = await service_token(client)
    shown = (await client.get(f"{clients_path()}/{client_id}", headers=bearer(token))).json()
    assert shown["enabled"] is False
    # disabled: its registration access token is refused
    assert (await get_client(client, registered, rat_of(registered))).status_code == 401
    notice = await client.get(saved.headers["location"])
    assert "The client is saved." in notice.text

    enabled = await client.post(
        f"{console()}/clients/{client_id}/edit",
        data={
            "csrf": csrf,
            "client_name": "after",
            "redirect_uris": "https://rp.example.org/one",
            "enabled": "true",
        },
    )
    assert enabled.status_code == 303, enabled.text
    shown = (await client.get(f"{clients_path()}/{client_id}", headers=bearer(token))).json()
    assert shown["enabled"] is True
    read = await admin_read(client, client_id)
    assert read["redirect_uris"] == ["https://rp.example.org/one"]
    assert read["scope"] == "openid profile email"  # none checked: the realm's default scopes
    # an admin's edit does not rotate the client's registration access token
    assert (await get_client(client, registered, rat_of(registered))).status_code == 200


async def test_a_service_refusal_shows_on_the_edit_form_with_the_input_kept(
    client: httpx.AsyncClient,
) -> None:
    registered = await register(client, client_name="kept")
    client_id = registered["client_id"]
    csrf = await signed_in(client)
    typed = "https://rp.example.org/ok\nhttps://rp.example.org/cb#fragment"
    refused = await client.post(
        f"{console()}/clients/{client_id}/edit",
        data={"csrf": csrf, "client_name": "new name", "redirect_uris": typed, "scope": "phone"},
    )
    assert refused.status_code == 400
    assert 'role="alert"' in refused.text
    assert "fragment" in refused.text
    assert 'value="new name"' in refused.text
    assert html.escape(typed) in refused.text
    assert re.search(r'value="phone"\s+checked', refused.text)
    assert (await admin_read(client, client_id))["client_name"] == "kept"


async def test_the_edit_form_lists_every_problem_at_once(client: httpx.AsyncClient) -> None:
    registered = await register(client, client_name="kept")
    csrf = await signed_in(client)
    refused = await client.post(
        f"{console()}/clients/{registered['client_id']}/edit",
        data={
            "csrf": csrf,
            "client_name": "x" * 201,
            "redirect_uris": "https://rp.example.org/ok\nnot a uri\n/relative",
            "scope": "no-such-scope",
        },
    )
    assert refused.status_code == 400
    assert "Please correct these 4 problems:" in refused.text
    assert "<li>Client name: longer than 200 characters</li>" in refused.text
    assert "<li>Redirect URIs: line 2 is not an absolute URI</li>" in refused.text
    assert "<li>Redirect URIs: line 3 is not an absolute URI</li>" in refused.text
    assert "<li>Scopes: “no-such-scope” is not a scope you may choose</li>" in refused.text
    assert (await admin_read(client, registered["client_id"]))["client_name"] == "kept"


async def test_a_viewer_has_no_edit_form_and_cannot_post_one(client: httpx.AsyncClient) -> None:
    registered = await register(client, client_name="kept")
    csrf = await signed_in(client, "viewer")
    page = await client.get(f"{console()}/clients/{registered['client_id']}")
    assert "/edit" not in page.text
    assert "Regenerate" not in page.text
    refused = await client.post(
        f"{console()}/clients/{registered['client_id']}/edit",
        data={"csrf": csrf, "client_name": "changed"},
    )
    assert refused.status_code == 403
    assert (await admin_read(client, registered["client_id"]))["client_name"] == "kept"


# --- 3. regenerating the secret and the registration access token -----------------------------


async def test_api_regenerates_the_client_secret(client: httpx.AsyncClient) -> None:
    registered = await register(client, grant_types=["client_credentials"])
    client_id, old = registered["client_id"], registered["client_secret"]
    token = await service_token(client)
    answer = await client.post(f"{clients_path()}/{client_id}/client-secret", headers=bearer(token))
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["type"] == "secret"
    new = body["value"]
    assert new and new != old
    assert (await access_token(client, "open", client_id, old)).status_code == 401
    assert (await access_token(client, "open", client_id, new)).status_code == 200
    assert (await admin_read(client, client_id))["client_secret"] == new


async def test_api_regenerates_the_registration_access_token(client: httpx.AsyncClient) -> None:
    registered = await register(client, client_name="rotated")
    client_id, old = registered["client_id"], rat_of(registered)
    token = await service_token(client)
    path = f"{clients_path()}/{client_id}/registration-access-token"
    answer = await client.post(path, headers=bearer(token))
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["clientId"] == client_id
    assert body["name"] == "rotated"
    new = body["registrationAccessToken"]
    assert (await get_client(client, registered, old)).status_code == 401
    assert (await get_client(client, registered, new)).status_code == 200


async def test_regeneration_refusals(client: httpx.AsyncClient) -> None:
    public = await register(client, token_endpoint_auth_method="none")
    confidential = await register(client)
    admin, viewer = await service_token(client), await service_token(client, "viewer")
    for kind in ("client-secret", "registration-access-token"):
        path = f"{clients_path()}/{confidential['client_id']}/{kind}"
        assert (await client.post(path)).status_code == 401
        assert (await client.post(path, headers=bearer(viewer))).status_code == 403
        rat = rat_of(confidential)
        assert (await client.post(path, headers=bearer(rat))).status_code == 401
        missing = f"{clients_path()}/0190f0f0-0000-7000-8000-000000000000/{kind}"
        assert (await client.post(missing, headers=bearer(admin))).status_code == 404
    refused = await client.post(
        f"{clients_path()}/{public['client_id']}/client-secret", headers=bearer(admin)
    )
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_request"
    assert (await admin_read(client, confidential["client_id"]))["client_secret"] == (
        confidential["client_secret"]
    )


async def test_console_regenerates_secret_and_token_and_shows_them_once(
    client: httpx.AsyncClient,
) -> None:
    registered = await register(client, grant_types=["client_credentials"])
    client_id = registered["client_id"]
    csrf = await signed_in(client)
    page = await client.post(f"{console()}/clients/{client_id}/client-secret", data={"csrf": csrf})
    assert page.status_code == 200
    shown = re.search(r'<code id="regenerated">([^<]+)</code>', page.text)
    assert shown
    assert "Copy the new client secret now." in page.text
    secret = shown.group(1)
    assert (await access_token(client, "open", client_id, secret)).status_code == 200
    old = registered["client_secret"]
    assert (await access_token(client, "open", client_id, old)).status_code == 401

    page = await client.post(
        f"{console()}/clients/{client_id}/registration-access-token", data={"csrf": csrf}
    )
    assert page.status_code == 200
    shown = re.search(r'<code id="regenerated">([^<]+)</code>', page.text)
    assert shown
    assert (await get_client(client, registered, shown.group(1))).status_code == 200
    assert (await get_client(client, registered, rat_of(registered))).status_code == 401
    again = await client.get(f"{console()}/clients/{client_id}")
    assert shown.group(1) not in again.text  # shown once

    unforged = await client.post(f"{console()}/clients/{client_id}/client-secret", data={})
    assert unforged.status_code == 403


@pytest.fixture
async def any_db_client(
    tmp_path: Path, realms_dir: Path, database_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(tmp_path, realms_dir, database_url), scheduler=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def test_a_rat_regeneration_racing_the_clients_own_update_leaves_one_valid_rat(
    any_db_client: httpx.AsyncClient,
) -> None:
    http = any_db_client
    admin = await service_token(http)
    for _ in range(8):
        registered = await register(http, client_name="racer")
        body = {"client_id": registered["client_id"], "redirect_uris": ["https://rp.example.org/x"]}
        path = f"{clients_path()}/{registered['client_id']}/registration-access-token"
        put, regenerated = await asyncio.gather(
            put_client(http, registered, rat_of(registered), body),
            http.post(path, headers=bearer(admin)),
        )
        assert regenerated.status_code == 200, regenerated.text
        candidates = [rat_of(registered), regenerated.json()["registrationAccessToken"]]
        if put.status_code == 200:
            candidates.append(rat_of(put.json()))
        else:
            assert put.status_code == 401, put.text
        valid = [rat for rat in candidates if (await get_client(http, registered, rat)).is_success]
        assert valid == [regenerated.json()["registrationAccessToken"]] or (
            put.status_code == 200 and valid == [rat_of(put.json())]
        ), (put.status_code, len(valid))
        assert len(valid) == 1


async def test_an_admins_edit_keeps_a_rat_regenerated_meanwhile(
    client: httpx.AsyncClient,
) -> None:
    """An admin's update does not write back the RAT it read: one regenerated between that
    read and the write stays the only valid one."""
    registered = await register(client)
    admin = await service_token(client)
    path = f"{clients_path()}/{registered['client_id']}/registration-access-token"
    for _ in range(8):
        body = {
            "client_id": registered["client_id"],
            "client_name": "edited",
            "redirect_uris": ["https://rp.example.org/cb"],
        }
        put, regenerated = await asyncio.gather(
            put_client(client, registered, admin, body), client.post(path, headers=bearer(admin))
        )
        assert put.status_code == 200, put.text
        new = regenerated.json()["registrationAccessToken"]
        assert (await get_client(client, registered, new)).status_code == 200


async def test_a_secret_regenerated_while_the_client_updates_itself_stays(
    any_db_client: httpx.AsyncClient,
) -> None:
    """An update that does not change the secret does not write back the one it read: a
    secret regenerated meanwhile is the one that works afterwards."""
    http = any_db_client
    admin = await service_token(http)
    for _ in range(8):
        registered = await register(http, grant_types=["client_credentials"])
        client_id = registered["client_id"]
        body = {"client_id": client_id, "grant_types": ["client_credentials"], "client_name": "x"}
        put, regenerated = await asyncio.gather(
            put_client(http, registered, rat_of(registered), body),
            http.post(f"{clients_path()}/{client_id}/client-secret", headers=bearer(admin)),
        )
        assert put.status_code == 200, put.text
        assert regenerated.status_code == 200, regenerated.text
        new = regenerated.json()["value"]
        assert (await access_token(http, "open", client_id, new)).status_code == 200
        old = registered["client_secret"]
        assert (await access_token(http, "open", client_id, old)).status_code == 401


# --- 4. the registration policies page ----------------------------------------------------------


async def test_policies_page_lists_both_sets_in_file_order(client: httpx.AsyncClient) -> None:
    await signed_in(client, "viewer")
    page = await client.get(console() + "/policies")
    assert page.status_code == 200
    text = page.text
    assert f'href="{console()}/policies" aria-current="page">Policies</a>' in text
    anonymous = text.index("Anonymous registration")
    authenticated = text.index("Authenticated registration")
    hosts, quota, scopes = (
        text.index(">trusted-hosts<"),
        text.index(">max-clients<"),
        text.index(">allowed-client-scopes<"),
    )
    assert anonymous < hosts < quota < authenticated < scopes  # tests/app_realms/open.yaml
    assert "Trusted Hosts" in text and "Max Clients Limit" in text
    assert '<span class="mono">trusted-hosts</span>: 127.0.0.1, ::1, localhost' in text
    assert '<span class="mono">client-uris-must-match</span>: no' in text
    assert '<span class="mono">max-clients</span>: 1000' in text
    assert "openid, profile, email, offline_access, phone, address" in text
    assert "admin.write" in text  # restricted scopes


async def test_policies_page_needs_view_or_manage(client: httpx.AsyncClient) -> None:
    await signed_in(client, "creator")
    assert (await client.get(console() + "/policies")).status_code == 403
    new = await client.get(console() + "/new")
    assert "/policies" not in new.text


# --- 5. a form posted after the session ended ---------------------------------------------------


def hidden_fields(page: httpx.Response) -> list[tuple[str, str]]:
    return [(name, html.unescape(value)) for name, value in HIDDEN.findall(page.text)]


def as_form(fields: list[tuple[str, str]], **more: str) -> dict[str, list[str]]:
    form: dict[str, list[str]] = {}
    for name, value in [*fields, *more.items()]:
        form.setdefault(name, []).append(value)
    return form


async def test_an_expired_session_keeps_the_new_client_form(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await service_token(client)
    before = (await client.get(clients_path(), headers=bearer(token))).json()
    csrf = await signed_in(client)
    later = int(time.time()) + 3600
    monkeypatch.setattr("app.web.console.session.now", lambda: later)
    uris = "https://app.example.org/a\nhttps://app.example.org/b"
    posted = await client.post(
        console() + "/new",
        data={
            "csrf": csrf,
            "client_name": 'Tom & "Jerry"',
            "redirect_uris": uris,
            "scope": ["openid", "phone"],
            "grant_type": "client_credentials",
            "client_type": "public",
        },
    )
    assert posted.status_code == 200
    assert "Sign in to realm open" in posted.text
    assert '<p class="warn" role="status">Your session has expired' in posted.text
    assert 'class="notice"' not in posted.text
    fields = hidden_fields(posted)
    assert ("next", f"{console()}/new") in fields
    assert ("carry.client_name", 'Tom & "Jerry"') in fields
    assert ("carry.redirect_uris", uris) in fields
    assert ("carry.scope", "openid") in fields and ("carry.scope", "phone") in fields
    assert not any(name == "carry.csrf" for name, _ in fields)
    assert csrf not in posted.text  # the old session's CSRF token is not carried

    form = as_form(fields, client_id="admin", client_secret="admin-secret")
    again = await client.post(console() + "/signin", data=form)
    assert again.status_code == 200, again.text
    assert "<h1>New client</h1>" in again.text
    assert 'value="Tom &amp; &#34;Jerry&#34;"' in again.text
    assert html.escape(uris) in again.text
    assert re.search(r'value="phone"\s+checked', again.text)
    assert re.search(r'value="client_credentials"\s+checked', again.text)
    assert re.search(r'value="public"\s+checked', again.text)
    assert csrf_of(again) != csrf
    # shown, not submitted: no client was registered
    assert (await client.get(clients_path(), headers=bearer(token))).json() == before
    # the form now works with the new session
    submitted = await client.post(
        console() + "/new",
        data={"csrf": csrf_of(again), "client_name": "Tom", "redirect_uris": uris},
    )
    assert submitted.status_code == 201


async def test_an_expired_session_keeps_the_edit_form(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    registered = await register(client, client_name="stored")
    client_id = registered["client_id"]
    csrf = await signed_in(client)
    later = int(time.time()) + 3600
    monkeypatch.setattr("app.web.console.session.now", lambda: later)
    posted = await client.post(
        f"{console()}/clients/{client_id}/edit",
        data={"csrf": csrf, "client_name": "typed", "redirect_uris": "https://x.example/cb"},
    )
    assert posted.status_code == 200
    fields = hidden_fields(posted)
    assert ("next", f"{console()}/clients/{client_id}/edit") in fields
    form = as_form(fields, client_id="admin", client_secret="admin-secret")
    again = await client.post(console() + "/signin", data=form)
    assert again.status_code == 200
    assert 'value="typed"' in again.text
    assert "https://x.example/cb</textarea>" in again.text
    assert (await admin_read(client, client_id))["client_name"] == "stored"


async def test_a_confirmed_delete_after_the_session_ended_is_asked_again(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    registered = await register(client, client_name="survivor")
    client_id = registered["client_id"]
    csrf = await signed_in(client)
    later = int(time.time()) + 3600
    monkeypatch.setattr("app.web.console.session.now", lambda: later)
    posted = await client.post(
        f"{console()}/clients/{client_id}/delete", data={"csrf": csrf, "confirm": "yes"}
    )
    assert posted.status_code == 200
    assert "Sign in to realm open" in posted.text
    fields = hidden_fields(posted)
    assert ("carry.confirm", "yes") in fields
    # a wrong secret keeps what is carried for the next try
    wrong = await client.post(
        console() + "/signin", data=as_form(fields, client_id="admin", client_secret="wrong")
    )
    assert wrong.status_code == 401
    assert hidden_fields(wrong)[1:] == fields[1:]  # all but the sign-in nonce
    again = await client.post(
        console() + "/signin",
        data=as_form(hidden_fields(wrong), client_id="admin", client_secret="admin-secret"),
    )
    assert again.status_code == 200
    assert "Delete client survivor?" in again.text  # asked again, not deleted
    assert await exists(client, client_id)


async def test_sign_in_returns_only_to_this_realms_console(client: httpx.AsyncClient) -> None:
    for target, expected in (
        (f"{console()}/tokens", f"{console()}/tokens"),
        (f"{console()}/clients/abc/enabled", f"{console()}/clients/abc"),
        (f"{console('held')}/tokens", f"{console()}/"),
        ("https://evil.example/", f"{console()}/"),
        (f"{console()}/../../admin", f"{console()}/"),
        (f"{console()}//evil.example", f"{console()}/"),
        (f"{console()}/signout", f"{console()}/"),
    ):
        client.cookies.clear()
        form = await client.get(console() + "/signin")
        response = await client.post(
            console() + "/signin",
            data={
                "csrf": csrf_of(form),
                "client_id": "admin",
                "client_secret": "admin-secret",
                "next": target,
            },
        )
        assert response.status_code == 303, target
        assert response.headers["location"] == expected, target


async def test_the_expired_notice_is_a_warning(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await signed_in(client)
    later = int(time.time()) + 3600
    monkeypatch.setattr("app.web.console.session.now", lambda: later)
    response = await client.get(console() + "/clients", follow_redirects=True)
    assert '<p class="warn" role="status">Your session has expired' in response.text
    signed_out = await client.get(console() + "/signin?notice=signed-out")
    assert '<p class="notice" role="status">You are signed out.' in signed_out.text


# --- 6. every problem of the New client form at once -----------------------------------------


async def test_new_client_form_lists_every_problem_at_once(client: httpx.AsyncClient) -> None:
    csrf = await signed_in(client)
    refused = await client.post(
        console() + "/new",
        data={
            "csrf": csrf,
            "client_name": "n" * 201,
            "redirect_uris": "https://ok.example/cb\n\nno-scheme/cb\nhttps://" + "a" * 2000,
        },
    )
    assert refused.status_code == 400
    assert "Please correct these 3 problems:" in refused.text
    assert "<li>Client name: longer than 200 characters</li>" in refused.text
    assert "<li>Redirect URIs: line 3 is not an absolute URI</li>" in refused.text
    assert "<li>Redirect URIs: line 4 is longer than 2000 characters</li>" in refused.text
    assert "no-scheme/cb" in refused.text  # the input is kept


async def test_new_client_form_shows_a_service_error_as_it_comes(
    client: httpx.AsyncClient,
) -> None:
    csrf = await signed_in(client)
    refused = await client.post(
        console() + "/new",
        data={"csrf": csrf, "client_name": "x", "redirect_uris": "https://ok.example/cb#frag"},
    )
    assert refused.status_code == 400
    assert "Please correct this:" in refused.text
    assert "fragment" in refused.text


async def test_tokens_form_names_both_bad_fields(client: httpx.AsyncClient) -> None:
    csrf = await signed_in(client)
    refused = await client.post(
        console() + "/tokens", data={"csrf": csrf, "expiration": "soon", "count": "-1"}
    )
    assert refused.status_code == 400
    assert "<li>Expiration: must be a whole number of at most 10 digits</li>" in refused.text
    assert "<li>Count: must be a whole number of at most 10 digits</li>" in refused.text


# --- 7. the example realms' consoles ------------------------------------------------------------


@pytest.fixture
async def examples(tmp_path: Path, sqlite_url: str) -> AsyncIterator[httpx.AsyncClient]:
    realms = tmp_path / "example-realms"
    shutil.copytree(ROOT / "realms", realms)
    app: Starlette = create_app(make_settings(tmp_path, realms, sqlite_url), scheduler=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


@pytest.mark.parametrize("realm", ["demo", "open", "mcp", "approval"])
async def test_every_example_realm_has_a_console_account_named_in_the_readme(
    examples: httpx.AsyncClient, realm: str
) -> None:
    data = yaml.safe_load((ROOT / "realms" / f"{realm}.yaml").read_text())
    admins = [a for a in data["service_accounts"] if "manage-clients" in a.get("roles", [])]
    assert admins, realm
    account = admins[0]
    assert account["secret"].endswith("-change-me"), realm  # clearly an example
    readme = (ROOT / "README.md").read_text()
    console_section = readme[readme.index("## Web console") :]
    console_section = console_section[: console_section.index("\n## ", 1)]
    assert f"`{account['client_id']}`" in console_section, realm
    assert f"`{account['secret']}`" in console_section, realm
    csrf = await signed_in(examples, account["client_id"], realm, account["secret"])
    assert csrf
