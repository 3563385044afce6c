"""The realm token endpoint (RFC 6749 §4.4 client_credentials, §2.3.1 client authentication,
§5.2 errors) and RFC 7662 introspection, through HTTP (docs/reference.md §3)."""

from __future__ import annotations

import base64
import time
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
from jwcrypto import jwk, jws
from starlette.applications import Starlette

from app.store.queries import Store
from tests.helpers import (
    ISSUER,
    JSON,
    assert_error,
    bearer,
    error_of,
    payload_of,
    service_token,
)

pytestmark = pytest.mark.anyio

TOKEN = "/realms/open/protocol/openid-connect/token"
INTROSPECT = "/realms/open/protocol/openid-connect/token/introspect"
DCR = "/realms/open/clients-registrations/openid-connect"
CLIENT_CREDENTIALS = {"grant_type": "client_credentials"}


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def header_of(token: str) -> JSON:
    part = token.split(".")[0]
    header: JSON = httpx.Response(200, content=base64.urlsafe_b64decode(part + "==")).json()
    return header


async def register_service(http: httpx.AsyncClient, **metadata: Any) -> JSON:
    """A confidential client registered (anonymously, from loopback) for client_credentials."""
    body: JSON = {"grant_types": ["client_credentials"], "client_name": "worker", **metadata}
    response = await http.post(DCR, json=body)
    assert response.status_code == 201, response.text
    registered: JSON = response.json()
    return registered


async def token_of(client: httpx.AsyncClient, registered: JSON) -> httpx.Response:
    """client_credentials at the open realm's token endpoint, as a registered client."""
    return await client.post(
        TOKEN,
        data=CLIENT_CREDENTIALS,
        headers=basic(registered["client_id"], registered["client_secret"]),
    )


async def introspect(http: httpx.AsyncClient, token: str) -> JSON:
    response = await http.post(
        INTROSPECT, data={"token": token}, headers=basic("viewer", "viewer-secret")
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: JSON = response.json()
    return body


# --- client_credentials for service accounts -------------------------------------------------


async def test_service_account_gets_token_with_client_secret_basic(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        TOKEN, data=CLIENT_CREDENTIALS, headers=basic("admin", "admin-secret")
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] > 0
    assert isinstance(body["access_token"], str)
    # RFC 6749 §5.1: "Cache-Control: no-store" and "Pragma: no-cache"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"


async def test_service_account_gets_token_with_client_secret_post(
    client: httpx.AsyncClient,
) -> None:
    form = {**CLIENT_CREDENTIALS, "client_id": "viewer", "client_secret": "viewer-secret"}
    response = await client.post(TOKEN, data=form)
    assert response.status_code == 200, response.text
    assert payload_of(response.json()["access_token"])["azp"] == "viewer"


async def test_basic_credentials_are_form_urlencoded_before_base64(
    client: httpx.AsyncClient,
) -> None:
    # RFC 6749 §2.3.1: the client id and secret are form-urlencoded, then Basic-encoded
    client_id, secret = "ops:bot", "p@ss w+rd%:é"
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}"
    headers = {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}
    response = await client.post(
        "/realms/encoded/protocol/openid-connect/token", data=CLIENT_CREDENTIALS, headers=headers
    )
    assert response.status_code == 200, response.text
    assert payload_of(response.json()["access_token"])["azp"] == client_id
    # the same id and secret by client_secret_post need only the form's own encoding
    form = {**CLIENT_CREDENTIALS, "client_id": client_id, "client_secret": secret}
    response = await client.post("/realms/encoded/protocol/openid-connect/token", data=form)
    assert response.status_code == 200, response.text


async def test_secret_with_reserved_characters_is_url_decoded_from_basic(
    client: httpx.AsyncClient,
) -> None:
    registered = await register_service(client)
    secret: str = registered["client_secret"]
    # '+' and '%' travel encoded: an unencoded '+' would decode to a space
    raw = f"{quote(registered['client_id'], safe='')}:{quote(secret, safe='')}"
    headers = {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}
    assert (await client.post(TOKEN, data=CLIENT_CREDENTIALS, headers=headers)).status_code == 200


