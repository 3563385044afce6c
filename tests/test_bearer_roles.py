"""Bearer access tokens (RFC 6750) and Keycloak's realm-management roles (docs/reference.md §3):
the role matrix of every registration and admin operation, forged and broken tokens, and
trusted external issuers whose keys this test serves itself."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from jwcrypto import jwk, jws
from starlette.applications import Starlette

import app.auth.bearer
from app.config.settings import Settings
from tests.helpers import (
    ISSUER,
    JSON,
    RP,
    assert_error,
    assert_invalid_token,
    bearer,
    error_of,
    register,
    service_token,
    updatable,
)

pytestmark = pytest.mark.anyio

DCR = "/realms/open/clients-registrations/openid-connect"
ADMIN = "/admin/realms/open"
ROLES = ("admin", "viewer", "creator", "nobody", "anonymous")
INLINE_ISSUER = "https://idp.example.org/realms/corp"
BROKEN_ISSUER = "https://broken.example.org/realms/corp"


# --- helpers ----------------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: Any) -> str:
    return b64url(json.dumps(value).encode())


def sign(key: jwk.JWK, claims: JSON, **header: Any) -> str:
    """A compact JWS of `claims`, RS256 with the key's kid unless the header says otherwise."""
    protected = {"alg": "RS256", "typ": "JWT", "kid": key.get("kid"), **header}
    protected = {name: value for name, value in protected.items() if value is not None}
    signed = jws.JWS(json.dumps(claims).encode())
    signed.add_signature(key, alg=protected["alg"], protected=json.dumps(protected))
    token: str = signed.serialize(compact=True)
    return token


def claims_for(
    issuer: str = ISSUER, roles: tuple[str, ...] = ("manage-clients",), azp: str = "admin"
) -> JSON:
    now = int(time.time())
    return {
        "iss": issuer,
        "aud": "realm-management",
        "sub": azp,
        "azp": azp,
        "typ": "Bearer",
        "jti": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 300,
        "resource_access": {"realm-management": {"roles": list(roles)}},
    }


@pytest.fixture(name="app")
async def app_with_keys(app: Starlette) -> Starlette:
    """conftest's app, with the keys the forging helpers below read already loaded."""
    for realm in ("open", "locked"):
        await app.state.container.keyring.get(realm)
    return app


def realm_key(application: Starlette, realm: str = "open") -> jwk.JWK:
    """The realm's private signing key, to forge tokens the server must tell apart."""
    keys = application.state.container.keyring.cached(realm)
    assert keys is not None, "the app fixture loads them"
    key: jwk.JWK = keys.rsa
    return key


# --- the role matrix ----------------------------------------------------------------------------


@dataclass
class World:
    """A registered client and an initial access token for an operation to act on."""

    registered: JSON
    token_id: str

    @property
    def client_id(self) -> str:
        client_id: str = self.registered["client_id"]
        return client_id


Operation = Callable[[httpx.AsyncClient, World, dict[str, str]], Awaitable[httpx.Response]]

OPERATIONS: dict[str, Operation] = {
    "register": lambda h, w, a: h.post(DCR, json={"redirect_uris": [RP]}, headers=a),
    "read": lambda h, w, a: h.get(f"{DCR}/{w.client_id}", headers=a),
    "update": lambda h, w, a: h.put(
        f"{DCR}/{w.client_id}", json=updatable(w.registered), headers=a
    ),
    "delete": lambda h, w, a: h.delete(f"{DCR}/{w.client_id}", headers=a),
    "iat-create": lambda h, w, a: h.post(
        f"{ADMIN}/clients-initial-access", json={"count": 2}, headers=a
    ),
    "iat-list": lambda h, w, a: h.get(f"{ADMIN}/clients-initial-access", headers=a),
    "iat-delete": lambda h, w, a: h.delete(
        f"{ADMIN}/clients-initial-access/{w.token_id}", headers=a
    ),
    "clients-list": lambda h, w, a: h.get(f"{ADMIN}/clients", headers=a),
    "client-get": lambda h, w, a: h.get(f"{ADMIN}/clients/{w.client_id}", headers=a),
    "client-enable": lambda h, w, a: h.put(
        f"{ADMIN}/clients/{w.client_id}", json={"enabled": True}, headers=a
    ),
}

