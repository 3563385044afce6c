"""Helpers of the upstream-provider tests: a realm whose users sign in at an upstream, and a
fake upstream the test controls (an httpx MockTransport handler with keys of its own), so an
ID token can be made wrong in exactly one way."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
from jwcrypto import jwk, jwt

from tests.signin_flow import auth_params, auth_path, pkce
from tests.signin_flow import public_client as register_public_client

BROKERED_REALM = """
registration:
  anonymous:
    - type: trusted-hosts
      trusted-hosts: ["127.0.0.1"]
      client-uris-must-match: false
  authenticated: []
login:
  upstream:
    alias: corp
    display_name: Corp SSO
    issuer: {issuer}
    client_id: {client_id}
    client_secret: ${{CORP_CLIENT_SECRET}}
    scopes: [openid, profile, email]
    username_claim: preferred_username
"""

FAKE_ISSUER = "https://idp.example.test/realms/corp"
ENDPOINT = "/realms/brokered/broker/corp/endpoint"
FAKE_CLIENT_ID = "registrar"
FAKE_SECRET = "corp-secret"
# made once: RSA keys are slow to make
KEY = jwk.JWK.generate(kty="RSA", size=2048, kid="corp-1")
OTHER_KEY = jwk.JWK.generate(kty="RSA", size=2048, kid="corp-1")  # same kid, another key
ROTATED_KEY = jwk.JWK.generate(kty="RSA", size=2048, kid="corp-2")


def write_brokered_realm(
    realms_dir: Path, issuer: str, client_id: str, name: str = "brokered"
) -> None:
    (realms_dir / f"{name}.yaml").write_text(
        BROKERED_REALM.format(issuer=issuer, client_id=client_id)
    )


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


@dataclass
class FakeUpstream:
    """An OpenID provider at FAKE_ISSUER: discovery, JWKS and a token endpoint that answers
    any code with an ID token for the last authorization request it was shown."""

    signing_key: jwk.JWK = KEY
    published: list[jwk.JWK] = field(default_factory=lambda: [KEY])
    changes: dict[str, Any] = field(default_factory=dict)  # claims to override or drop (None)
    nonce: str = ""
    challenge: str = ""
    jwks_fetches: int = 0
    token_forms: list[dict[str, str]] = field(default_factory=list)
    token_auth: list[str] = field(default_factory=list)
    down: bool = False
    sends_iss: bool = False  # RFC 9207: says so in its metadata

    def saw_authorization(self, url: str) -> dict[str, str]:
        """What the browser was sent to; the fake remembers nonce and challenge."""
        query = query_of(url)
        self.nonce, self.challenge = query["nonce"], query["code_challenge"]
        return query

    def id_token(self) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": FAKE_ISSUER,
            "sub": "u-1234",
            "aud": FAKE_CLIENT_ID,
            "azp": FAKE_CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": self.nonce,
            "preferred_username": "carol",
            "email": "carol@corp.example",
            "name": "Carol Corp",
        }
        for name, value in self.changes.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        kid = self.signing_key.get("kid")
        token = jwt.JWT(header={"alg": "RS256", "kid": kid}, claims=claims)
        token.make_signed_token(self.signing_key)
        return str(token.serialize())

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        path = request.url.path
        if path == "/realms/corp/.well-known/openid-configuration":
            base = f"{FAKE_ISSUER}/protocol/openid-connect"
            return httpx.Response(
                200,
                json={
                    "issuer": FAKE_ISSUER,
                    "authorization_endpoint": f"{base}/auth",
                    "token_endpoint": f"{base}/token",
                    "jwks_uri": f"{base}/certs",
                    "authorization_response_iss_parameter_supported": self.sends_iss,
                },
            )
        if path == "/realms/corp/protocol/openid-connect/certs":
            self.jwks_fetches += 1
            keys = [json.loads(k.export_public()) for k in self.published]
            return httpx.Response(200, json={"keys": keys})
        if path == "/realms/corp/protocol/openid-connect/token":
            form = dict(parse_qsl(request.content.decode()))
            self.token_forms.append(form)
            self.token_auth.append(request.headers.get("authorization", ""))
            verifier = form.get("code_verifier", "")
            digest = hashlib.sha256(verifier.encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != self.challenge:
                return httpx.Response(400, json={"error": "invalid_grant"})
            return httpx.Response(
                200,
                json={"access_token": "at", "token_type": "Bearer", "id_token": self.id_token()},
            )
        return httpx.Response(404, json={"error": "not_found"})


def location_query(response: httpx.Response) -> dict[str, str]:
    assert response.status_code in (302, 303), (response.status_code, response.text)
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}


def continued_to(response: httpx.Response) -> str:
    """Where the callback's "Signed in" page sends the browser on (its Refresh header, and the
    same target in its link)."""
    assert response.status_code == 200, (response.status_code, response.text)
    delay, _, target = response.headers["refresh"].partition("; url=")
    assert delay == "0" and target
    assert f'href="{html.escape(target)}"' in response.text
    return target


def continued_query(response: httpx.Response) -> dict[str, str]:
    return query_of(continued_to(response))


async def start(client: httpx.AsyncClient, fake: FakeUpstream) -> tuple[str, str, str]:
    """Ask to sign in to a new client of the brokered realm and follow "Sign in with Corp SSO":
    (the client id, the PKCE verifier, the state sent to the upstream)."""
    registered = await register_public_client(client, "brokered")
    verifier, challenge = pkce()
    page = await client.get(
        auth_path("brokered"), params=auth_params(registered["client_id"], challenge)
    )
    assert page.status_code == 200 and "Sign in with Corp SSO" in page.text
    assert 'name="password"' not in page.text  # the realm has no local accounts
    link = re.search(r'href="([^"]*/broker/corp/login\?[^"]*)"', page.text)
    assert link is not None, page.text
    started = await client.get(html.unescape(link.group(1)))
    assert started.status_code == 302
    assert started.headers["location"].startswith(f"{FAKE_ISSUER}/protocol/openid-connect/auth?")
    query = fake.saw_authorization(started.headers["location"])
    return registered["client_id"], verifier, query["state"]