async def test_basic_scheme_is_case_insensitive(client: httpx.AsyncClient) -> None:
    headers = basic("admin", "admin-secret")
    headers["Authorization"] = headers["Authorization"].replace("Basic", "bAsIc")
    response = await client.post(TOKEN, data=CLIENT_CREDENTIALS, headers=headers)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("headers", "form"),
    [
        (basic("admin", "wrong"), {}),
        (basic("admin", ""), {}),
        (basic("ghost", "ghost-secret"), {}),
        (basic("admin", "viewer-secret"), {}),
        ({}, {"client_id": "admin", "client_secret": "wrong"}),
        ({}, {"client_id": "admin"}),
        ({}, {}),
        ({"Authorization": "Basic !!!not-base64"}, {}),
        ({"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()}, {}),
        ({"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:x").decode()}, {}),
        ({"Authorization": "Basic"}, {}),
        (basic("x" * 5000, "y"), {}),
    ],
)
async def test_bad_client_credentials_are_401_invalid_client(
    client: httpx.AsyncClient, headers: dict[str, str], form: dict[str, str]
) -> None:
    response = await client.post(TOKEN, data={**CLIENT_CREDENTIALS, **form}, headers=headers)
    assert response.status_code == 401, response.text
    assert error_of(response, strict=False) == "invalid_client"
    # RFC 6749 §5.2: 401 with a WWW-Authenticate matching the scheme the client used
    assert response.headers["www-authenticate"].startswith("Basic")


async def test_basic_and_post_credentials_at_once_are_400(client: httpx.AsyncClient) -> None:
    form = {**CLIENT_CREDENTIALS, "client_id": "admin", "client_secret": "admin-secret"}
    response = await client.post(TOKEN, data=form, headers=basic("admin", "admin-secret"))
    assert response.status_code == 400, response.text
    assert error_of(response, strict=False) == "invalid_request"


async def test_client_id_in_form_differing_from_basic_is_400(client: httpx.AsyncClient) -> None:
    form = {**CLIENT_CREDENTIALS, "client_id": "viewer"}
    response = await client.post(TOKEN, data=form, headers=basic("admin", "admin-secret"))
    assert response.status_code == 400, response.text
    assert error_of(response, strict=False) == "invalid_request"


