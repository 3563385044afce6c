"""Helpers of the tests of people in the console: a realm whose local users carry
realm-management roles, a person's sign-in to the console through the realm's login page, and
a person's own access token from a registered client's code flow."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.helpers import JSON, register
from tests.signin_flow import (
    ALICE_HASH,
    CALLBACK,
    PASSWORD,
    auth_params,
    form_of,
    oidc_path,
    pkce,
    redirect_query,
)

REALM = "staff"
STAFF = f"""
scopes:
  default: [openid, profile, email]
  optional: [phone]
  restricted: [admin.read]
registration:
  anonymous:
    - type: trusted-hosts
      trusted-hosts: ["127.0.0.1"]
      client-uris-must-match: false
    - type: consent-required
  authenticated: []
events:
  enabled: true
  retention: 1d
service_accounts:
  - {{client_id: admin, secret: admin-secret, roles: [manage-clients]}}
login:
  users:
    - {{username: alice, password_hash: "{ALICE_HASH}", email: alice@example.org, name: Alice}}
    - {{username: bob, password_hash: "{ALICE_HASH}"}}
    - {{username: carol, password_hash: "{ALICE_HASH}", roles: [manage-clients]}}
    - {{username: dave, password_hash: "{ALICE_HASH}", roles: [view-users]}}
"""


def add_staff_realm(realms_dir: Path) -> None:
    (realms_dir / f"{REALM}.yaml").write_text(STAFF)


def console(path: str = "") -> str:
    return f"/realms/{REALM}/console{path}"


async def login_page_or_redirect(http: httpx.AsyncClient, url: str) -> httpx.Response:
    response = await http.get(url)
    assert response.status_code in (200, 302), response.text
    return response


async def console_sign_in(http: httpx.AsyncClient, username: str) -> httpx.Response:
    """Sign in to the console as a person: the console's "Sign in with your account", the
    realm's login page, the callback. The answer of the callback."""
    start = await http.get(console("/login"))
    assert start.status_code == 303, start.text
    page = await login_page_or_redirect(http, start.headers["location"])
    if page.status_code == 200:
        action, hidden = form_of(page)
        page = await http.post(action, data={**hidden, "username": username, "password": PASSWORD})
    assert page.status_code in (302, 303), page.text
    callback = page.headers["location"]
    assert callback.startswith(f"http://testserver/realms/{REALM}/console/callback?"), callback
    return await http.get(callback)


async def console_session(http: httpx.AsyncClient, username: str) -> httpx.Response:
    """A person signed in to the console: the page the console opens on."""
    done = await console_sign_in(http, username)
    assert done.status_code == 303, done.text
    page = await http.get(console("/"), follow_redirects=True)
    assert page.status_code == 200, page.text
    return page


async def notes_client(http: httpx.AsyncClient) -> JSON:
    """A public client of the realm, registered anonymously (it asks for consent)."""
    return await register(
        http,
        REALM,
        redirect_uris=[CALLBACK],
        token_endpoint_auth_method="none",
        grant_types=["authorization_code", "refresh_token"],
        scope="openid profile",
        client_name="Notes App",
    )


async def person_tokens(http: httpx.AsyncClient, client: JSON, username: str) -> JSON:
    """The token endpoint's answer for `username` signed in through `client` (consent given)."""
    verifier, challenge = pkce()
    params = auth_params(client["client_id"], challenge, scope="openid profile")
    page = await http.get(oidc_path("auth", REALM), params=params)
    if page.status_code == 200 and 'name="password"' in page.text:
        action, hidden = form_of(page)
        page = await http.post(action, data={**hidden, "username": username, "password": PASSWORD})
    if page.status_code == 200:  # the consent page
        action, hidden = form_of(page)
        page = await http.post(action, data={**hidden, "accept": "yes"})
    code = redirect_query(page)["code"]
    reply = await http.post(
        oidc_path("token", REALM),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "code_verifier": verifier,
            "client_id": client["client_id"],
        },
    )
    assert reply.status_code == 200, reply.text
    tokens: JSON = reply.json()
    return tokens
