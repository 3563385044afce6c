"""Helpers shared by the black-box HTTP tests: register, get an admin bearer, read a JWS, check
an error answer, wait for something with a deadline."""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

JSON = dict[str, Any]
T = TypeVar("T")

# the realms every in-process app and live server starts with (copied per test)
APP_REALMS = Path(__file__).parent / "app_realms"
TEST_SECRET_KEY = "q8Qk3mJm7yIYc4tB8v1P0t2XhC3lE6cT0wq9t2uL6sA"

ISSUER = "http://testserver/realms/open"
RP = "https://rp.example.org/cb"


def dcr_path(realm: str = "open") -> str:
    return f"/realms/{realm}/clients-registrations/openid-connect"


def token_path(realm: str = "open") -> str:
    return f"/realms/{realm}/protocol/openid-connect/token"


def iat_path(realm: str = "open") -> str:
    return f"/admin/realms/{realm}/clients-initial-access"


def clients_path(realm: str = "open") -> str:
    return f"/admin/realms/{realm}/clients"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(client_id: str, secret: str) -> str:
    """client_secret_basic (RFC 6749 §2.3.1); these ids and secrets need no form-encoding."""
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


async def post_client(
    http: httpx.AsyncClient, body: Any, realm: str = "open", token: str | None = None
) -> httpx.Response:
    """POST a registration request; `body` goes out as JSON whatever its type."""
    return await http.post(dcr_path(realm), json=body, headers=bearer(token) if token else {})


async def register(
    http: httpx.AsyncClient, realm: str = "open", token: str | None = None, **metadata: Any
) -> JSON:
    """Register a client (redirect_uris defaults to one https URI) and return the 201 body."""
    body: JSON = {"redirect_uris": [RP], **metadata}
    response = await post_client(http, body, realm, token)
    assert response.status_code == 201, response.text
    reply: JSON = response.json()
    return reply


def client_path(registered: JSON) -> str:
    """The path part of a registration_client_uri (the in-process client's base is testserver)."""
    uri: str = registered["registration_client_uri"]
    return httpx.URL(uri).path


async def get_client(http: httpx.AsyncClient, registered: JSON, rat: str) -> httpx.Response:
    return await http.get(client_path(registered), headers=bearer(rat))


async def put_client(
    http: httpx.AsyncClient, registered: JSON, rat: str, body: JSON
) -> httpx.Response:
    return await http.put(client_path(registered), json=body, headers=bearer(rat))


async def delete_client(http: httpx.AsyncClient, registered: JSON, rat: str) -> httpx.Response:
    return await http.delete(client_path(registered), headers=bearer(rat))


def rat_of(registered: JSON) -> str:
    rat: str = registered["registration_access_token"]
    return rat


async def access_token(
    http: httpx.AsyncClient,
    realm: str = "open",
    client_id: str = "admin",
    secret: str = "",
    *,
    base_url: str = "",
) -> httpx.Response:
    """client_credentials at the realm's token endpoint, with client_secret_basic; `base_url` for
    a client that has none of its own (a live server's)."""
    return await http.post(
        base_url + token_path(realm),
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret or f"{client_id}-secret"),
    )


async def service_token(
    http: httpx.AsyncClient, name: str = "admin", realm: str = "open", *, base_url: str = ""
) -> str:
    """The access token of the service account `name` (its secret is `<name>-secret`)."""
    response = await access_token(http, realm, name, base_url=base_url)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def admin_token(http: httpx.AsyncClient, realm: str = "open") -> str:
    return await service_token(http, "admin", realm)


async def admin(
    http: httpx.AsyncClient, realm: str = "open", name: str = "admin", *, base_url: str = ""
) -> dict[str, str]:
    """Bearer headers for a service account: the realm's admin unless `name` says otherwise."""
    return bearer(await service_token(http, name, realm, base_url=base_url))