# operation        admin viewer creator nobody anonymous (no token, from a trusted host)
MATRIX = [
    ("register", 201, 403, 201, 403, 201),
    ("read", 200, 200, 403, 403, 401),
    ("update", 200, 403, 403, 403, 401),
    ("delete", 204, 403, 403, 403, 401),
    ("iat-create", 200, 403, 403, 403, 401),
    ("iat-list", 200, 200, 403, 403, 401),
    ("iat-delete", 204, 403, 403, 403, 401),
    ("clients-list", 200, 200, 403, 403, 401),
    ("client-get", 200, 200, 403, 403, 401),
    ("client-enable", 204, 403, 403, 403, 401),
]
CASES = [
    pytest.param(op, role, status, id=f"{op}-{role}")
    for op, *statuses in MATRIX
    for role, status in zip(ROLES, statuses, strict=True)
]


@pytest.fixture
async def world(client: httpx.AsyncClient) -> World:
    registered = await register(client)
    admin = bearer(await service_token(client, "admin"))
    created = await client.post(f"{ADMIN}/clients-initial-access", json={}, headers=admin)
    assert created.status_code == 200, created.text
    return World(registered, created.json()["id"])


def test_matrix_covers_every_operation() -> None:
    assert {row[0] for row in MATRIX} == set(OPERATIONS)


@pytest.mark.parametrize(("operation", "role", "status"), CASES)
async def test_role_matrix(
    client: httpx.AsyncClient, world: World, operation: str, role: str, status: int
) -> None:
    headers = {} if role == "anonymous" else bearer(await service_token(client, role))
    response = await OPERATIONS[operation](client, world, headers)
    assert response.status_code == status, response.text
    if status == 403:
        assert error_of(response, strict=False) == "insufficient_scope"
    elif status == 401:
        assert_invalid_token(response, strict=False)


async def test_view_only_bearer_sees_the_secret_masked(
    client: httpx.AsyncClient, world: World
) -> None:
    viewer = await client.get(
        f"{DCR}/{world.client_id}", headers=bearer(await service_token(client, "viewer"))
    )
    assert viewer.status_code == 200, viewer.text
    assert viewer.json()["client_secret"] == "**********"
    assert "registration_access_token" not in viewer.json()
    manager = await client.get(
        f"{DCR}/{world.client_id}", headers=bearer(await service_token(client, "admin"))
    )
    assert manager.json()["client_secret"] == world.registered["client_secret"]


async def test_bearer_registration_is_authenticated(client: httpx.AsyncClient) -> None:
    registered = await register(client, token=await service_token(client, "creator"))
    admin = bearer(await service_token(client, "admin"))
    shown = await client.get(f"{ADMIN}/clients/{registered['client_id']}", headers=admin)
    assert shown.json()["registrationAuth"] == "authenticated"


async def test_restricted_scope_needs_manage_clients(client: httpx.AsyncClient) -> None:
    body = {"redirect_uris": [RP], "scope": "openid admin.write"}
    creator = await client.post(
        DCR, json=body, headers=bearer(await service_token(client, "creator"))
    )
    assert creator.status_code == 403, creator.text
    assert error_of(creator, strict=False) == "insufficient_scope"
    assert "manage-clients" in creator.json()["error_description"]


@pytest.mark.parametrize("role", ["admin", "viewer"])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"{DCR}/no-such-client"),
        ("GET", f"{ADMIN}/clients/no-such-client"),
        ("PUT", f"{DCR}/no-such-client"),
        ("DELETE", f"{DCR}/no-such-client"),
        ("PUT", f"{ADMIN}/clients/no-such-client"),
    ],
)
async def test_admin_bearer_on_unknown_client_is_404(
    client: httpx.AsyncClient, method: str, path: str, role: str
) -> None:
    body: JSON = {"client_id": "no-such-client", "redirect_uris": [RP]}
    if "/admin/" in path:
        body = {"enabled": False}
    response = await client.request(
        method,
        path,
        headers=bearer(await service_token(client, role)),
        json=body if method == "PUT" else None,
    )
    readable = method == "GET"
    if readable or role == "admin":
        assert_error(response, 404, "not_found")
    else:
        assert_error(response, 403, "insufficient_scope")


