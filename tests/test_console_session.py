"""A console session ends on the server: signing out revokes the session's access token, so the
old cookie opens no page and works as no API bearer; and the cookie lives no longer than the
token it carries."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import basic, bearer, clients_path
from tests.test_console import console, csrf_of, sign_in

pytestmark = pytest.mark.anyio

SESSION_COOKIE = "registrar_console"
INTROSPECT = "/realms/open/protocol/openid-connect/token/introspect"


async def introspect(http: httpx.AsyncClient, token: str) -> httpx.Response:
    auth = {"Authorization": basic("admin", "admin-secret")}
    return await http.post(INTROSPECT, data={"token": token}, headers=auth)


async def test_sign_out_ends_the_session_on_the_server(client: httpx.AsyncClient) -> None:
    signed = await sign_in(client)
    assert signed.status_code == 303
    token = client.cookies[SESSION_COOKIE]
    page = await client.get(console() + "/clients")
    assert page.status_code == 200
    assert (await client.get(clients_path(), headers=bearer(token))).status_code == 200

    out = await client.post(console() + "/signout", data={"csrf": csrf_of(page)})
    assert out.status_code == 303

    # the browser dropped the cookie; someone who kept a copy of it gets nothing with it
    client.cookies.set(SESSION_COOKIE, token, path=console())
    again = await client.get(console() + "/clients")
    assert again.status_code == 303
    assert "/signin" in again.headers["location"]
    as_api = await client.get(clients_path(), headers=bearer(token))
    assert as_api.status_code == 401
    assert as_api.json()["error"] == "invalid_token"
    assert (await introspect(client, token)).json() == {"active": False}


async def test_signing_out_one_session_leaves_the_others(client: httpx.AsyncClient) -> None:
    await sign_in(client)
    first = client.cookies[SESSION_COOKIE]
    client.cookies.clear()
    await sign_in(client)
    page = await client.get(console() + "/clients")
    await client.post(console() + "/signout", data={"csrf": csrf_of(page)})
    assert (await client.get(clients_path(), headers=bearer(first))).status_code == 200


async def test_the_cookie_lives_no_longer_than_its_token(client: httpx.AsyncClient) -> None:
    signed = await sign_in(client)
    cookie = next(
        value
        for name, value in signed.headers.multi_items()
        if name == "set-cookie" and value.startswith(SESSION_COOKIE + "=")
    )
    max_age = int(cookie.lower().split("max-age=")[1].split(";")[0])
    token = client.cookies[SESSION_COOKIE]
    active = (await introspect(client, token)).json()
    assert active["active"] is True
    assert 0 < max_age <= active["exp"] - active["iat"]
