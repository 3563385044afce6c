"""End to end with an independent client library: authlib's OAuth 2.0 client runs the code
flow with PKCE against a real `registrar serve` of two worker processes (so the sign-in
session and the code are shared through the database), a browser posts the login form, and
the ID token is checked with authlib's own JOSE code against the realm's JWKS."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from authlib.jose import JsonWebKey, jwt
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from tests.live import LiveServer, start_server
from tests.signin_flow import LOOPBACK, PASSWORD, form_of, people_realms, redirect_query

pytestmark = pytest.mark.live


@pytest.fixture
def server(tmp_path: Path, sqlite_url: str) -> Iterator[LiveServer]:
    live = start_server(tmp_path, people_realms(tmp_path), sqlite_url, workers=2)
    try:
        yield live
    finally:
        live.stop()


def test_authlib_signs_a_user_in_with_pkce(
    server: LiveServer, request: pytest.FixtureRequest
) -> None:
    issuer = f"{server.url}/realms/people"
    metadata = httpx.get(f"{issuer}/.well-known/openid-configuration").json()
    registered = httpx.post(
        metadata["registration_endpoint"],
        json={
            "redirect_uris": [LOOPBACK],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "scope": "openid profile email",
            "client_name": "authlib e2e",
        },
    ).json()
    redirect_uri = "http://127.0.0.1:47001/callback"  # another loopback port (RFC 8252 §7.3)
    oauth = OAuth2Client(
        client_id=registered["client_id"],
        token_endpoint_auth_method="none",
        redirect_uri=redirect_uri,
        scope="openid profile email",
        code_challenge_method="S256",
    )
    request.addfinalizer(oauth.close)  # an httpx.Client: its connections are closed
    verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
    url, state = oauth.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    assert create_s256_code_challenge(verifier) in url
    with httpx.Client() as browser:
        page = browser.get(url)
        assert page.status_code == 200
        action, hidden = form_of(page)
        back = browser.post(action, data={**hidden, "username": "alice", "password": PASSWORD})
        query = redirect_query(back)
        assert query["state"] == state and query["iss"] == issuer
        # signed in: the next request (maybe at the other worker) needs no password
        again = browser.get(url)
        assert again.status_code == 302 and "code=" in again.headers["location"]
    token = oauth.fetch_token(
        metadata["token_endpoint"],
        authorization_response=back.headers["location"],
        code_verifier=verifier,
    )
    assert token["token_type"] == "Bearer" and token["refresh_token"]
    keys = JsonWebKey.import_key_set(httpx.get(metadata["jwks_uri"]).json())
    id_token = jwt.decode(
        token["id_token"],
        keys,
        claims_options={
            "iss": {"essential": True, "value": issuer},
            "aud": {"essential": True, "value": registered["client_id"]},
            "nonce": {"essential": True, "value": nonce},
        },
    )
    id_token.validate()
    assert id_token["sub"] == "alice"
    access = jwt.decode(token["access_token"], keys)
    access.validate()
    assert access.header["typ"] == "at+jwt" and access["client_id"] == registered["client_id"]
    info = oauth.get(metadata["userinfo_endpoint"]).json()
    assert info["sub"] == "alice" and info["email"] == "alice@example.org"
    renewed = oauth.refresh_token(metadata["token_endpoint"])
    assert renewed["refresh_token"] != token["refresh_token"]
    assert oauth.get(metadata["userinfo_endpoint"]).status_code == 200
    revoked = oauth.revoke_token(metadata["revocation_endpoint"], token=renewed["refresh_token"])
    assert revoked.status_code == 200
    assert oauth.get(metadata["userinfo_endpoint"]).status_code == 401


def signed_in_code(live: LiveServer, client_id: str, challenge: str) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": LOOPBACK,
        "scope": "openid",
        "state": "s",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    with httpx.Client() as browser:
        page = browser.get(f"{live.url}/realms/people/protocol/openid-connect/auth", params=params)
        action, hidden = form_of(page)
        back = browser.post(action, data={**hidden, "username": "alice", "password": PASSWORD})
    return redirect_query(back)["code"]


async def race(url: str, form: dict[str, str], n: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=30) as http:
        answers = list(await asyncio.gather(*(http.post(url, data=form) for _ in range(n))))
    # closing a connection's transport is a callback of the loop: let it run before
    # asyncio.run() closes the loop, or the socket is left to the collector
    for _ in range(3):
        await asyncio.sleep(0)
    return answers


def test_racing_uses_of_one_code_or_refresh_token_have_one_winner(
    tmp_path: Path, database_url: str
) -> None:
    """Two server processes, ten simultaneous uses: exactly one 200; the losers are replays,
    so the winner's grant is revoked too (RFC 6749 §4.1.2, RFC 9700 §4.14.2)."""
    live = start_server(tmp_path, people_realms(tmp_path), database_url, workers=2)
    try:
        token_url = f"{live.url}/realms/people/protocol/openid-connect/token"
        registered = httpx.post(
            f"{live.url}/realms/people/clients-registrations/openid-connect",
            json={
                "redirect_uris": [LOOPBACK],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
                "scope": "openid",
            },
        ).json()
        verifier = secrets.token_urlsafe(48)
        code = signed_in_code(live, registered["client_id"], create_s256_code_challenge(verifier))
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": LOOPBACK,
            "client_id": registered["client_id"],
            "code_verifier": verifier,
        }
        answers = asyncio.run(race(token_url, form, 10))
        assert sorted(a.status_code for a in answers) == [200] + [400] * 9
        winner = next(a for a in answers if a.status_code == 200).json()
        revoked = httpx.post(
            token_url,
            data={
                "grant_type": "refresh_token",
                "refresh_token": winner["refresh_token"],
                "client_id": registered["client_id"],
            },
        )
        assert revoked.status_code == 400  # the replays revoked the family
        # a fresh grant, its refresh token used ten times at once
        code = signed_in_code(live, registered["client_id"], create_s256_code_challenge(verifier))
        fresh = httpx.post(token_url, data={**form, "code": code}).json()
        refresh_form = {
            "grant_type": "refresh_token",
            "refresh_token": fresh["refresh_token"],
            "client_id": registered["client_id"],
        }
        answers = asyncio.run(race(token_url, refresh_form, 10))
        assert sorted(a.status_code for a in answers) == [200] + [400] * 9
    finally:
        live.stop()
