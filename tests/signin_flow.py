"""Helpers of the sign-in tests: realms with local users, PKCE, reading the pages' forms, and
walking the authorization code flow through the login and consent pages as a browser would."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from app.auth.passwords import hash_password
from tests.helpers import APP_REALMS, JSON, register

PASSWORD = "alice-password"
ALICE_HASH = hash_password(PASSWORD)
CALLBACK = "https://rp.example.org/cb"
LOOPBACK = "http://127.0.0.1:8123/callback"

PEOPLE = f"""
registration:
  anonymous:
    - type: trusted-hosts
      trusted-hosts: ["127.0.0.1"]
      client-uris-must-match: false
  authenticated: []
service_accounts:
  - client_id: admin
    secret: admin-secret
    roles: [manage-clients]
login:
  users:
    - username: alice
      password_hash: "{ALICE_HASH}"
      email: alice@example.org
      name: Alice Example
    - username: bob
      password_hash: "{ALICE_HASH}"
"""
# the same, with Keycloak's consent-required policy on anonymous registrations
CONSENTING = PEOPLE.replace(
    "  authenticated: []", "    - type: consent-required\n  authenticated: []"
)


def people_realms(tmp_path: Path) -> Path:
    target = tmp_path / "realms"
    shutil.copytree(APP_REALMS, target)
    (target / "people.yaml").write_text(PEOPLE)
    (target / "consenting.yaml").write_text(CONSENTING)
    return target


def auth_path(realm: str = "people") -> str:
    return f"/realms/{realm}/protocol/openid-connect/auth"


def oidc_path(name: str, realm: str = "people") -> str:
    return f"/realms/{realm}/protocol/openid-connect/{name}"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def public_client(http: httpx.AsyncClient, realm: str = "people", **extra: Any) -> JSON:
    return await register(
        http,
        realm,
        redirect_uris=[CALLBACK, LOOPBACK],
        token_endpoint_auth_method="none",
        grant_types=["authorization_code", "refresh_token"],
        scope="openid profile email",
        client_name="Notes App",
        **extra,
    )


async def confidential_client(http: httpx.AsyncClient, realm: str = "people") -> JSON:
    return await register(
        http,
        realm,
        redirect_uris=[CALLBACK],
        grant_types=["authorization_code", "refresh_token"],
        scope="openid profile email",
    )


def auth_params(client_id: str, challenge: str | None, **extra: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": CALLBACK,
        "scope": "openid profile email",
        "state": "st-123",
        "nonce": "n-456",
    }
    if challenge is not None:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    params.update(extra)
    return params


def form_of(page: httpx.Response) -> tuple[str, dict[str, str]]:
    """The action and the hidden fields of the page's one POST form."""
    text = page.text
    forms = re.findall(r'<form method="post" action="([^"]*)"', text)
    assert len(forms) == 1, text
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', text))
    return html.unescape(forms[0]), {k: html.unescape(v) for k, v in hidden.items()}


def redirect_query(response: httpx.Response) -> dict[str, str]:
    assert response.status_code in (302, 303), (response.status_code, response.text)
    location = response.headers["location"]
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def post_form(http: httpx.AsyncClient, page: httpx.Response, **fields: str) -> httpx.Response:
    action, hidden = form_of(page)
    return await http.post(action, data={**hidden, **fields})


async def sign_in(
    http: httpx.AsyncClient,
    params: dict[str, str],
    realm: str = "people",
    username: str = "alice",
) -> httpx.Response:
    """GET the authorization endpoint, then post the login form: the response after login
    (or the redirect at once, when the browser is signed in already)."""
    page = await http.get(auth_path(realm), params=params)
    if page.status_code == 302:
        return page
    assert page.status_code == 200, page.text
    return await post_form(http, page, username=username, password=PASSWORD)


async def code_for(
    http: httpx.AsyncClient, client_id: str, challenge: str | None, **extra: str
) -> str:
    done = await sign_in(http, auth_params(client_id, challenge, **extra))
    query = redirect_query(done)
    assert query["state"] == "st-123" and query["iss"] == "http://testserver/realms/people"
    return query["code"]
