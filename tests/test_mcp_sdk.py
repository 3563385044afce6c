"""The MCP Python SDK, unmodified, signs in end to end (docs/reference.md §6): its OAuth client
provider meets a small protected resource run by the test, which answers 401 with
`WWW-Authenticate: Bearer resource_metadata=...` (RFC 9728 §5.1) and names a registrar realm as
its authorization server. The SDK discovers the realm (RFC 8414), registers itself (RFC 7591),
sends the user to the authorization URL — where the test signs in and consents by posting the
forms — redeems the code with PKCE, and calls again with the token, which the resource accepts
only after checking its signature by the realm's JWKS and its audience (RFC 8707, RFC 9068).

Everything runs in-process: the SDK's HTTP client reaches the resource and registrar through
ASGI transports chosen by host name."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import httpx2
import pytest
from jwcrypto import jwk, jwt
from jwcrypto.common import JWException
from mcp.client.auth import OAuthClientProvider
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)
from pydantic import AnyUrl
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.broker_flow import location_query
from tests.signin_flow import PASSWORD, people_realms, post_form

pytestmark = pytest.mark.anyio
REALM = "consenting"  # a realm that asks for consent: the SDK's user posts both forms
ISSUER = f"http://testserver/realms/{REALM}"
RESOURCE = "http://resource.test/mcp"
RESOURCE_METADATA = "http://resource.test/.well-known/oauth-protected-resource/mcp"
REDIRECT = "http://127.0.0.1:33418/callback"


@pytest.fixture
def realms_dir(tmp_path: Path) -> Path:
    return people_realms(tmp_path)


def protected_resource(registrar: httpx.AsyncClient) -> Starlette:
    """An MCP server's authorization side: RFC 9728 metadata, and a bearer check."""

    async def metadata(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "resource": RESOURCE,
                "authorization_servers": [ISSUER],
                "scopes_supported": ["openid", "profile"],
                "bearer_methods_supported": ["header"],
            }
        )

    def challenge(error: str | None = None) -> JSONResponse:
        value = f'Bearer resource_metadata="{RESOURCE_METADATA}"'
        if error:
            value += f', error="{error}"'
        return JSONResponse({"error": error or "unauthorized"}, 401, {"WWW-Authenticate": value})

    async def mcp(request: Request) -> JSONResponse:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return challenge()
        certs = await registrar.get(f"/realms/{REALM}/protocol/openid-connect/certs")
        try:
            checked = jwt.JWT(
                jwt=token, key=jwk.JWKSet.from_json(certs.text), algs=["RS256"],
                expected_type="JWS",
            )  # fmt: skip
        except (JWException, ValueError):
            return challenge("invalid_token")
        claims = jwt.json_decode(checked.claims)
        header = jwt.json_decode(checked.header)
        # RFC 9068 §4: typ at+jwt, the issuer, an audience naming this resource, not expired
        if (
            header.get("typ") != "at+jwt"
            or claims.get("iss") != ISSUER
            or RESOURCE
            not in ([claims["aud"]] if isinstance(claims["aud"], str) else claims["aud"])
            or claims["exp"] <= time.time()
        ):
            return challenge("invalid_token")
        return JSONResponse({"hello": claims["sub"], "scope": claims.get("scope")})

    return Starlette(
        routes=[
            Route("/.well-known/oauth-protected-resource/mcp", metadata),
            Route("/mcp", mcp, methods=["GET", "POST"]),
        ]
    )


class ByHost(httpx2.AsyncBaseTransport):
    """The SDK's requests, each to the in-process app of its host."""

    def __init__(self, apps: dict[str, httpx2.AsyncBaseTransport]) -> None:
        self.apps = apps
        self.seen: list[str] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.seen.append(f"{request.method} {request.url}")
        return await self.apps[request.url.host].handle_async_request(request)


class MemoryStorage:
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


async def test_the_mcp_sdk_registers_signs_in_and_calls_the_resource(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    arrived: list[dict[str, str]] = []

    async def sign_in(authorization_url: str) -> None:
        """The person at the browser: the login form, then the consent form."""
        assert authorization_url.startswith(f"{ISSUER}/protocol/openid-connect/auth?")
        login = await client.get(authorization_url)
        consent = await post_form(client, login, username="alice", password=PASSWORD)
        assert "asks for access" in consent.text
        done = await post_form(client, consent, accept="yes")
        assert done.headers["location"].startswith(REDIRECT + "?")
        arrived.append(location_query(done))

    async def callback() -> AuthorizationCodeResult:
        query = arrived[-1]
        return AuthorizationCodeResult(code=query["code"], state=query["state"], iss=query["iss"])

    storage = MemoryStorage()
    provider = OAuthClientProvider(
        server_url=RESOURCE,
        client_metadata=OAuthClientMetadata(
            client_name="MCP SDK client",
            redirect_uris=[AnyUrl(REDIRECT)],
            grant_types=["authorization_code", "refresh_token"],
        ),
        storage=storage,
        redirect_handler=sign_in,
        callback_handler=callback,
    )
    transport = ByHost(
        {
            "resource.test": httpx2.ASGITransport(app=protected_resource(client)),
            "testserver": httpx2.ASGITransport(app=app, client=("127.0.0.1", 50000)),
        }
    )
    async with httpx2.AsyncClient(transport=transport, auth=provider) as sdk:
        answer = await sdk.get(RESOURCE)
        assert answer.status_code == 200, answer.text
        assert answer.json()["hello"] == "alice"
        # the resource's scopes, and offline_access the SDK adds for its refresh token
        assert {"openid", "profile"} <= set(answer.json()["scope"].split())
        # the next call reuses the token: no new sign-in
        assert (await sdk.get(RESOURCE)).status_code == 200
    assert len(arrived) == 1
    # the resource's check can fail: a token with a broken signature is refused
    assert storage.tokens is not None
    token = storage.tokens.access_token
    forged = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
    async with httpx2.AsyncClient(transport=transport) as plain:
        refused = await plain.get(RESOURCE, headers={"Authorization": f"Bearer {forged}"})
        assert (
            refused.status_code == 401
            and 'error="invalid_token"' in refused.headers["www-authenticate"]
        )
    assert storage.client_info is not None and storage.client_info.client_id
    assert storage.tokens is not None and storage.tokens.refresh_token
    # the SDK found everything by discovery: the resource's metadata, then the realm's
    assert f"GET {RESOURCE_METADATA}" in transport.seen
    assert any(s.startswith(f"POST {ISSUER}/clients-registrations/") for s in transport.seen)
    assert f"POST {ISSUER}/protocol/openid-connect/token" in transport.seen
