"""`private_key_jwt` client authentication at the token endpoint (RFC 7523 §2.2 and §3, OIDC
Core §9; docs/reference.md §7), black-box in-process: registered clients with `jwks`, and a
metadata document client with `jwks_uri` signing a user in end to end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jwcrypto import jwk

from tests.assertions import assertion, assertion_form, jti_of, new_key, public_jwks
from tests.document_server import DocumentServer, document_realms, document_server
from tests.helpers import ISSUER, register, token_path
from tests.signin_flow import CALLBACK, auth_params, auth_path, pkce, post_form

pytestmark = pytest.mark.anyio

TOKEN_URL = ISSUER + "/protocol/openid-connect/token"


@pytest.fixture
def realms_dir(tmp_path: Path) -> Path:
    return document_realms(tmp_path)


@pytest.fixture
def docs() -> Iterator[DocumentServer]:
    with document_server() as server:
        yield server


async def key_client(http: httpx.AsyncClient, *keys: jwk.JWK) -> str:
    registered = await register(
        http,
        grant_types=["client_credentials"],
        token_endpoint_auth_method="private_key_jwt",
        jwks=public_jwks(*keys),
        scope="profile",
    )
    assert "client_secret" not in registered
    assert registered["token_endpoint_auth_method"] == "private_key_jwt"
    client_id: str = registered["client_id"]
    return client_id


async def token_with(http: httpx.AsyncClient, token: str, **extra: str) -> httpx.Response:
    form = assertion_form(token, grant_type="client_credentials", **extra)
    return await http.post(token_path(), data=form)


def refused(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"
    assert reason in response.json()["error_description"]


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256", "EdDSA"])
async def test_a_client_authenticates_with_a_signed_assertion(
    client: httpx.AsyncClient, alg: str
) -> None:
    key = new_key(alg)
    client_id = await key_client(client, key)
    for audience in (TOKEN_URL, ISSUER, [ISSUER, "https://other.example.org"]):
        answer = await token_with(client, assertion(key, client_id, audience, alg=alg))
        assert answer.status_code == 200, answer.text
        assert answer.json()["token_type"] == "Bearer"
    # client_id in the form too, naming the same client
    named = await token_with(
        client, assertion(key, client_id, TOKEN_URL, alg=alg), client_id=client_id
    )
    assert named.status_code == 200, named.text


async def test_assertions_that_do_not_hold_are_refused(client: httpx.AsyncClient) -> None:
    key, stranger = new_key("RS256"), new_key("RS256")
    shared = jwk.JWK.generate(kty="oct", size=256)
    client_id = await key_client(client, key)
    cases: list[tuple[str, str]] = [
        (assertion(stranger, client_id, TOKEN_URL), "signature"),
        (assertion(key, client_id, TOKEN_URL, lifetime=-120), "expired"),
        (assertion(key, client_id, TOKEN_URL, lifetime=3600), "must expire within"),
        (assertion(key, client_id, "https://other.example.org/token"), "aud"),
        (assertion(key, client_id, TOKEN_URL, iss="someone-else"), "iss and sub"),
        (assertion(None, client_id, TOKEN_URL, alg="none"), "alg"),
        (assertion(shared, client_id, TOKEN_URL, alg="HS256"), "alg"),
        (assertion(key, client_id, TOKEN_URL, jti=""), "jti"),
        (assertion(key, client_id, TOKEN_URL, exp=None), "exp"),
        (assertion(key, "no-such-client", TOKEN_URL), "Invalid client"),
        ("not-a-jwt", "not a JWT"),
    ]
    for token, reason in cases:
        refused(await token_with(client, token), reason)
    other = assertion(key, client_id, TOKEN_URL)
    refused(await token_with(client, other, client_id="another-client"), "differs")
    wrong_type = {"client_assertion_type": "urn:x", "client_assertion": other}
    refused(
        await client.post(token_path(), data={"grant_type": "client_credentials", **wrong_type}),
        "client_assertion_type",
    )


async def test_a_used_assertion_is_refused_the_second_time(client: httpx.AsyncClient) -> None:
    key = new_key("ES256")
    client_id = await key_client(client, key)
    token = assertion(key, client_id, TOKEN_URL, alg="ES256")
    assert (await token_with(client, token)).status_code == 200
    refused(await token_with(client, token), "used before")
    # the same jti in a new assertion is a replay too
    again = assertion(key, client_id, TOKEN_URL, alg="ES256", jti=jti_of(token))
    refused(await token_with(client, again), "used before")


async def test_a_client_with_a_secret_cannot_use_an_assertion_and_no_client_two_methods(
    client: httpx.AsyncClient,
) -> None:
    registered = await register(client, grant_types=["client_credentials"])
    key = new_key("RS256")
    token = assertion(key, registered["client_id"], TOKEN_URL)
    refused(await token_with(client, token), "not registered for private_key_jwt")
    both = await token_with(client, token, client_secret=registered["client_secret"])
    assert both.status_code == 400 and both.json()["error"] == "invalid_request"


async def test_discovery_advertises_private_key_jwt(client: httpx.AsyncClient) -> None:
    found = (await client.get("/realms/open/.well-known/openid-configuration")).json()
    assert "private_key_jwt" in found["token_endpoint_auth_methods_supported"]
    assert found["token_endpoint_auth_signing_alg_values_supported"] == [
        "RS256", "PS256", "ES256", "EdDSA",
    ]  # fmt: skip


async def test_a_document_client_with_a_jwks_uri_signs_a_user_in(
    client: httpx.AsyncClient, docs: DocumentServer
) -> None:
    key = new_key("EdDSA")
    url = docs.url("/agent.json")
    jwks_uri = docs.serve("/jwks.json", public_jwks(key))
    docs.serve(
        "/agent.json",
        {
            "client_id": url,
            "client_name": "Signing Agent",
            "redirect_uris": [CALLBACK],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": jwks_uri,
        },
    )
    verifier, challenge = pkce()
    login = await client.get(auth_path(), params=auth_params(url, challenge, scope="openid"))
    assert login.status_code == 200, login.text
    consent = await post_form(client, login, username="alice", password="alice-password")
    done = await post_form(client, consent, accept="yes")
    assert done.status_code == 303, done.text
    code = httpx.URL(done.headers["location"]).params["code"]
    form: dict[str, Any] = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "code_verifier": verifier,
    }
    issuer = "http://testserver/realms/people"
    tokens = await client.post(
        token_path("people"),
        data={**form, **assertion_form(assertion(key, url, issuer, alg="EdDSA"))},
    )
    assert tokens.status_code == 200, tokens.text
    assert docs.hits["/jwks.json"] == 1
    # a key the jwks_uri does not hold
    wrong = assertion(new_key("EdDSA"), url, issuer, alg="EdDSA")
    refused(
        await client.post(token_path("people"), data={**form, **assertion_form(wrong)}), "signature"
    )