async def test_missing_grant_type_is_400_invalid_request(client: httpx.AsyncClient) -> None:
    headers = {
        **basic("admin", "admin-secret"),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    for body in (b"", b"scope=profile", b"grant_type="):
        response = await client.post(TOKEN, content=body, headers=headers)
        assert response.status_code == 400, response.text
        assert error_of(response, strict=False) == "invalid_request"
    assert error_of(response, strict=False) == "invalid_request"


@pytest.mark.parametrize("grant_type", ["password", "implicit", "x"])
async def test_unsupported_grant_is_400_unsupported_grant_type(
    client: httpx.AsyncClient, grant_type: str
) -> None:
    response = await client.post(
        TOKEN, data={"grant_type": grant_type}, headers=basic("admin", "admin-secret")
    )
    assert response.status_code == 400, response.text
    assert error_of(response, strict=False) == "unsupported_grant_type"


@pytest.mark.parametrize("grant_type", ["authorization_code", "refresh_token"])
async def test_a_service_account_has_no_user_grants(
    client: httpx.AsyncClient, grant_type: str
) -> None:
    """The code and refresh grants serve signed-in users (tests/test_signin_tokens.py)."""
    response = await client.post(
        TOKEN, data={"grant_type": grant_type}, headers=basic("admin", "admin-secret")
    )
    assert response.status_code == 400, response.text
    assert error_of(response, strict=False) == "unauthorized_client"


async def test_repeated_parameter_is_400(client: httpx.AsyncClient) -> None:
    body = "grant_type=client_credentials&grant_type=client_credentials"
    response = await client.post(
        TOKEN,
        content=body,
        headers={
            **basic("admin", "admin-secret"),
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert response.status_code == 400, response.text
    assert error_of(response, strict=False) == "invalid_request"


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", None])
async def test_wrong_content_type_is_415(
    client: httpx.AsyncClient, content_type: str | None
) -> None:
    headers = basic("admin", "admin-secret")
    if content_type:
        headers["Content-Type"] = content_type
    response = await client.post(
        TOKEN, content=b'{"grant_type": "client_credentials"}', headers=headers
    )
    assert_error(response, 415, "invalid_request")


async def test_form_content_type_with_charset_is_accepted(client: httpx.AsyncClient) -> None:
    headers = {
        **basic("admin", "admin-secret"),
        "Content-Type": "application/x-www-form-urlencoded; charset=UTF-8",
    }
    response = await client.post(TOKEN, content=b"grant_type=client_credentials", headers=headers)
    assert response.status_code == 200, response.text


async def test_token_endpoint_of_unknown_or_disabled_realm_is_404(
    client: httpx.AsyncClient,
) -> None:
    for realm in ("nowhere", "hidden"):
        response = await client.post(
            f"/realms/{realm}/protocol/openid-connect/token",
            data=CLIENT_CREDENTIALS,
            headers=basic("admin", "admin-secret"),
        )
        assert response.status_code == 404, (realm, response.text)
        assert error_of(response) == "not_found", realm


async def test_get_on_token_endpoint_is_405(client: httpx.AsyncClient) -> None:
    assert_error(await client.get(TOKEN), 405, "invalid_request")


async def test_service_account_scope_must_be_a_realm_scope(client: httpx.AsyncClient) -> None:
    form = {**CLIENT_CREDENTIALS, "scope": "profile no-such-scope"}
    response = await client.post(TOKEN, data=form, headers=basic("admin", "admin-secret"))
    assert response.status_code == 400, response.text
    assert error_of(response, strict=False) == "invalid_scope"
    form = {**CLIENT_CREDENTIALS, "scope": "profile email"}
    response = await client.post(TOKEN, data=form, headers=basic("admin", "admin-secret"))
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "profile email"


# --- the access token ---------------------------------------------------------------------------


async def test_access_token_claims_are_keycloak_shaped(client: httpx.AsyncClient) -> None:
    before = int(time.time())
    token = await service_token(client, "admin")
    claims = payload_of(token)
    assert claims["iss"] == ISSUER
    assert claims["aud"]
    assert claims["azp"] == "admin"
    assert claims["typ"] == "Bearer"
    assert isinstance(claims["jti"], str) and claims["jti"]
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] > claims["iat"]
    assert claims["resource_access"] == {"realm-management": {"roles": ["manage-clients"]}}


async def test_every_token_has_its_own_jti(client: httpx.AsyncClient) -> None:
    first, second = await service_token(client), await service_token(client)
    assert payload_of(first)["jti"] != payload_of(second)["jti"]


async def test_access_token_is_rs256_with_a_kid_of_the_realm_jwks(
    client: httpx.AsyncClient,
) -> None:
    token = await service_token(client, "viewer")
    header = header_of(token)
    assert header["alg"] == "RS256"
    certs = (await client.get("/realms/open/protocol/openid-connect/certs")).json()
    keys = {key["kid"]: key for key in certs["keys"]}
    assert header["kid"] in keys
    # the JWKS verifies the token: a resource server can check it offline
    signed = jws.JWS()
    signed.deserialize(token)
    signed.verify(jwk.JWK(**keys[header["kid"]]), alg="RS256")
    assert payload_of(token)["resource_access"]["realm-management"]["roles"] == ["view-clients"]


async def test_service_account_without_roles_gets_a_token_without_roles(
    client: httpx.AsyncClient,
) -> None:
    claims = payload_of(await service_token(client, "nobody"))
    roles = claims.get("resource_access", {}).get("realm-management", {}).get("roles", [])
    assert roles == []


# --- client_credentials for registered clients ------------------------------------------------


async def test_registered_client_gets_a_token_with_its_scope_and_no_roles(
    client: httpx.AsyncClient,
) -> None:
    registered = await register_service(client, scope="profile phone")
    response = await token_of(client, registered)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == "profile phone"
    claims = payload_of(body["access_token"])
    assert claims["azp"] == registered["client_id"]
    assert claims["scope"] == "profile phone"
    assert "resource_access" not in claims
    # a registered client's token opens no admin door
    listed = await client.get("/admin/realms/open/clients", headers=bearer(body["access_token"]))
    assert_error(listed, 403, "insufficient_scope")


async def test_registered_client_may_narrow_but_not_widen_its_scope(
    client: httpx.AsyncClient,
) -> None:
    registered = await register_service(client, scope="profile phone")
    creds = basic(registered["client_id"], registered["client_secret"])
    narrowed = await client.post(
        TOKEN, data={**CLIENT_CREDENTIALS, "scope": "phone"}, headers=creds
    )
    assert narrowed.status_code == 200, narrowed.text
    assert narrowed.json()["scope"] == "phone"
    widened = await client.post(TOKEN, data={**CLIENT_CREDENTIALS, "scope": "email"}, headers=creds)
    assert widened.status_code == 400
    assert error_of(widened, strict=False) == "invalid_scope"


async def test_registered_client_with_client_secret_post(client: httpx.AsyncClient) -> None:
    registered = await register_service(client, token_endpoint_auth_method="client_secret_post")
    form = {
        **CLIENT_CREDENTIALS,
        "client_id": registered["client_id"],
        "client_secret": registered["client_secret"],
    }
    assert (await client.post(TOKEN, data=form)).status_code == 200


async def test_registered_client_without_the_grant_is_400_unauthorized_client(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(DCR, json={"redirect_uris": ["https://rp.example.org/cb"]})
    assert response.status_code == 201, response.text
    registered = response.json()
    token = await client.post(
        TOKEN,
        data=CLIENT_CREDENTIALS,
        headers=basic(registered["client_id"], registered["client_secret"]),
    )
    assert token.status_code == 400, token.text
    assert error_of(token, strict=False) == "unauthorized_client"


async def test_registered_client_with_a_wrong_secret_is_401(client: httpx.AsyncClient) -> None:
    registered = await register_service(client)
    response = await client.post(
        TOKEN, data=CLIENT_CREDENTIALS, headers=basic(registered["client_id"], "not-the-secret")
    )
    assert response.status_code == 401
    assert error_of(response, strict=False) == "invalid_client"


async def test_deleted_client_gets_no_token(client: httpx.AsyncClient) -> None:
    registered = await register_service(client)
    path = httpx.URL(registered["registration_client_uri"]).path
    deleted = await client.delete(path, headers=bearer(registered["registration_access_token"]))
    assert deleted.status_code == 204
    response = await token_of(client, registered)
    assert response.status_code == 401
    assert error_of(response, strict=False) == "invalid_client"


async def test_disabled_client_gets_no_token(client: httpx.AsyncClient) -> None:
    registered = await register_service(client)
    admin = await service_token(client)
    disabled = await client.put(
        f"/admin/realms/open/clients/{registered['client_id']}",
        json={"enabled": False},
        headers=bearer(admin),
    )
    assert disabled.status_code == 204
    response = await token_of(client, registered)
    assert response.status_code == 401
    assert error_of(response, strict=False) == "invalid_client"


async def test_client_of_another_realm_gets_no_token(client: httpx.AsyncClient) -> None:
    registered = await register_service(client)
    response = await client.post(
        "/realms/steady/protocol/openid-connect/token",
        data=CLIENT_CREDENTIALS,
        headers=basic(registered["client_id"], registered["client_secret"]),
    )
    assert response.status_code == 401
    assert error_of(response, strict=False) == "invalid_client"


# --- RFC 7662 introspection ---------------------------------------------------------------------


async def test_introspection_of_a_live_service_account_token(client: httpx.AsyncClient) -> None:
    token = await service_token(client, "admin")
    body = await introspect(client, token)
    claims = payload_of(token)
    assert body["active"] is True
    assert body["client_id"] == "admin"
    assert body["exp"] == claims["exp"]
    assert body["iat"] == claims["iat"]
    assert body["iss"] == ISSUER
    assert body["token_type"] == "Bearer"


async def test_introspection_of_a_registered_client_token_shows_its_scope(
    client: httpx.AsyncClient,
) -> None:
    registered = await register_service(client, scope="profile")
    response = await token_of(client, registered)
    body = await introspect(client, response.json()["access_token"])
    assert body["active"] is True
    assert body["client_id"] == registered["client_id"]
    assert body["scope"] == "profile"


async def test_a_registered_client_may_introspect(client: httpx.AsyncClient) -> None:
    resource_server = await register_service(client)
    token = await service_token(client, "creator")
    response = await client.post(
        INTROSPECT,
        data={"token": token},
        headers=basic(resource_server["client_id"], resource_server["client_secret"]),
    )
    assert response.status_code == 200, response.text
    assert response.json()["active"] is True


async def test_token_of_a_deleted_client_is_inactive(client: httpx.AsyncClient) -> None:
    registered = await register_service(client)
    issued = await client.post(
        TOKEN,
        data=CLIENT_CREDENTIALS,
        headers=basic(registered["client_id"], registered["client_secret"]),
    )
    token = issued.json()["access_token"]
    assert (await introspect(client, token))["active"] is True
    path = httpx.URL(registered["registration_client_uri"]).path
    await client.delete(path, headers=bearer(registered["registration_access_token"]))
    assert await introspect(client, token) == {"active": False}


async def test_token_issued_before_a_disable_stays_inactive_after_re_enabling(
    client: httpx.AsyncClient,
) -> None:
    registered = await register_service(client)
    token = (await token_of(client, registered)).json()["access_token"]
    assert (await introspect(client, token))["active"] is True
    admin = bearer(await service_token(client))
    path = f"/admin/realms/open/clients/{registered['client_id']}"
    assert (await client.put(path, json={"enabled": False}, headers=admin)).status_code == 204
    assert await introspect(client, token) == {"active": False}
    assert (await token_of(client, registered)).status_code == 401
    # re-enabled, most likely within the second of the disable
    assert (await client.put(path, json={"enabled": True}, headers=admin)).status_code == 204
    assert await introspect(client, token) == {"active": False}
    # a token issued after the re-enable is active at once, even one in the next second
    issued = await token_of(client, registered)
    assert issued.status_code == 200, issued.text
    fresh = issued.json()["access_token"]
    assert payload_of(fresh)["iat"] > payload_of(token)["iat"]
    assert (await introspect(client, fresh))["active"] is True
    assert await introspect(client, token) == {"active": False}


async def test_no_token_is_issued_that_would_be_inactive_from_birth(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    # a disable recorded by a process whose clock runs ahead of this one's
    registered = await register_service(client)
    store: Store = app.state.container.store
    ahead = int(time.time()) + 3
    await store.db.write_one(
        "UPDATE client SET tokens_valid_after = ? WHERE client_id = ?",
        (ahead, registered["client_id"]),
    )
    refused = await token_of(client, registered)
    assert refused.status_code == 503, refused.text
    assert error_of(refused) == "temporarily_unavailable"
    assert "retry-after" in refused.headers


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "a.b.c",
        "",
        "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.",
        "x" * 10000,
    ],
)
async def test_garbage_is_inactive(client: httpx.AsyncClient, token: str) -> None:
    response = await client.post(
        INTROSPECT, data={"token": token}, headers=basic("viewer", "viewer-secret")
    )
    if token == "":
        # RFC 7662 §2.1: token is REQUIRED
        assert_error(response, 400, "invalid_request")
        return
    assert response.status_code == 200, response.text
    assert response.json() == {"active": False}


async def test_internal_tokens_are_not_access_tokens(client: httpx.AsyncClient) -> None:
    response = await client.post(DCR, json={"redirect_uris": ["https://rp.example.org/cb"]})
    rat = response.json()["registration_access_token"]
    assert await introspect(client, rat) == {"active": False}


async def test_token_of_another_realm_is_inactive(client: httpx.AsyncClient) -> None:
    issued = await client.post(
        "/realms/locked/protocol/openid-connect/token",
        data=CLIENT_CREDENTIALS,
        headers=basic("admin", "admin-secret"),
    )
    assert issued.status_code == 200
    assert await introspect(client, issued.json()["access_token"]) == {"active": False}


async def test_introspection_needs_client_authentication(client: httpx.AsyncClient) -> None:
    token = await service_token(client)
    # RFC 7662 §2.1: "the endpoint MUST also require some form of authorization"
    anonymous = await client.post(INTROSPECT, data={"token": token})
    assert anonymous.status_code == 401
    assert error_of(anonymous, strict=False) == "invalid_client"
    wrong = await client.post(INTROSPECT, data={"token": token}, headers=basic("admin", "nope"))
    assert_error(wrong, 401, "invalid_client")
    with_bearer = await client.post(INTROSPECT, data={"token": token}, headers=bearer(token))
    assert_error(with_bearer, 401, "invalid_client")


async def test_introspection_wants_a_form(client: httpx.AsyncClient) -> None:
    response = await client.post(
        INTROSPECT, json={"token": "x"}, headers=basic("viewer", "viewer-secret")
    )
    assert_error(response, 415, "invalid_request")
