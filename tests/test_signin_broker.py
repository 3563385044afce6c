"""Signing in at an upstream OpenID provider (docs/reference.md §6), end to end in-process:
realm `people` is the upstream of realm `brokered` on the same server. The user follows "Sign
in with Corp SSO", signs in at the upstream, comes back to Keycloak's callback path, and the
client's own authorization request goes on to its code; the user gets a stable `sub`."""

from __future__ import annotations

import html
import re
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from tests.broker_flow import (
    continued_query,
    continued_to,
    location_query,
    query_of,
    write_brokered_realm,
)
from tests.helpers import register
from tests.signin_flow import (
    CALLBACK,
    PASSWORD,
    auth_params,
    auth_path,
    oidc_path,
    people_realms,
    pkce,
    post_form,
)
from tests.signin_flow import public_client as register_public_client

pytestmark = pytest.mark.anyio
UPSTREAM = "http://testserver/realms/people"
ENDPOINT = "http://testserver/realms/brokered/broker/corp/endpoint"


@pytest.fixture
def realms_dir(tmp_path: Path) -> Path:
    return people_realms(tmp_path)


@pytest.fixture
async def brokered(
    app: Starlette, client: httpx.AsyncClient, realms_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """Realm `brokered`, whose upstream is realm `people` of the same app: registrar is a
    confidential client of `people`, registered as any client would be. Its secret."""
    upstream_client = await register(
        client, "people", redirect_uris=[ENDPOINT], scope="openid profile email"
    )
    monkeypatch.setenv("CORP_CLIENT_SECRET", upstream_client["client_secret"])
    write_brokered_realm(realms_dir, UPSTREAM, upstream_client["client_id"])
    container = app.state.container
    assert container.realms.reload() == []
    # the upstream is this very app, reached in-process
    container.upstream.transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50001))
    return str(upstream_client["client_id"])


async def sign_in_through_upstream(
    client: httpx.AsyncClient, client_id: str, challenge: str, upstream_client_id: str
) -> httpx.Response:
    """From the client's authorization request to the callback's answer."""
    page = await client.get(auth_path("brokered"), params=auth_params(client_id, challenge))
    assert page.status_code == 200
    link = re.search(r'href="([^"]*)">Sign in with Corp SSO<', page.text)
    assert link is not None, page.text
    started = await client.get(html.unescape(link.group(1)))
    upstream_url = started.headers["location"]
    assert upstream_url.startswith(f"{UPSTREAM}/protocol/openid-connect/auth?")
    sent = query_of(upstream_url)
    assert sent["client_id"] == upstream_client_id and sent["redirect_uri"] == ENDPOINT
    assert sent["code_challenge_method"] == "S256" and len(sent["code_challenge"]) == 43
    assert sent["state"] and sent["nonce"] and sent["scope"] == "openid profile email"
    cookie = started.headers["set-cookie"]
    assert "registrar_broker=" in cookie and "HttpOnly" in cookie
    assert "Path=/realms/brokered/broker/corp/" in cookie
    login = await client.get(upstream_url)  # the upstream's own login page
    if login.status_code == 302:  # signed in at the upstream already: straight back
        back = login
    else:
        back = await post_form(client, login, username="alice", password=PASSWORD)
    assert back.headers["location"].startswith(ENDPOINT + "?")
    assert location_query(back)["iss"] == UPSTREAM
    return await client.get(back.headers["location"])


async def redeem(
    client: httpx.AsyncClient, client_id: str, code: str, verifier: str
) -> dict[str, str]:
    tokens = await client.post(
        oidc_path("token", "brokered"),
        data={
            "grant_type": "authorization_code", "code": code, "client_id": client_id,
            "redirect_uri": CALLBACK, "code_verifier": verifier,
        },
    )  # fmt: skip
    assert tokens.status_code == 200, tokens.text
    return dict(tokens.json())