async def test_deleted_client_is_404_for_an_admin(client: httpx.AsyncClient, world: World) -> None:
    admin = bearer(await service_token(client, "admin"))
    assert (await client.delete(f"{DCR}/{world.client_id}", headers=admin)).status_code == 204
    assert_error(await client.get(f"{DCR}/{world.client_id}", headers=admin), 404, "not_found")
    assert_error(
        await client.get(f"{ADMIN}/clients/{world.client_id}", headers=admin), 404, "not_found"
    )


# --- broken and forged tokens --------------------------------------------------------------------


def _alg_none(application: Starlette) -> str:
    header = {"alg": "none", "typ": "JWT"}
    return f"{b64json(header)}.{b64json(claims_for())}."


def _hs256_with_public_key(application: Starlette) -> str:
    """Key confusion: HMAC keyed with the realm's public key, which anyone can fetch."""
    public = jwk.JWK(**json.loads(realm_key(application).export_public()))
    pem: bytes = public.export_to_pem()
    header = {"alg": "HS256", "typ": "JWT", "kid": public.get("kid")}
    signing_input = f"{b64json(header)}.{b64json(claims_for())}"
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def _hs256_with_public_jwk_json(application: Starlette) -> str:
    public = realm_key(application).export_public().encode()
    header = {"alg": "HS256", "typ": "JWT"}
    signing_input = f"{b64json(header)}.{b64json(claims_for())}"
    mac = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def _wrong_kid(application: Starlette) -> str:
    return sign(realm_key(application), claims_for(), kid="not-a-kid-of-this-realm")


def _no_kid(application: Starlette) -> str:
    # without a kid the realm key still verifies it: the control for _foreign_key_no_kid
    return sign(realm_key(application), claims_for(), kid=None)


def _foreign_key_realm_kid(application: Starlette) -> str:
    stranger = jwk.JWK.generate(kty="RSA", size=2048)
    return sign(stranger, claims_for(), kid=realm_key(application).get("kid"))


def _expired(application: Starlette) -> str:
    claims = claims_for()
    claims["iat"], claims["exp"] = claims["iat"] - 7200, claims["iat"] - 3600
    return sign(realm_key(application), claims)


def _no_exp(application: Starlette) -> str:
    claims = claims_for()
    del claims["exp"]
    return sign(realm_key(application), claims)


def _string_exp(application: Starlette) -> str:
    claims = claims_for()
    claims["exp"] = str(claims["exp"])
    return sign(realm_key(application), claims)


def _future_nbf(application: Starlette) -> str:
    claims = claims_for()
    claims["nbf"] = claims["iat"] + 3600
    return sign(realm_key(application), claims)


def _refresh_typ(application: Starlette) -> str:
    return sign(realm_key(application), {**claims_for(), "typ": "Refresh"})


def _id_typ(application: Starlette) -> str:
    return sign(realm_key(application), {**claims_for(), "typ": "ID"})


def _iat_typ(application: Starlette) -> str:
    return sign(realm_key(application), {**claims_for(), "typ": "InitialAccessToken"})


def _wrong_issuer(application: Starlette) -> str:
    return sign(realm_key(application), claims_for(issuer="http://evil.example/realms/open"))


def _issuer_of_another_realm(application: Starlette) -> str:
    return sign(realm_key(application), claims_for(issuer="http://testserver/realms/locked"))


def _signed_by_another_realm(application: Starlette) -> str:
    return sign(realm_key(application, "locked"), claims_for())


def _tampered(application: Starlette) -> str:
    token = sign(realm_key(application), claims_for(roles=("view-clients",)))
    header, _, signature = token.split(".")
    return f"{header}.{b64json(claims_for())}.{signature}"


def _removed_service_account(application: Starlette) -> str:
    return sign(realm_key(application), claims_for(azp="retired-bot"))


def _deep_header(application: Starlette) -> str:
    nested = "[" * 900 + "]" * 900
    header = '{"alg":"RS256","x":' + nested + "}"
    return f"{b64url(header.encode())}.{b64json(claims_for())}.c2ln"


BAD_TOKENS: dict[str, Callable[[Starlette], str]] = {
    "alg-none": _alg_none,
    "hs256-public-key-pem": _hs256_with_public_key,
    "hs256-public-jwk": _hs256_with_public_jwk_json,
    "wrong-kid": _wrong_kid,
    "foreign-key-with-realm-kid": _foreign_key_realm_kid,
    "expired": _expired,
    "no-exp": _no_exp,
    "string-exp": _string_exp,
    "future-nbf": _future_nbf,
    "typ-refresh": _refresh_typ,
    "typ-id": _id_typ,
    "typ-initial-access-token": _iat_typ,
    "wrong-issuer": _wrong_issuer,
    "issuer-of-another-realm": _issuer_of_another_realm,
    "signed-by-another-realm": _signed_by_another_realm,
    "tampered-payload": _tampered,
    "removed-service-account": _removed_service_account,
    "deeply-nested-header": _deep_header,
}