async def initial_access_token(http: httpx.AsyncClient, realm: str = "open", count: int = 1) -> str:
    response = await http.post(
        iat_path(realm),
        json={"count": count},
        headers=bearer(await admin_token(http, realm)),
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def error_of(response: httpx.Response, *, strict: bool = True) -> str:
    """The `error` of an RFC-shaped error body, checking the body has both members: a JSON object
    with a non-empty error_description. With strict=False, only that error_description is a
    string."""
    if strict:
        assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    if strict:
        assert isinstance(body, dict), body
        assert isinstance(body.get("error_description"), str) and body["error_description"], body
    else:
        assert isinstance(body.get("error_description"), str), body
    error: str = body["error"]
    return error


# the `error` codes an error answer of each status may carry
ERROR_CODES: dict[int, frozenset[str]] = {
    400: frozenset(
        {
            "invalid_request",
            "invalid_client_metadata",
            "invalid_redirect_uri",
            "invalid_scope",
            "unsupported_grant_type",
            "unauthorized_client",
            "invalid_grant",
            "invalid_software_statement",
            "unapproved_software_statement",
        }
    ),
    401: frozenset({"invalid_token", "invalid_client"}),
    403: frozenset({"insufficient_scope"}),
    404: frozenset({"not_found"}),
    405: frozenset({"invalid_request"}),
    408: frozenset({"invalid_request"}),
    413: frozenset({"invalid_request"}),
    414: frozenset({"invalid_request"}),
    415: frozenset({"invalid_request"}),
    431: frozenset({"invalid_request"}),
    503: frozenset({"temporarily_unavailable"}),
}


def assert_error(response: httpx.Response, status: int, error: str) -> None:
    """An RFC-shaped JSON error answer (see error_of) with this status and this `error` code."""
    assert response.status_code == status, response.text
    assert error_of(response) == error, response.text


def assert_invalid_token(response: httpx.Response, *, strict: bool = True) -> None:
    """401 invalid_token with an RFC 6750 §3 Bearer challenge: exactly
    `Bearer error="invalid_token"`; with strict=False, any Bearer challenge, and error_of's
    strict=False check of the body."""
    assert response.status_code == 401, response.text
    assert error_of(response, strict=strict) == "invalid_token"
    challenge = response.headers["www-authenticate"]
    if strict:
        assert challenge == 'Bearer error="invalid_token"', response.headers
    else:
        assert challenge.startswith("Bearer"), response.headers


def _b64url_json(part: str) -> JSON:
    decoded: JSON = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def jws_parts(token: str) -> tuple[JSON, JSON]:
    """Header and payload of a compact JWS, unverified."""
    header, payload, signature = token.split(".")
    assert signature
    return _b64url_json(header), _b64url_json(payload)


def payload_of(token: str) -> JSON:
    """The payload of a compact JWS, unverified."""
    return _b64url_json(token.split(".")[1])


def updatable(registered: JSON) -> JSON:
    """The body a client sends back on PUT: what it got, less the read-only members."""
    read_only = {
        "registration_access_token",
        "registration_client_uri",
        "client_id_issued_at",
        "client_secret_expires_at",
    }
    return {k: v for k, v in registered.items() if k not in read_only}


# Every member of RFC 7591 §2 and OIDC DCR 1.0 §2 (plus the logout, RFC 8705 and RFC 9449
# members), with values a web client using code and implicit flows may register together.
RFC7591_METADATA: JSON = {
    "redirect_uris": [RP, "https://rp.example.org/other"],
    "token_endpoint_auth_method": "private_key_jwt",
    "grant_types": ["authorization_code", "implicit", "refresh_token"],
    "response_types": ["code", "code id_token", "id_token token"],
    "client_name": "Example RP",
    "client_name#ja-Jpan-JP": "クライアント名",
    "client_uri": "https://rp.example.org/",
    "logo_uri": "https://rp.example.org/logo.png",
    "logo_uri#fr": "https://rp.example.org/logo-fr.png",
    "scope": "openid profile email",
    "contacts": ["ops@rp.example.org", "dev@rp.example.org"],
    "tos_uri": "https://rp.example.org/tos",
    "tos_uri#de": "https://rp.example.org/agb",
    "policy_uri": "https://rp.example.org/privacy",
    "jwks_uri": "https://rp.example.org/jwks.json",
    "software_id": "4NRB1-0XZABZI9E6-5SM3R",
    "software_version": "2.1",
    "software_statement": "eyJhbGciOiJSUzI1NiJ9.eyJzb2Z0d2FyZV9pZCI6IjQifQ.c2ln",
}
OIDC_METADATA: JSON = {
    "application_type": "web",
    "sector_identifier_uri": "https://rp.example.org/sector.json",
    "subject_type": "pairwise",
    "id_token_signed_response_alg": "ES256",
    "id_token_encrypted_response_alg": "RSA-OAEP-256",
    "id_token_encrypted_response_enc": "A256GCM",
    "userinfo_signed_response_alg": "RS256",
    "userinfo_encrypted_response_alg": "ECDH-ES",
    "userinfo_encrypted_response_enc": "A128GCM",
    "request_object_signing_alg": "PS256",
    "request_object_encryption_alg": "RSA-OAEP",
    "request_object_encryption_enc": "A192GCM",
    "token_endpoint_auth_signing_alg": "ES384",
    "default_max_age": 3600,
    "require_auth_time": True,
    "default_acr_values": ["urn:mace:incommon:iap:silver", "1"],
    "initiate_login_uri": "https://rp.example.org/login",
    "request_uris": ["https://rp.example.org/req.jwt#GkurKxf5T0Y-mnPFCHqWOMiZi4VS138cQO_V7PZHAdM"],
    "post_logout_redirect_uris": ["https://rp.example.org/bye", "com.example.rp:/bye"],
    "frontchannel_logout_uri": "https://rp.example.org/fc-logout?x=1",
    "frontchannel_logout_session_required": True,
    "backchannel_logout_uri": "https://rp.example.org/bc-logout",
    "backchannel_logout_session_required": False,
    "tls_client_certificate_bound_access_tokens": True,
    "dpop_bound_access_tokens": False,
}
# RFC7591_METADATA without the language-tagged (`#`) variants: one value for each member.
RFC7591_MEMBERS: JSON = {name: value for name, value in RFC7591_METADATA.items() if "#" not in name}
JWKS: JSON = {"keys": [{"kty": "EC", "crv": "P-256", "x": "f83O", "y": "x_FE", "use": "sig"}]}
METADATA_MEMBERS: tuple[str, ...] = tuple(sorted({*RFC7591_MEMBERS, *OIDC_METADATA, "jwks"}))


# --- waiting with a deadline --------------------------------------------------------------------


def wait_until(
    predicate: Callable[[], T], *, timeout: float, what: str, interval: float = 0.05
) -> T:
    """Call `predicate` every `interval` seconds until it returns something true, and return that;
    fail with "timed out after N s waiting for <what>" once `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


async def async_wait_until(
    predicate: Callable[[], object], *, timeout: float, what: str, interval: float = 0.05
) -> None:
    """wait_until on the event loop: `predicate` is a plain or an async function (its result
    awaited), and the loop runs other tasks between two calls."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if loop.time() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(interval)