async def test_a_user_signs_in_at_the_upstream_and_the_client_gets_its_code(
    app: Starlette, client: httpx.AsyncClient, brokered: str
) -> None:
    registered = await register_public_client(client, "brokered")
    verifier, challenge = pkce()
    done = await sign_in_through_upstream(client, registered["client_id"], challenge, brokered)
    assert continued_to(done).startswith(CALLBACK + "?")
    query = continued_query(done)
    assert query["state"] == "st-123" and query["iss"] == "http://testserver/realms/brokered"
    assert "registrar_session=" in done.headers["set-cookie"]
    tokens = await redeem(client, registered["client_id"], query["code"], verifier)
    info = await client.get(
        oidc_path("userinfo", "brokered"),
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    claims = info.json()
    assert claims["preferred_username"] == "alice" and claims["name"] == "Alice Example"
    assert claims["email"] == "alice@example.org"
    subject = claims["sub"]
    assert subject != "alice"  # brokered alice is not the upstream realm's local alice

    # signed in at `brokered` now: the next request of another client goes straight back
    other = await register_public_client(client, "brokered")
    verifier, challenge = pkce()
    again = await client.get(
        auth_path("brokered"), params=auth_params(other["client_id"], challenge)
    )
    tokens = await redeem(client, other["client_id"], location_query(again)["code"], verifier)
    info = await client.get(
        oidc_path("userinfo", "brokered"),
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert info.json()["sub"] == subject

    # a later sign-in through the upstream gives the same sub; the user is recorded once
    client.cookies.delete("registrar_session", path="/realms/brokered/")
    verifier, challenge = pkce()
    done = await sign_in_through_upstream(client, registered["client_id"], challenge, brokered)
    tokens = await redeem(client, registered["client_id"], continued_query(done)["code"], verifier)
    assert "id_token" in tokens
    users = await app.state.container.broker.users(app.state.container.realms.get("brokered"))
    assert [(u.sub, u.username, u.alias) for u in users] == [(subject, "alice", "corp")]
    assert users[0].upstream_issuer == UPSTREAM and users[0].upstream_sub == "alice"


async def test_a_wrong_client_secret_at_the_upstream_is_a_502_page(
    app: Starlette, client: httpx.AsyncClient, brokered: str, realms_dir: Path
) -> None:
    """The realm file's client_secret (${CORP_CLIENT_SECRET} above) is what the upstream
    checks: with a wrong one it refuses the code, and the user sees a 502 page, no 500."""
    path = realms_dir / "brokered.yaml"
    path.write_text(path.read_text().replace("${CORP_CLIENT_SECRET}", "not-the-secret"))
    assert app.state.container.realms.reload() == []
    registered = await register_public_client(client, "brokered")
    done = await sign_in_through_upstream(client, registered["client_id"], pkce()[1], brokered)
    assert done.status_code == 502 and "location" not in done.headers
    assert "Corp SSO did not finish the sign-in" in done.text and "401" in done.text
    assert "registrar_session=" not in done.headers.get("set-cookie", "")


async def test_the_login_page_offers_the_upstream_beside_local_accounts(
    client: httpx.AsyncClient, realms_dir: Path, app: Starlette
) -> None:
    text = (realms_dir / "people.yaml").read_text()
    upstream = (
        "  upstream:\n    alias: corp\n    display_name: Corp <SSO>\n"
        "    issuer: https://idp.example.test/realms/corp\n    client_id: registrar\n"
    )
    (realms_dir / "people.yaml").write_text(text.replace("login:\n", "login:\n" + upstream))
    assert app.state.container.realms.reload() == []
    registered = await register_public_client(client)
    page = await client.get(auth_path(), params=auth_params(registered["client_id"], pkce()[1]))
    assert "Sign in with Corp &lt;SSO&gt;" in page.text  # escaped
    assert 'name="username"' in page.text and 'name="password"' in page.text


async def test_a_brokered_user_consents_under_their_username(
    app: Starlette, client: httpx.AsyncClient, brokered: str, realms_dir: Path
) -> None:
    path = realms_dir / "brokered.yaml"
    path.write_text(
        path.read_text().replace(
            "      client-uris-must-match: false\n",
            "      client-uris-must-match: false\n    - type: consent-required\n",
        )
    )
    assert app.state.container.realms.reload() == []
    registered = await register_public_client(client, "brokered")
    consent = await sign_in_through_upstream(client, registered["client_id"], pkce()[1], brokered)
    assert consent.status_code == 200 and "Notes App asks for access" in consent.text
    assert "as <strong>alice</strong>" in consent.text
    done = await post_form(client, consent, accept="yes")
    assert location_query(done)["code"]