async def test_a_forged_token_with_the_realm_key_works(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    """The control: the forging harness makes tokens the server accepts when nothing is wrong."""
    for token in (sign(realm_key(app), claims_for()), _no_kid(app)):
        response = await client.get(f"{ADMIN}/clients", headers=bearer(token))
        assert response.status_code == 200, response.text


@pytest.mark.parametrize("target", ["register", "clients-list"])
@pytest.mark.parametrize("name", list(BAD_TOKENS))
async def test_bad_bearer_is_401(
    client: httpx.AsyncClient, app: Starlette, world: World, name: str, target: str
) -> None:
    token = BAD_TOKENS[name](app)
    # a register with a bad token is 401, never a fallback to anonymous (which would be 201)
    response = await OPERATIONS[target](client, world, bearer(token))
    assert_invalid_token(response, strict=False)


async def test_token_of_another_realm_is_401(client: httpx.AsyncClient, world: World) -> None:
    foreign = await service_token(client, "admin", realm="locked")
    for target in ("register", "read", "clients-list", "iat-create"):
        assert_invalid_token(await OPERATIONS[target](client, world, bearer(foreign)), strict=False)


async def test_removing_a_role_takes_effect_at_once(
    client: httpx.AsyncClient, app: Starlette, world: World
) -> None:
    # a token claiming more than the realm file grants carries only what is granted
    token = sign(realm_key(app), claims_for(azp="viewer", roles=("view-clients", "manage-clients")))
    assert (await OPERATIONS["clients-list"](client, world, bearer(token))).status_code == 200
    assert_error(
        await OPERATIONS["iat-create"](client, world, bearer(token)), 403, "insufficient_scope"
    )


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer",
        "Bearer ",
        "Bearer a b",
        "Bearer ***",
        "Bearer not-a-jwt",
        "Bearer a.b",
        "Bearer a.b.c",
        "Bearer " + "a" * 10000,
        "Basic YWRtaW46YWRtaW4tc2VjcmV0",
        "Token abc",
        "bearerabc",
    ],
)
@pytest.mark.parametrize("target", ["register", "read", "clients-list"])
async def test_malformed_authorization_is_401(
    client: httpx.AsyncClient, world: World, authorization: str, target: str
) -> None:
    response = await OPERATIONS[target](client, world, {"Authorization": authorization})
    assert_invalid_token(response, strict=False)


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
async def test_bearer_scheme_is_case_insensitive(
    client: httpx.AsyncClient, world: World, scheme: str
) -> None:
    token = await service_token(client, "viewer")
    response = await client.get(f"{ADMIN}/clients", headers={"Authorization": f"{scheme} {token}"})
    assert response.status_code == 200, response.text


async def test_initial_and_registration_access_tokens_are_not_admin_bearers(
    client: httpx.AsyncClient, world: World
) -> None:
    admin = bearer(await service_token(client, "admin"))
    created = await client.post(f"{ADMIN}/clients-initial-access", json={}, headers=admin)
    iat = created.json()["token"]
    rat = world.registered["registration_access_token"]
    for token in (iat, rat):
        for target in ("iat-list", "clients-list", "client-get", "iat-create"):
            assert_invalid_token(
                await OPERATIONS[target](client, world, bearer(token)), strict=False
            )


# --- trusted issuers ----------------------------------------------------------------------------


@dataclass
class JwksServer:
    """A JWKS document on 127.0.0.1, served by this test; `keys` may be swapped to rotate."""

    keys: list[jwk.JWK]
    url: str = ""
    hits: int = 0
    status: int = 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def document(self) -> bytes:
        return json.dumps({"keys": [json.loads(k.export_public()) for k in self.keys]}).encode()


@pytest.fixture(scope="module")
def corp_key() -> jwk.JWK:
    return jwk.JWK.generate(kty="RSA", size=2048, kid="corp-1")


