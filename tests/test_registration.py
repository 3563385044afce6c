"""RFC 7591 §3 client registration through HTTP: the 201 response, metadata echo and defaults,
validation errors, realms, callers and policies (docs/reference.md §3)."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import httpx
import pytest

from tests.helpers import (
    ISSUER,
    JSON,
    JWKS,
    OIDC_METADATA,
    RFC7591_METADATA,
    RP,
    access_token,
    assert_error,
    assert_invalid_token,
    bearer,
    client_path,
    dcr_path,
    error_of,
    initial_access_token,
    jws_parts,
    post_client,
    register,
)

pytestmark = pytest.mark.anyio

# a client id no test registers (a fixed value: test ids must not change between runs)
NO_SUCH_ID = "0190f7a2-5c3e-7d41-9b2a-6e8f1c4d3a57"

POLICY_PREFIX = "Policy '{}' rejected request to client-registration service. Details: "
BASE64URL_SECRET = re.compile(r"[A-Za-z0-9_-]{43,}")


# --- the 201 response ---------------------------------------------------------------------


async def test_registration_is_201_with_location_of_the_client(client: httpx.AsyncClient) -> None:
    response = await post_client(client, {"redirect_uris": [RP]})
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == body["registration_client_uri"]
    assert body["registration_client_uri"] == (
        f"{ISSUER}/clients-registrations/openid-connect/{body['client_id']}"
    )


async def test_registration_response_is_not_cached(client: httpx.AsyncClient) -> None:
    response = await post_client(client, {"redirect_uris": [RP]})
    assert response.status_code == 201
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"


@pytest.mark.parametrize(
    "keys",
    [{"jwks_uri": "https://rp.example.org/jwks.json"}, {"jwks_uri": None, "jwks": JWKS}],
    ids=["jwks_uri", "jwks"],
)
async def test_every_rfc7591_and_oidc_member_is_echoed(
    client: httpx.AsyncClient, keys: JSON
) -> None:
    # software_statement is verified, not only echoed: tests/test_software_statements.py
    sent = {**RFC7591_METADATA, **OIDC_METADATA, **keys, "software_statement": None}
    body = await register(client, **sent)
    for member, value in sent.items():
        if value is not None:
            assert body[member] == value, member
    assert "jwks_uri" in body or "jwks" in body


async def test_language_tagged_client_name_is_echoed(client: httpx.AsyncClient) -> None:
    body = await register(
        client, client_name="My Client", **{"client_name#ja-Jpan-JP": "クライアント名"}
    )
    assert body["client_name"] == "My Client"
    assert body["client_name#ja-Jpan-JP"] == "クライアント名"


async def test_unknown_members_are_ignored_and_not_echoed(client: httpx.AsyncClient) -> None:
    extra = {
        "x_vendor_setting": {"nested": [1, 2, 3]},
        "frobnicate": True,
        "scope#fr": "openid",
        "client_secret": "chosen-by-the-client",
    }
    response = await post_client(client, {"redirect_uris": [RP], **extra})
    assert response.status_code == 201, response.text
    body = response.json()
    for member in ("x_vendor_setting", "frobnicate", "scope#fr"):
        assert member not in body
    assert body["client_secret"] != "chosen-by-the-client"


async def test_defaults_are_applied(client: httpx.AsyncClient) -> None:
    body = await register(client)
    assert body["token_endpoint_auth_method"] == "client_secret_basic"
    assert body["grant_types"] == ["authorization_code"]
    assert body["response_types"] == ["code"]
    assert body["application_type"] == "web"
    assert body["scope"] == "openid profile email"  # the realm's default scopes
    assert body["redirect_uris"] == [RP]


async def test_client_id_is_a_server_made_uuid(client: httpx.AsyncClient) -> None:
    first, second = await register(client), await register(client)
    assert str(uuid.UUID(first["client_id"])) == first["client_id"]
    assert uuid.UUID(first["client_id"]).version == 7  # time-ordered (app/store/ids.py)
    assert first["client_id"] != second["client_id"]


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
async def test_confidential_client_gets_a_256_bit_secret_that_never_expires(
    client: httpx.AsyncClient, method: str
) -> None:
    body = await register(client, token_endpoint_auth_method=method)
    assert BASE64URL_SECRET.fullmatch(body["client_secret"])
    assert body["client_secret_expires_at"] == 0


async def test_public_client_gets_no_secret(client: httpx.AsyncClient) -> None:
    body = await register(client, token_endpoint_auth_method="none")
    assert body["token_endpoint_auth_method"] == "none"
    assert "client_secret" not in body


async def test_client_id_issued_at_is_now(client: httpx.AsyncClient) -> None:
    before = int(time.time())
    body = await register(client)
    assert before - 1 <= body["client_id_issued_at"] <= int(time.time()) + 1


async def test_registration_access_token_is_keycloaks_jws(client: httpx.AsyncClient) -> None:
    body = await register(client)
    header, payload = jws_parts(body["registration_access_token"])
    assert header["alg"] == "HS256"
    assert payload["typ"] == "RegistrationAccessToken"
    assert payload["iss"] == ISSUER
    assert isinstance(payload["jti"], str) and payload["jti"]


async def test_each_registration_gets_its_own_rat(client: httpx.AsyncClient) -> None:
    first, second = await register(client), await register(client)
    assert first["registration_access_token"] != second["registration_access_token"]


# --- accepted edge cases of the metadata rules --------------------------------------------


@pytest.mark.parametrize(
    "metadata",
    [
        {"redirect_uris": ["http://127.0.0.1:33418/callback"]},
        {"redirect_uris": ["http://localhost:6274/oauth/callback"]},
        {"redirect_uris": ["http://[::1]:8080/cb"]},
        {"application_type": "native", "redirect_uris": ["com.example.app:/oauth2redirect"]},
        {"application_type": "native", "redirect_uris": ["http://127.0.0.1:51004/cb"]},
        {"application_type": "native", "redirect_uris": ["http://localhost/cb"]},
        {"token_endpoint_auth_signing_alg": "RS256"},  # idpyoidc's default, stored
        {"grant_types": ["client_credentials"], "redirect_uris": None},
        {"grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"]},
        {"grant_types": ["implicit"], "response_types": ["id_token"]},
        {"id_token_signed_response_alg": "none", "response_types": ["code"]},
        {"scope": "openid offline_access phone"},
    ],
    ids=lambda m: ",".join(f"{k}={v}" for k, v in m.items())[:60],
)
async def test_consistent_metadata_is_registered(client: httpx.AsyncClient, metadata: JSON) -> None:
    body = await register(client, **metadata)
    for member, value in metadata.items():
        if value is not None:
            assert body[member] == value


async def test_response_types_are_derived_from_grant_types(client: httpx.AsyncClient) -> None:
    body = await register(client, grant_types=["client_credentials"], redirect_uris=None)
    assert body["grant_types"] == ["client_credentials"]
    assert body["response_types"] == []


# --- validation rules of docs/reference.md §3 ----------------------------------------

INVALID_METADATA: list[tuple[str, JSON, str]] = [
    (
        "code_grant_with_token_response",
        {"grant_types": ["authorization_code"], "response_types": ["token"]},
        "invalid_client_metadata",
    ),
    (
        "implicit_grant_with_code_response",
        {"grant_types": ["implicit"], "response_types": ["code"]},
        "invalid_client_metadata",
    ),
    (
        "id_token_response_without_implicit",
        {"grant_types": ["authorization_code"], "response_types": ["code", "code id_token"]},
        "invalid_client_metadata",
    ),
    (
        "jwks_with_jwks_uri",
        {"jwks": JWKS, "jwks_uri": "https://rp.example.org/jwks.json"},
        "invalid_client_metadata",
    ),
    ("redirect_uris_missing", {"redirect_uris": None}, "invalid_redirect_uri"),
    ("redirect_uris_empty", {"redirect_uris": []}, "invalid_redirect_uri"),
    (
        "redirect_uris_missing_for_implicit",
        {"redirect_uris": None, "grant_types": ["implicit"], "response_types": ["token"]},
        "invalid_redirect_uri",
    ),
    ("redirect_uri_fragment", {"redirect_uris": [RP + "#frag"]}, "invalid_redirect_uri"),
    ("redirect_uri_relative", {"redirect_uris": ["/callback"]}, "invalid_redirect_uri"),
    ("redirect_uri_no_scheme", {"redirect_uris": ["rp.example.org/cb"]}, "invalid_redirect_uri"),
    ("redirect_uri_javascript", {"redirect_uris": ["javascript:alert(1)"]}, "invalid_redirect_uri"),
    (
        "redirect_uri_data",
        {"redirect_uris": ["data:text/html,<script>alert(1)</script>"]},
        "invalid_redirect_uri",
    ),
    (
        "redirect_uri_javascript_uppercase",
        {"redirect_uris": ["JavaScript:alert(1)"]},
        "invalid_redirect_uri",
    ),
    (
        "web_implicit_http",
        {
            "grant_types": ["implicit"],
            "response_types": ["id_token"],
            "redirect_uris": ["http://rp.example.org/cb"],
        },
        "invalid_redirect_uri",
    ),
    (
        "web_implicit_localhost",
        {
            "grant_types": ["implicit"],
            "response_types": ["id_token token"],
            "redirect_uris": ["https://localhost/cb"],
        },
        "invalid_redirect_uri",
    ),
    (
        "native_http_not_loopback",
        {"application_type": "native", "redirect_uris": ["http://rp.example.org/cb"]},
        "invalid_redirect_uri",
    ),
    (
        "id_token_enc_without_alg",
        {"id_token_encrypted_response_enc": "A256GCM"},
        "invalid_client_metadata",
    ),
    (
        "userinfo_enc_without_alg",
        {"userinfo_encrypted_response_enc": "A128GCM"},
        "invalid_client_metadata",
    ),
    (
        "request_object_enc_without_alg",
        {"request_object_encryption_enc": "A192GCM"},
        "invalid_client_metadata",
    ),
    (
        "id_token_alg_none_with_id_token_response",
        {
            "id_token_signed_response_alg": "none",
            "grant_types": ["implicit"],
            "response_types": ["id_token"],
        },
        "invalid_client_metadata",
    ),
    (
        "token_endpoint_auth_signing_alg_none",
        {"token_endpoint_auth_signing_alg": "none"},
        "invalid_client_metadata",
    ),
    ("unknown_auth_method", {"token_endpoint_auth_method": "magic"}, "invalid_client_metadata"),
    ("unknown_application_type", {"application_type": "desktop"}, "invalid_client_metadata"),
    ("unknown_grant_type", {"grant_types": ["teleport"]}, "invalid_client_metadata"),
    ("unknown_response_type", {"response_types": ["ticket"]}, "invalid_client_metadata"),
    ("unknown_scope", {"scope": "openid nonsense"}, "invalid_client_metadata"),
    ("bad_language_tag", {"client_name#!!": "x"}, "invalid_client_metadata"),
    ("jwks_uri_http", {"jwks_uri": "http://rp.example.org/jwks"}, "invalid_client_metadata"),
    ("logo_uri_not_a_url", {"logo_uri": "not a url"}, "invalid_client_metadata"),
    (
        "sector_identifier_uri_http",
        {"sector_identifier_uri": "http://rp.example.org/s.json"},
        "invalid_client_metadata",
    ),
    ("client_name_not_a_string", {"client_name": 42}, "invalid_client_metadata"),
    ("contacts_not_an_array", {"contacts": "ops@rp.example.org"}, "invalid_client_metadata"),
    ("redirect_uris_not_an_array", {"redirect_uris": RP}, "invalid_redirect_uri"),
    ("default_max_age_negative", {"default_max_age": -1}, "invalid_client_metadata"),
    # browsers go to evil.com; urlsplit read rp.example.org / 127.0.0.1
    (
        "redirect_uri_backslash_host",
        {"redirect_uris": ["https://evil.com\\.rp.example.org/cb"]},
        "invalid_redirect_uri",
    ),
    (
        "redirect_uri_backslash_userinfo",
        {"redirect_uris": ["http://evil.com\\@127.0.0.1:8080/callback"]},
        "invalid_redirect_uri",
    ),
    (
        "redirect_uri_userinfo",
        {"redirect_uris": ["https://rp.example.org@evil.com/cb"]},
        "invalid_redirect_uri",
    ),
    ("redirect_uri_wildcard_host", {"redirect_uris": ["https://*/cb"]}, "invalid_redirect_uri"),
    (
        "public_client_with_client_credentials",
        {"token_endpoint_auth_method": "none", "grant_types": ["client_credentials"]},
        "invalid_client_metadata",
    ),
    ("client_name_nul", {"client_name": "My\x00Client"}, "invalid_client_metadata"),
    ("client_name_newline", {"client_name": "My\nClient"}, "invalid_client_metadata"),
    ("client_name_c1_csi", {"client_name": "My\x9b31mClient"}, "invalid_client_metadata"),
    ("contacts_control", {"contacts": ["ops@rp.example.org\r\n"]}, "invalid_client_metadata"),
    (
        "jwks_member_control",
        {"jwks": {"keys": [{"kty": "oct", "kid": "k\x00", "k": "AAAA"}]}},
        "invalid_client_metadata",
    ),
    ("redirect_uri_nul", {"redirect_uris": [RP + "\x00"]}, "invalid_redirect_uri"),
]


@pytest.mark.parametrize(
    ("metadata", "error"),
    [pytest.param(m, e, id=name) for name, m, e in INVALID_METADATA],
)
async def test_invalid_metadata_is_400(
    client: httpx.AsyncClient, metadata: JSON, error: str
) -> None:
    response = await post_client(client, {"redirect_uris": [RP], **metadata})
    assert response.status_code == 400, response.text
    assert error_of(response) == error


@pytest.mark.parametrize("client_id", [NO_SUCH_ID, "", None])
async def test_client_id_in_the_body_is_400(client: httpx.AsyncClient, client_id: Any) -> None:
    response = await post_client(client, {"redirect_uris": [RP], "client_id": client_id})
    assert response.status_code == 400
    assert error_of(response) == "invalid_client_metadata"


# --- realms ---------------------------------------------------------------------------------


async def test_unknown_realm_is_404(client: httpx.AsyncClient) -> None:
    response = await post_client(client, {"redirect_uris": [RP]}, realm="nowhere")
    assert_error(response, 404, "not_found")


@pytest.mark.parametrize("realm", ["hidden", "nowhere"])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/realms/{realm}/clients-registrations/openid-connect"),
        ("GET", "/realms/{realm}/clients-registrations/openid-connect/" + NO_SUCH_ID),
        ("PUT", "/realms/{realm}/clients-registrations/openid-connect/" + NO_SUCH_ID),
        ("DELETE", "/realms/{realm}/clients-registrations/openid-connect/" + NO_SUCH_ID),
        ("GET", "/realms/{realm}/.well-known/openid-configuration"),
        ("GET", "/.well-known/oauth-authorization-server/realms/{realm}"),
        ("GET", "/.well-known/openid-configuration/realms/{realm}"),
        ("GET", "/realms/{realm}/protocol/openid-connect/certs"),
        ("POST", "/realms/{realm}/protocol/openid-connect/token"),
        ("POST", "/realms/{realm}/protocol/openid-connect/token/introspect"),
        ("GET", "/admin/realms/{realm}/clients-initial-access"),
        ("POST", "/admin/realms/{realm}/clients-initial-access"),
        ("GET", "/admin/realms/{realm}/clients"),
    ],
)
async def test_disabled_or_unknown_realm_is_404_on_every_endpoint(
    client: httpx.AsyncClient, realm: str, method: str, path: str
) -> None:
    form = path.endswith(("/token", "/introspect"))
    response = await client.request(
        method,
        path.format(realm=realm),
        json=None if form or method in ("GET", "DELETE") else {"redirect_uris": [RP]},
        data={"grant_type": "client_credentials"} if form else None,
        auth=("admin", "admin-secret") if form else None,
    )
    assert_error(response, 404, "not_found")


# --- callers and policies -------------------------------------------------------------------


async def test_anonymous_registration_on_a_default_realm_is_refused_by_trusted_hosts(
    client: httpx.AsyncClient,
) -> None:
    response = await post_client(client, {"redirect_uris": [RP]}, realm="locked")
    assert response.status_code == 403
    assert error_of(response) == "insufficient_scope"
    assert response.json()["error_description"].startswith(POLICY_PREFIX.format("Trusted Hosts"))


async def test_anonymous_registration_from_an_untrusted_host_is_403(
    stranger: httpx.AsyncClient,
) -> None:
    response = await post_client(stranger, {"redirect_uris": [RP]})
    assert response.status_code == 403
    assert error_of(response) == "insufficient_scope"
    assert response.json()["error_description"] == (
        POLICY_PREFIX.format("Trusted Hosts") + "Host not trusted."
    )


async def test_initial_access_token_registers_on_a_default_realm(
    client: httpx.AsyncClient,
) -> None:
    iat = await initial_access_token(client, realm="locked")
    body = await register(client, realm="locked", token=iat)
    assert body["registration_client_uri"].startswith("http://testserver/realms/locked/")


async def test_restricted_scope_is_403_for_an_anonymous_caller(client: httpx.AsyncClient) -> None:
    response = await post_client(client, {"redirect_uris": [RP], "scope": "openid admin.write"})
    assert response.status_code == 403
    assert error_of(response) == "insufficient_scope"


async def test_restricted_scope_is_403_for_a_create_client_bearer(
    client: httpx.AsyncClient,
) -> None:
    token = (await access_token(client, client_id="creator")).json()["access_token"]
    response = await post_client(
        client, {"redirect_uris": [RP], "scope": "admin.write"}, token=token
    )
    assert response.status_code == 403
    assert error_of(response) == "insufficient_scope"


async def test_scope_outside_allowed_client_scopes_is_refused_by_the_policy(
    client: httpx.AsyncClient,
) -> None:
    # open.yaml's authenticated set allows the usual scopes only, so even manage-clients
    # may not register the restricted admin.write there
    token = (await access_token(client)).json()["access_token"]
    response = await post_client(
        client, {"redirect_uris": [RP], "scope": "admin.write"}, token=token
    )
    assert response.status_code == 403
    assert error_of(response) == "insufficient_scope"
    assert response.json()["error_description"] == (
        POLICY_PREFIX.format("Allowed Client Scopes")
        + "Not permitted to use specified clientScope: admin.write"
    )


async def test_create_client_bearer_registers(client: httpx.AsyncClient) -> None:
    token = (await access_token(client, client_id="creator")).json()["access_token"]
    await register(client, realm="open", token=token)


@pytest.mark.parametrize("account", ["viewer", "nobody"])
async def test_bearer_without_a_create_role_is_403(client: httpx.AsyncClient, account: str) -> None:
    token = (await access_token(client, client_id=account)).json()["access_token"]
    response = await post_client(client, {"redirect_uris": [RP]}, token=token)
    assert response.status_code == 403
    assert error_of(response) == "insufficient_scope"


async def test_registration_access_token_on_post_is_401(client: httpx.AsyncClient) -> None:
    rat = (await register(client))["registration_access_token"]
    response = await post_client(client, {"redirect_uris": [RP]}, token=rat)
    assert_invalid_token(response)


async def test_garbage_bearer_is_401_with_a_bearer_challenge(client: httpx.AsyncClient) -> None:
    response = await post_client(client, {"redirect_uris": [RP]}, token="garbage")
    assert_invalid_token(response)


async def test_forged_registration_access_token_is_401(client: httpx.AsyncClient) -> None:
    body = await register(client)
    header, payload, _ = body["registration_access_token"].split(".")
    forged = f"{header}.{payload}.{'A' * 43}"
    response = await client.get(client_path(body), headers=bearer(forged))
    assert_invalid_token(response)


@pytest.mark.parametrize(
    "authorization",
    ["Basic x", "Bearer", "Bearer ", "Bearer a b", "Token abc", "bearer", "Basic YWRtaW46YWRtaW4="],
)
async def test_malformed_authorization_header_is_401(
    client: httpx.AsyncClient, authorization: str
) -> None:
    response = await client.post(
        dcr_path(), json={"redirect_uris": [RP]}, headers={"Authorization": authorization}
    )
    assert_invalid_token(response)


async def test_bearer_scheme_is_case_insensitive(client: httpx.AsyncClient) -> None:
    token = (await access_token(client)).json()["access_token"]
    response = await client.post(
        dcr_path(), json={"redirect_uris": [RP]}, headers={"Authorization": f"bEaReR {token}"}
    )
    assert response.status_code == 201, response.text


async def test_max_clients_refuses_the_fourth_client(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        await register(client, realm="small")
    response = await post_client(client, {"redirect_uris": [RP]}, realm="small")
    assert response.status_code == 403
    assert error_of(response) == "insufficient_scope"
    assert response.json()["error_description"] == (
        POLICY_PREFIX.format("Max Clients Limit") + "It's allowed to have max 3 clients per realm"
    )


async def test_max_clients_frees_a_place_when_a_client_is_deleted(
    client: httpx.AsyncClient,
) -> None:
    clients = [await register(client, realm="small") for _ in range(3)]
    gone = clients[0]
    deleted = await client.delete(
        client_path(gone), headers=bearer(gone["registration_access_token"])
    )
    assert deleted.status_code == 204
    await register(client, realm="small")


async def test_refused_registration_does_not_count_against_max_clients(
    client: httpx.AsyncClient,
) -> None:
    for _ in range(5):
        refused = await post_client(client, {"redirect_uris": ["/relative"]}, realm="small")
        assert_error(refused, 400, "invalid_redirect_uri")
    for _ in range(3):
        await register(client, realm="small")


async def test_used_up_initial_access_token_is_401(client: httpx.AsyncClient) -> None:
    iat = await initial_access_token(client, realm="locked", count=1)
    await register(client, realm="locked", token=iat)
    response = await post_client(client, {"redirect_uris": [RP]}, realm="locked", token=iat)
    assert_invalid_token(response)


async def test_refused_registration_does_not_use_up_an_initial_access_token(
    client: httpx.AsyncClient,
) -> None:
    iat = await initial_access_token(client, realm="locked", count=1)
    refused = await post_client(client, {"redirect_uris": ["/relative"]}, realm="locked", token=iat)
    assert refused.status_code == 400
    assert error_of(refused) == "invalid_redirect_uri"
    await register(client, realm="locked", token=iat)


async def test_deleted_initial_access_token_is_401(client: httpx.AsyncClient) -> None:
    admin = bearer((await access_token(client, realm="locked")).json()["access_token"])
    created = await client.post(
        "/admin/realms/locked/clients-initial-access", json={"count": 5}, headers=admin
    )
    assert created.status_code == 200, created.text
    iat = created.json()
    gone = await client.delete(
        f"/admin/realms/locked/clients-initial-access/{iat['id']}", headers=admin
    )
    assert gone.status_code == 204
    response = await post_client(
        client, {"redirect_uris": [RP]}, realm="locked", token=iat["token"]
    )
    assert_invalid_token(response)


async def test_initial_access_token_of_another_realm_is_401(client: httpx.AsyncClient) -> None:
    iat = await initial_access_token(client, realm="open")
    response = await post_client(client, {"redirect_uris": [RP]}, realm="locked", token=iat)
    assert_invalid_token(response)
