"""The web console, in-process: sign-in and its cookie, CSRF, expired and
foreign sessions, escaping, role-dependent offers, and every page through the same services as
the API."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from tests.helpers import (
    JSON,
    admin_token,
    assert_error,
    bearer,
    clients_path,
    dcr_path,
    register,
)

pytestmark = pytest.mark.anyio

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def console(realm: str = "open") -> str:
    return f"/realms/{realm}/console"


def csrf_of(response: httpx.Response) -> str:
    found = CSRF.search(response.text)
    assert found, response.text
    return found.group(1)


async def sign_in(
    http: httpx.AsyncClient, name: str = "admin", realm: str = "open", secret: str | None = None
) -> httpx.Response:
    form = await http.get(console(realm) + "/signin")
    assert form.status_code == 200
    return await http.post(
        console(realm) + "/signin",
        data={
            "csrf": csrf_of(form),
            "client_id": name,
            "client_secret": secret if secret is not None else f"{name}-secret",
        },
    )


async def signed_in(http: httpx.AsyncClient, name: str = "admin", realm: str = "open") -> str:
    """Sign in and return a CSRF token of the session."""
    response = await sign_in(http, name, realm)
    assert response.status_code == 303, response.text
    page = await http.get(console(realm) + "/", follow_redirects=True)
    assert page.status_code == 200
    return csrf_of(page)


async def client_json(http: httpx.AsyncClient, client_id: str, realm: str = "open") -> JSON:
    token = await admin_token(http, realm)
    response = await http.get(f"{clients_path(realm)}/{client_id}", headers=bearer(token))
    assert response.status_code == 200, response.text
    found: JSON = response.json()
    return found


# --- sign-in and sessions ---------------------------------------------------------------------


async def test_pages_without_a_session_go_to_sign_in(client: httpx.AsyncClient) -> None:
    for path in ("/", "/clients", "/tokens", "/new", "/clients/x"):
        response = await client.get(console() + path)
        assert response.status_code == 303, path
        assert response.headers["location"] == console() + "/signin"
    bare = await client.get(console())
    assert bare.headers["location"] == console() + "/"


async def test_sign_in_sets_a_strict_httponly_cookie_scoped_to_the_console(
    client: httpx.AsyncClient,
) -> None:
    response = await sign_in(client)
    assert response.status_code == 303
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("registrar_console=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert f"Path={console()}" in cookie
    assert "Secure" not in cookie  # the public URL of the tests is http
    home = await client.get(console() + "/", follow_redirects=True)
    assert home.status_code == 200
    assert str(home.url).endswith("/clients")
    assert home.headers["cache-control"] == "no-store"


async def test_wrong_secret_is_refused_with_a_message(client: httpx.AsyncClient) -> None:
    response = await sign_in(client, "admin", secret="wrong")
    assert response.status_code == 401
    assert "Unknown client id or wrong secret." in response.text
    assert "registrar_console=" not in response.headers.get("set-cookie", "")


async def test_account_without_a_console_role_is_refused(client: httpx.AsyncClient) -> None:
    response = await sign_in(client, "nobody")
    assert response.status_code == 401
    assert "has none of the roles" in response.text


async def test_sign_in_without_its_csrf_token_is_403(client: httpx.AsyncClient) -> None:
    response = await client.post(
        console() + "/signin", data={"client_id": "admin", "client_secret": "admin-secret"}
    )
    assert response.status_code == 403
    assert "security token" in response.text


async def test_expired_session_goes_back_to_sign_in_with_a_message(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await signed_in(client)
    later = int(time.time()) + 3600
    monkeypatch.setattr("app.web.console.session.now", lambda: later)
    response = await client.get(console() + "/clients")
    assert response.status_code == 303
    assert response.headers["location"] == console() + "/signin?notice=expired"
    page = await client.get(response.headers["location"])
    assert "Your session has expired" in page.text


async def test_another_realms_cookie_is_no_session(client: httpx.AsyncClient) -> None:
    await signed_in(client, "admin", "held")
    held_token = client.cookies.get("registrar_console", path=console("held"))
    assert held_token
    client.cookies.set("registrar_console", held_token, path=console())
    response = await client.get(console() + "/clients")
    assert response.status_code == 303
    assert response.headers["location"].endswith("/signin?notice=expired")


async def test_a_forged_cookie_is_no_session(client: httpx.AsyncClient) -> None:
    client.cookies.set("registrar_console", "eyJhbGciOiJub25lIn0.e30.", path=console())
    response = await client.get(console() + "/clients")
    assert response.status_code == 303


async def test_sign_out_ends_the_session(client: httpx.AsyncClient) -> None:
    csrf = await signed_in(client)
    response = await client.post(console() + "/signout", data={"csrf": csrf})
    assert response.status_code == 303
    assert (await client.get(console() + "/clients")).status_code == 303


# --- CSRF ------------------------------------------------------------------------------------


async def test_forged_or_missing_csrf_token_is_403_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    registered = await register(client, client_name="keep me")
    await signed_in(client)
    path = f"{console()}/clients/{registered['client_id']}/delete"
    for data in ({"csrf": "0" * 64}, {}):
        response = await client.post(path, data=data)
        assert response.status_code == 403
        assert "security token" in response.text
    created = await client.post(console() + "/tokens", data={"csrf": "forged", "count": "1"})
    assert created.status_code == 403
    assert (await client_json(client, registered["client_id"]))["name"] == "keep me"


async def test_csrf_token_of_another_session_is_refused(client: httpx.AsyncClient) -> None:
    other = await signed_in(client, "admin", "held")
    await signed_in(client)
    response = await client.post(console() + "/tokens", data={"csrf": other})
    assert response.status_code == 403


# --- pages -----------------------------------------------------------------------------------


async def test_every_page_answers_200_to_manage_clients(client: httpx.AsyncClient) -> None:
    registered = await register(client, client_name="page check")
    await signed_in(client)
    for path in (
        "/clients",
        "/clients?q=page",
        "/clients?page=2",
        f"/clients/{registered['client_id']}",
        "/tokens",
        "/new",
    ):
        response = await client.get(console() + path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html")
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert (await client.get(console() + "/signin")).status_code == 200


async def test_client_names_are_escaped_everywhere(client: httpx.AsyncClient) -> None:
    name = '<script>alert("x")</script>'
    registered = await register(client, client_name=name)
    await signed_in(client)
    for path in ("/clients", "/clients?q=script", f"/clients/{registered['client_id']}"):
        page = await client.get(console() + path)
        assert page.status_code == 200
        assert "<script>alert" not in page.text
        assert "&lt;script&gt;alert" in page.text
    searched = await client.get(console() + "/clients", params={"q": "<b>x</b>"})
    assert "<b>x</b>" not in searched.text


async def test_search_finds_by_name_and_by_id(client: httpx.AsyncClient) -> None:
    first = await register(client, client_name="Alpha service")
    second = await register(client, client_name="Beta service")
    await signed_in(client)
    by_name = await client.get(console() + "/clients", params={"q": "alpha"})
    assert first["client_id"] in by_name.text
    assert second["client_id"] not in by_name.text
    by_id = await client.get(console() + "/clients", params={"q": second["client_id"][:13]})
    assert second["client_id"] in by_id.text
    too_long = await client.get(console() + "/clients", params={"q": "x" * 500})
    assert too_long.status_code == 400
    assert "longer than 200 characters" in too_long.text


async def test_clients_are_paged(client: httpx.AsyncClient) -> None:
    for number in range(21):
        await register(client, client_name=f"paged {number}")
    await signed_in(client)
    first = await client.get(console() + "/clients")
    assert "Next page" in first.text
    assert first.text.count("paged ") == 20
    second = await client.get(console() + "/clients?page=2")
    assert second.text.count("paged ") == 1
    assert "Previous page" in second.text


async def test_unknown_realm_and_unknown_client_are_404_pages(client: httpx.AsyncClient) -> None:
    assert (await client.get("/realms/nowhere/console/signin")).status_code == 404
    await signed_in(client)
    missing = await client.get(console() + "/clients/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    assert "not found" in missing.text
    # an id no client can have is just another unknown client (the store never looks it up)
    assert (await client.get(console() + "/clients/" + "x" * 300)).status_code == 404


# --- roles -----------------------------------------------------------------------------------


async def test_viewer_sees_a_masked_secret_and_no_manage_actions(
    client: httpx.AsyncClient,
) -> None:
    registered = await register(client, client_name="viewed")
    csrf = await signed_in(client, "viewer")
    page = await client.get(f"{console()}/clients/{registered['client_id']}")
    assert page.status_code == 200
    assert registered["client_secret"] not in page.text
    assert "**********" in page.text
    assert "Delete client" not in page.text
    assert "New client" not in page.text
    tokens = await client.get(console() + "/tokens")
    assert "Create a token" not in tokens.text
    refused = await client.post(
        f"{console()}/clients/{registered['client_id']}/delete",
        data={"csrf": csrf, "confirm": "yes"},
    )
    assert refused.status_code == 403
    assert (await client.post(console() + "/tokens", data={"csrf": csrf})).status_code == 403


async def test_manager_sees_the_secret(client: httpx.AsyncClient) -> None:
    registered = await register(client, client_name="managed")
    await signed_in(client)
    page = await client.get(f"{console()}/clients/{registered['client_id']}")
    assert registered["client_secret"] in page.text
    assert "Delete client" in page.text


async def test_creator_gets_only_the_new_client_form(client: httpx.AsyncClient) -> None:
    await signed_in(client, "creator")
    home = await client.get(console() + "/", follow_redirects=True)
    assert str(home.url).endswith("/new")
    assert "My clients" not in home.text
    assert (await client.get(console() + "/clients")).status_code == 403
    assert (await client.get(console() + "/tokens")).status_code == 403


async def test_restricted_scopes_are_offered_to_manage_clients_only(
    client: httpx.AsyncClient,
) -> None:
    await signed_in(client, "creator")
    assert 'value="admin.write"' not in (await client.get(console() + "/new")).text
    await signed_in(client, "admin")
    assert 'value="admin.write"' in (await client.get(console() + "/new")).text


# --- actions ---------------------------------------------------------------------------------


async def test_new_client_form_registers_through_the_api(client: httpx.AsyncClient) -> None:
    csrf = await signed_in(client, "creator")
    response = await client.post(
        console() + "/new",
        data={
            "csrf": csrf,
            "client_name": "From the form",
            "redirect_uris": "https://app.example.org/cb\r\nhttps://app.example.org/cb2\r\n",
            "scope": ["openid", "profile", "offline_access"],
            "grant_type": "authorization_code",
            "client_type": "confidential",
        },
    )
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    client_id = re.search(r'id="client-id">([^<]+)<', response.text)
    assert client_id
    assert 'id="rat">ey' in response.text
    assert 'id="client-secret">' in response.text
    stored = await client_json(client, client_id.group(1))
    assert stored["name"] == "From the form"
    assert stored["redirectUris"] == ["https://app.example.org/cb", "https://app.example.org/cb2"]
    assert stored["registrationAuth"] == "authenticated"
    token = await admin_token(client)
    metadata = await client.get(f"{dcr_path()}/{client_id.group(1)}", headers=bearer(token))
    assert metadata.json()["scope"] == "openid profile offline_access"
    assert "refresh_token" in metadata.json()["grant_types"]


async def test_public_client_gets_no_secret(client: httpx.AsyncClient) -> None:
    csrf = await signed_in(client)
    response = await client.post(
        console() + "/new",
        data={
            "csrf": csrf,
            "client_name": "SPA",
            "redirect_uris": "https://spa.example.org/cb",
            "client_type": "public",
        },
    )
    assert response.status_code == 201
    assert 'id="client-secret"' not in response.text
    assert "&#34;token_endpoint_auth_method&#34;: &#34;none&#34;" in response.text


async def test_invalid_or_over_long_input_is_a_clear_message(client: httpx.AsyncClient) -> None:
    csrf = await signed_in(client)
    cases = [
        ({"client_name": "x" * 5000}, 400, "longer than 200 characters"),
        ({"client_name": "y", "redirect_uris": "https://a.example/" + "p" * 3000}, 400, "longer"),
        ({"client_name": "y", "redirect_uris": "javascript:alert(1)"}, 400, "redirect"),
    ]
    for fields, status, text in cases:
        response = await client.post(console() + "/new", data={"csrf": csrf, **fields})
        assert response.status_code == status, response.text
        assert text in response.text
        assert 'role="alert"' in response.text
    huge = await client.post(console() + "/new", data={"csrf": csrf, "client_name": "z" * 70_000})
    assert huge.status_code == 413


async def test_initial_access_token_is_shown_once_and_registers(
    client: httpx.AsyncClient,
) -> None:
    csrf = await signed_in(client)
    response = await client.post(
        console() + "/tokens", data={"csrf": csrf, "expiration": "600", "count": "2"}
    )
    assert response.status_code == 201
    found = re.search(r'id="iat-token">([^<]+)<', response.text)
    assert found
    token = found.group(1)
    listed = await client.get(console() + "/tokens")
    assert token not in listed.text
    assert ">2<" in listed.text
    reply = await client.post(
        dcr_path(), json={"redirect_uris": ["https://x.example/cb"]}, headers=bearer(token)
    )
    assert reply.status_code == 201


async def test_initial_access_token_bad_numbers_are_messages(client: httpx.AsyncClient) -> None:
    csrf = await signed_in(client)
    for fields in ({"count": "-1"}, {"count": "abc"}, {"expiration": "99999999999"}):
        response = await client.post(console() + "/tokens", data={"csrf": csrf, **fields})
        assert response.status_code == 400, fields
        assert 'role="alert"' in response.text


async def test_initial_access_token_delete(client: httpx.AsyncClient) -> None:
    csrf = await signed_in(client)
    created = await client.post(console() + "/tokens", data={"csrf": csrf, "count": "1"})
    token_id = re.search(r'<td data-label="Id" class="id">([^<]+)<', created.text)
    assert token_id
    deleted = await client.post(
        f"{console()}/tokens/{token_id.group(1)}/delete", data={"csrf": csrf, "confirm": "yes"}
    )
    assert deleted.status_code == 303
    listed = await client.get(deleted.headers["location"])
    assert token_id.group(1) not in listed.text
    assert "deleted" in listed.text


async def test_held_client_is_approved_from_the_console(client: httpx.AsyncClient) -> None:
    registered = await register(client, "held", client_name="waiting")
    assert (await client_json(client, registered["client_id"], "held"))["enabled"] is False
    csrf = await signed_in(client, "admin", "held")
    detail = await client.get(f"{console('held')}/clients/{registered['client_id']}")
    assert "Enable client (approve)" in detail.text
    response = await client.post(
        f"{console('held')}/clients/{registered['client_id']}/enabled",
        data={"csrf": csrf, "enabled": "true"},
    )
    assert response.status_code == 303
    assert (await client_json(client, registered["client_id"], "held"))["enabled"] is True
    page = await client.get(response.headers["location"])
    assert "The client is enabled." in page.text


async def test_client_delete_from_the_console(client: httpx.AsyncClient) -> None:
    registered = await register(client, client_name="doomed")
    csrf = await signed_in(client)
    response = await client.post(
        f"{console()}/clients/{registered['client_id']}/delete",
        data={"csrf": csrf, "confirm": "yes"},
    )
    assert response.status_code == 303
    token = await admin_token(client)
    gone = await client.get(f"{clients_path()}/{registered['client_id']}", headers=bearer(token))
    assert_error(gone, 404, "not_found")