@pytest.fixture
def jwks_server(corp_key: jwk.JWK) -> Iterator[JwksServer]:
    served = JwksServer(keys=[corp_key])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            with served.lock:
                served.hits += 1
                body = served.document() if served.status == 200 else b"down"
            self.send_response(served.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Keep the test output quiet: no access log lines."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    served.url = f"http://127.0.0.1:{server.server_address[1]}/realms/corp"
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def inline_key() -> jwk.JWK:
    return jwk.JWK.generate(kty="RSA", size=2048, kid="inline-1")


TRUSTING = "/admin/realms/trusting/clients"


class TestTrustedIssuers:
    """Realm `trusting` trusts two issuers: one with inline `jwks`, one with a `jwks_uri` this
    test serves itself."""

    @pytest.fixture
    def settings(
        self, settings: Settings, realms_dir: Path, jwks_server: JwksServer, inline_key: jwk.JWK
    ) -> Settings:
        """The conftest settings, plus realm `trusting` that trusts two issuers, written before the
        app loads its realms."""
        realm = {
            "trusted_issuers": [
                {
                    "issuer": INLINE_ISSUER,
                    "jwks": {"keys": [json.loads(inline_key.export_public())]},
                },
                {
                    "issuer": jwks_server.url,
                    "jwks_uri": jwks_server.url + "/protocol/openid-connect/certs",
                },
                # a key jwcrypto cannot read: the realm loads, its tokens are refused
                {"issuer": BROKEN_ISSUER, "jwks": {"keys": [{"kty": "RSA", "n": "AQAB"}]}},
            ],
        }
        # JSON is YAML
        (realms_dir / "trusting.yaml").write_text(json.dumps(realm, indent=2))
        return settings

    async def test_token_of_a_trusted_issuer_with_inline_jwks_works(
        self, client: httpx.AsyncClient, inline_key: jwk.JWK
    ) -> None:
        token = sign(inline_key, claims_for(issuer=INLINE_ISSUER, azp="corp-ci"))
        listed = await client.get(TRUSTING, headers=bearer(token))
        assert listed.status_code == 200, listed.text
        created = await client.post(
            "/realms/trusting/clients-registrations/openid-connect",
            json={"redirect_uris": [RP]},
            headers=bearer(token),
        )
        assert created.status_code == 201, created.text
        shown = await client.get(f"{TRUSTING}/{created.json()['client_id']}", headers=bearer(token))
        assert shown.json()["registrationAuth"] == "authenticated"

    async def test_token_of_a_trusted_issuer_with_jwks_uri_is_fetched_once(
        self, client: httpx.AsyncClient, jwks_server: JwksServer
    ) -> None:
        key = jwks_server.keys[0]
        for _ in range(3):
            token = sign(key, claims_for(issuer=jwks_server.url, roles=("view-clients",)))
            response = await client.get(TRUSTING, headers=bearer(token))
            assert response.status_code == 200, response.text
        assert jwks_server.hits == 1

    async def test_trusted_token_without_the_role_is_403(
        self, client: httpx.AsyncClient, jwks_server: JwksServer
    ) -> None:
        token = sign(
            jwks_server.keys[0], claims_for(issuer=jwks_server.url, roles=("view-clients",))
        )
        response = await client.post(
            "/admin/realms/trusting/clients-initial-access", json={}, headers=bearer(token)
        )
        assert response.status_code == 403
        assert error_of(response, strict=False) == "insufficient_scope"
        without_roles = claims_for(issuer=jwks_server.url)
        del without_roles["resource_access"]
        response = await client.get(
            TRUSTING, headers=bearer(sign(jwks_server.keys[0], without_roles))
        )
        assert_error(response, 403, "insufficient_scope")

    async def test_unknown_kid_refetches_the_rotated_jwks(
        self, client: httpx.AsyncClient, jwks_server: JwksServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        old = jwks_server.keys[0]
        token = sign(old, claims_for(issuer=jwks_server.url))
        assert (await client.get(TRUSTING, headers=bearer(token))).status_code == 200
        assert jwks_server.hits == 1
        new = jwk.JWK.generate(kty="RSA", size=2048, kid="corp-2")
        jwks_server.keys = [new]
        monkeypatch.setattr(app.auth.bearer, "JWKS_MIN_REFRESH", 0.0)
        rotated = sign(new, claims_for(issuer=jwks_server.url))
        response = await client.get(TRUSTING, headers=bearer(rotated))
        assert response.status_code == 200, response.text
        assert jwks_server.hits == 2
        # the retired key is gone from the fetched set: its tokens no longer verify
        assert_invalid_token(await client.get(TRUSTING, headers=bearer(token)), strict=False)

    async def test_unknown_kid_refetches_at_most_once_per_interval(
        self, client: httpx.AsyncClient, jwks_server: JwksServer
    ) -> None:
        old = jwks_server.keys[0]
        token = sign(old, claims_for(issuer=jwks_server.url))
        assert (await client.get(TRUSTING, headers=bearer(token))).status_code == 200
        for n in range(5):
            made_up = sign(old, claims_for(issuer=jwks_server.url), kid=f"made-up-{n}")
            assert_invalid_token(await client.get(TRUSTING, headers=bearer(made_up)), strict=False)
        assert jwks_server.hits == 1

    async def test_unreachable_jwks_uri_is_401(
        self, client: httpx.AsyncClient, jwks_server: JwksServer
    ) -> None:
        jwks_server.status = 500
        token = sign(jwks_server.keys[0], claims_for(issuer=jwks_server.url))
        for _ in range(3):
            assert_invalid_token(await client.get(TRUSTING, headers=bearer(token)), strict=False)
        assert jwks_server.hits == 1  # a dead issuer is not asked again at once

    async def test_jwks_uri_not_serving_json_is_401(
        self, client: httpx.AsyncClient, jwks_server: JwksServer
    ) -> None:
        jwks_server.keys = []
        token = sign(
            jwk.JWK.generate(kty="RSA", size=2048, kid="corp-1"), claims_for(issuer=jwks_server.url)
        )
        assert_invalid_token(await client.get(TRUSTING, headers=bearer(token)), strict=False)

    @pytest.mark.parametrize(
        "mutate",
        ["foreign-key", "expired", "future-nbf", "typ-refresh", "hs256-public-key", "alg-none"],
    )
    async def test_bad_token_of_a_trusted_issuer_is_401(
        self, client: httpx.AsyncClient, jwks_server: JwksServer, mutate: str
    ) -> None:
        key = jwks_server.keys[0]
        claims = claims_for(issuer=jwks_server.url)
        now = int(time.time())
        if mutate == "foreign-key":
            token = sign(jwk.JWK.generate(kty="RSA", size=2048), claims, kid=key.get("kid"))
        elif mutate == "expired":
            token = sign(key, {**claims, "exp": now - 3600})
        elif mutate == "future-nbf":
            token = sign(key, {**claims, "nbf": now + 3600})
        elif mutate == "typ-refresh":
            token = sign(key, {**claims, "typ": "Refresh"})
        elif mutate == "hs256-public-key":
            pem: bytes = jwk.JWK(**json.loads(key.export_public())).export_to_pem()
            signing_input = f"{b64json({'alg': 'HS256', 'kid': key.get('kid')})}.{b64json(claims)}"
            mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
            token = f"{signing_input}.{b64url(mac)}"
        else:
            token = f"{b64json({'alg': 'none'})}.{b64json(claims)}."
        assert_invalid_token(await client.get(TRUSTING, headers=bearer(token)), strict=False)

    async def test_trusted_issuer_of_one_realm_is_not_trusted_by_another(
        self, client: httpx.AsyncClient, inline_key: jwk.JWK
    ) -> None:
        token = sign(inline_key, claims_for(issuer=INLINE_ISSUER))
        assert_invalid_token(
            await client.get(f"{ADMIN}/clients", headers=bearer(token)), strict=False
        )

    async def test_own_realm_tokens_still_work_in_a_trusting_realm(
        self,
        client: httpx.AsyncClient,
    ) -> None:
        # realm `trusting` has no service accounts: its own token endpoint issues nothing
        response = await client.post(
            "/realms/trusting/protocol/openid-connect/token",
            data={"grant_type": "client_credentials"},
            auth=("admin", "admin-secret"),
        )
        assert_error(response, 401, "invalid_client")

    async def test_trusted_issuer_with_unreadable_inline_keys_is_401(
        self, client: httpx.AsyncClient, inline_key: jwk.JWK
    ) -> None:
        token = sign(inline_key, claims_for(issuer=BROKEN_ISSUER))
        assert_invalid_token(await client.get(TRUSTING, headers=bearer(token)), strict=False)
