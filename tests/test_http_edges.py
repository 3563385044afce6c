"""HTTP edges of docs/reference.md §3: health, discovery, JWKS, bodies that are not JSON objects,
size and content-type limits, wrong methods and paths, and hostile bodies that must never be a
500."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config.settings import Settings
from tests.helpers import (
    ERROR_CODES,
    ISSUER,
    JSON,
    METADATA_MEMBERS,
    RP,
    assert_error,
    bearer,
    dcr_path,
    error_of,
    post_client,
    register,
)
from tests.inprocess import in_process, make_settings

pytestmark = pytest.mark.anyio

MAX_BODY = 64 * 1024
JSON_TYPE = {"Content-Type": "application/json"}
DISCOVERY_PATHS = (
    "/realms/open/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server/realms/open",
    "/.well-known/openid-configuration/realms/open",
)
OPEN_SCOPES = {"openid", "profile", "email", "address", "phone", "offline_access", "admin.write"}


# --- health, discovery, JWKS -------------------------------------------------------------


async def test_health_is_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize("path", DISCOVERY_PATHS)
async def test_discovery_names_the_realms_endpoints(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["issuer"] == ISSUER
    assert body["registration_endpoint"] == f"{ISSUER}/clients-registrations/openid-connect"
    assert body["token_endpoint"] == f"{ISSUER}/protocol/openid-connect/token"
    assert body["introspection_endpoint"] == f"{ISSUER}/protocol/openid-connect/token/introspect"
    assert body["jwks_uri"] == f"{ISSUER}/protocol/openid-connect/certs"
    assert set(body["scopes_supported"]) == OPEN_SCOPES
    assert "client_credentials" in body["grant_types_supported"]
    assert set(body["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
        "none",  # public clients of the code flow (docs/reference.md §6)
        "private_key_jwt",  # client assertions (docs/reference.md §7)
    }


async def test_discovery_is_the_same_at_every_path(client: httpx.AsyncClient) -> None:
    bodies = [(await client.get(path)).json() for path in DISCOVERY_PATHS]
    assert bodies[0] == bodies[1] == bodies[2]


async def test_discovery_endpoints_answer(client: httpx.AsyncClient) -> None:
    """Only values that are true of this server: every advertised endpoint exists."""
    body = (await client.get(DISCOVERY_PATHS[0])).json()
    certs = await client.get(httpx.URL(body["jwks_uri"]).path)
    assert certs.status_code == 200
    token = await client.post(
        httpx.URL(body["token_endpoint"]).path,
        data={"grant_type": "client_credentials"},
        auth=("admin", "admin-secret"),
    )
    assert token.status_code == 200
    registered = await client.post(
        httpx.URL(body["registration_endpoint"]).path, json={"redirect_uris": [RP]}
    )
    assert registered.status_code == 201


async def test_jwks_has_an_rsa_signing_key_with_a_kid(client: httpx.AsyncClient) -> None:
    response = await client.get("/realms/open/protocol/openid-connect/certs")
    assert response.status_code == 200
    keys = response.json()["keys"]
    rsa = [key for key in keys if key["kty"] == "RSA"]
    assert rsa, keys
    assert all(key.get("kid") for key in rsa)
    assert all("d" not in key and "p" not in key for key in keys)  # public parts only


async def test_jwks_of_two_realms_differ(client: httpx.AsyncClient) -> None:
    first = (await client.get("/realms/open/protocol/openid-connect/certs")).json()
    second = (await client.get("/realms/steady/protocol/openid-connect/certs")).json()
    assert first["keys"][0]["kid"] != second["keys"][0]["kid"]


# --- bodies, sizes, content types --------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [b"[]", b'[{"redirect_uris": []}]', b'"a string"', b"42", b"3.5", b"true", b"null", b""],
    ids=["empty_array", "array", "string", "integer", "float", "boolean", "null", "empty"],
)
async def test_body_that_is_not_a_json_object_is_400(
    client: httpx.AsyncClient, content: bytes
) -> None:
    response = await client.post(
        dcr_path(), content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert error_of(response) == "invalid_request"


@pytest.mark.parametrize(
    "content",
    [
        b"{",
        b'{"redirect_uris": ["https://a"],}',
        b"{'redirect_uris': []}",
        b'{"a": NaN}',
        b'{"a": 1e400}',
        b'{"a": "\x00"}',
        b'{"a": "\\ud800"}',
        b'{"client_name": "\xff\xfe"}',
        b"\xef\xbb\xbf{}",
        b'{"a": 1} {"b": 2}',
        b"[" * 5000 + b"]" * 5000,
    ],
    ids=[
        "truncated",
        "trailing_comma",
        "single_quotes",
        "nan",
        "infinite_number",
        "raw_control_character",
        "lone_surrogate",
        "invalid_utf8",
        "utf8_bom",
        "two_documents",
        "too_deep",
    ],
)
async def test_invalid_json_is_400(client: httpx.AsyncClient, content: bytes) -> None:
    response = await client.post(
        dcr_path(), content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert error_of(response) == "invalid_request"


@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_body_over_64_kib_is_413(client: httpx.AsyncClient, method: str) -> None:
    registered = await register(client)
    body = {"redirect_uris": [RP], "client_name": "x" * (MAX_BODY + 1)}
    path = dcr_path() if method == "POST" else httpx.URL(registered["registration_client_uri"]).path
    response = await client.request(
        method, path, json=body, headers=bearer(registered["registration_access_token"])
    )
    assert_error(response, 413, "invalid_request")


async def test_streamed_body_over_64_kib_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"client_name": "'
        for _ in range(80):
            yield b"x" * 1024
        yield b'"}'

    response = await client.post(
        dcr_path(), content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "invalid_request")


async def test_lying_content_length_is_not_trusted(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"redirect_uris": ["' + b"x" * (MAX_BODY + 10) + b'"]}'

    response = await client.post(
        dcr_path(),
        content=chunks(),
        headers={"Content-Type": "application/json", "Content-Length": "10"},
    )
    assert response.status_code in (400, 413), response.text
    assert error_of(response) == "invalid_request"


async def test_body_just_under_the_limit_is_read(client: httpx.AsyncClient) -> None:
    body = {"redirect_uris": [RP], "client_name": "x" * (MAX_BODY - 200)}
    response = await post_client(client, body)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("headers", "content"),
    [
        ({"Content-Type": "text/plain"}, b'{"redirect_uris": ["https://rp.example.org/cb"]}'),
        ({}, b'{"redirect_uris": ["https://rp.example.org/cb"]}'),
        ({"Content-Type": "application/x-www-form-urlencoded"}, b"redirect_uris=x"),
        ({"Content-Type": "multipart/form-data; boundary=x"}, b"--x--"),
        ({"Content-Type": "application/jsonp"}, b"{}"),
    ],
    ids=["text_plain", "none", "form", "multipart", "jsonp"],
)
async def test_wrong_content_type_is_415(
    client: httpx.AsyncClient, headers: dict[str, str], content: bytes
) -> None:
    response = await client.post(dcr_path(), content=content, headers=headers)
    assert_error(response, 415, "invalid_request")


async def test_wrong_content_type_on_put_is_415(client: httpx.AsyncClient) -> None:
    registered = await register(client)
    response = await client.put(
        httpx.URL(registered["registration_client_uri"]).path,
        content=b"{}",
        headers={"Content-Type": "text/plain", **bearer(registered["registration_access_token"])},
    )
    assert_error(response, 415, "invalid_request")


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "Application/JSON", "application/json;"]
)
async def test_json_content_type_parameters_and_case_are_accepted(
    client: httpx.AsyncClient, content_type: str
) -> None:
    response = await client.post(
        dcr_path(),
        content=b'{"redirect_uris": ["https://rp.example.org/cb"]}',
        headers={"Content-Type": content_type},
    )
    assert response.status_code == 201, response.text


# --- methods and paths ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PATCH", "/realms/open/clients-registrations/openid-connect"),
        ("GET", "/realms/open/clients-registrations/openid-connect"),
        ("PUT", "/realms/open/clients-registrations/openid-connect"),
        ("POST", "/realms/open/clients-registrations/openid-connect/some-client"),
        ("PATCH", "/realms/open/clients-registrations/openid-connect/some-client"),
        ("DELETE", "/realms/open/.well-known/openid-configuration"),
        ("POST", "/.well-known/openid-configuration/realms/open"),
        ("POST", "/realms/open/protocol/openid-connect/certs"),
        ("GET", "/realms/open/protocol/openid-connect/token"),
        ("POST", "/health"),
    ],
)
async def test_wrong_method_is_405_with_a_json_error(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path)
    assert_error(response, 405, "invalid_request")
    assert response.headers.get("allow")


async def test_405_on_a_client_uri_allows_get_put_and_delete(client: httpx.AsyncClient) -> None:
    # RFC 9110 §15.5.6: the Allow header lists the target resource's supported methods
    response = await client.post(f"{dcr_path()}/some-client", json={})
    assert_error(response, 405, "invalid_request")
    allowed = {method.strip() for method in response.headers["allow"].split(",")}
    assert {"GET", "PUT", "DELETE"} <= allowed


@pytest.mark.parametrize(
    "path",
    [
        "/nowhere",
        "/realms",
        "/realms/open",
        "/realms/open/clients-registrations/openid-connect-ish",
        "/realms/open/clients-registrations/openid-connect/a/b",
        "/realms/open/clients-registrations/openid-connect/a%2Fb",
        "/realms/open/clients-registrations/openid-connect/..%2F..%2Fadmin",
        "/admin/realms/open/nothing",
    ],
)
async def test_unknown_path_is_404_json(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert_error(response, 404, "not_found")


# --- hostile bodies: a 4xx JSON error or a 201, never a 500 ----------------------------------

WRONG_VALUES: list[Any] = [
    42,
    -1,
    3.5,
    True,
    False,
    "",
    "text",
    [],
    [None],
    [1, 2],
    [[]],
    [{}],
    {},
    {"keys": "no"},
    {"keys": [{"kty": {}}]},
    2**63,
    -(2**63),
    1.7e308,
]


async def assert_handled(http: httpx.AsyncClient, body: Any) -> httpx.Response:
    """A 201, or a 4xx with an RFC error body; a 500 raises inside the ASGI transport."""
    response = await http.post(dcr_path(), content=encode(body), headers=JSON_TYPE)
    if response.status_code != 201:
        assert 400 <= response.status_code < 500, response.text
        assert error_of(response) in ERROR_CODES[response.status_code], response.text
    return response


@pytest.mark.parametrize("member", METADATA_MEMBERS)
async def test_wrong_json_types_for_a_member_are_handled(
    client: httpx.AsyncClient, member: str
) -> None:
    for value in WRONG_VALUES:
        await assert_handled(client, {"redirect_uris": [RP], member: value})
        await assert_handled(client, {member: value})
        await assert_handled(client, {"redirect_uris": [RP], f"{member}#en": value})


class Deep:
    """A value nested `depth` levels (objects and arrays in turn), written out by `encode`:
    the json module would hit Python's recursion limit on the client side."""

    def __init__(self, depth: int) -> None:
        self.depth = depth

    def text(self) -> str:
        value = '"x"'
        for level in range(self.depth):
            value = f"[{value}]" if level % 2 else f'{{"a":{value}}}'
        return value


def _deep(depth: int) -> Any:
    return Deep(depth)


def encode(body: Any) -> bytes:
    """JSON text of `body`, with each Deep value written out in place."""
    deep: list[Deep] = []

    def mark(value: Any) -> str:
        if not isinstance(value, Deep):
            raise TypeError(type(value).__name__)
        deep.append(value)
        return f"\x00deep{len(deep) - 1}\x00"

    text = json.dumps(body, default=mark, ensure_ascii=False)
    for index, value in enumerate(deep):
        text = text.replace(json.dumps(f"\x00deep{index}\x00"), value.text())
    return text.encode("utf-8", "surrogatepass")


HOSTILE_BODIES: dict[str, JSON] = {
    "empty_object": {},
    "all_nulls": dict.fromkeys(METADATA_MEMBERS),
    "nulls_with_redirect": {**dict.fromkeys(METADATA_MEMBERS), "redirect_uris": [RP]},
    "null_redirect_uri_item": {"redirect_uris": [None]},
    "huge_redirect_uris": {"redirect_uris": [f"https://rp.example.org/{i}" for i in range(1800)]},
    "huge_contacts": {"redirect_uris": [RP], "contacts": ["a@b.c"] * 6000},
    "huge_grant_types": {"redirect_uris": [RP], "grant_types": ["authorization_code"] * 2500},
    "huge_response_types": {"redirect_uris": [RP], "response_types": ["code"] * 6000},
    "many_unknown_members": {"redirect_uris": [RP], **{f"x{i}": i for i in range(4000)}},
    "many_language_tags": {
        "redirect_uris": [RP],
        **{f"client_name#x-{i}": "name" for i in range(2000)},
    },
    "deep_unknown_member": {"redirect_uris": [RP], "x": _deep(1000)},
    "deep_client_name": {"redirect_uris": [RP], "client_name": _deep(1000)},
    "deep_redirect_uris": {"redirect_uris": _deep(1000)},
    "deep_contacts": {"redirect_uris": [RP], "contacts": [_deep(999)]},
    "deep_jwks": {"redirect_uris": [RP], "jwks": {"keys": [{"kty": "RSA", "n": _deep(997)}]}},
    "deep_jwks_keys": {"redirect_uris": [RP], "jwks": {"keys": _deep(998)}},
    "long_client_name": {"redirect_uris": [RP], "client_name": "n" * 10_000},
    "long_redirect_uri": {"redirect_uris": [RP + "/" + "p" * 10_000]},
    "long_host": {"redirect_uris": ["https://" + "h" * 10_000 + ".example/cb"]},
    "long_scope": {"redirect_uris": [RP], "scope": "s" * 10_000},
    "long_scope_of_known_scopes": {"redirect_uris": [RP], "scope": "openid " * 1400},
    "long_language_tag": {"redirect_uris": [RP], "client_name#" + "a" * 10_000: "x"},
    "long_member_name": {"redirect_uris": [RP], "m" * 10_000: "x"},
    "long_auth_method": {"redirect_uris": [RP], "token_endpoint_auth_method": "m" * 10_000},
    "long_software_statement": {"redirect_uris": [RP], "software_statement": "e." * 5000},
    "control_characters_in_name": {"redirect_uris": [RP], "client_name": "a\x00b\x01c\x1f\x7f"},
    "nul_in_redirect_uri": {"redirect_uris": ["https://rp.example.org/\x00"]},
    "newline_in_redirect_uri": {"redirect_uris": ["https://rp.example.org/\r\nSet-Cookie: a"]},
    "tab_in_scope": {"redirect_uris": [RP], "scope": "openid\tprofile"},
    "nul_in_scope": {"redirect_uris": [RP], "scope": "openid\x00"},
    "control_characters_in_member_name": {"redirect_uris": [RP], "client_name#\x00": "x"},
    "nul_member_name": {"redirect_uris": [RP], "\x00": "x"},
    "emoji_name": {"redirect_uris": [RP], "client_name": "🦄 Unicorn 👩‍💻"},
    "emoji_language_tag": {"redirect_uris": [RP], "client_name#🦄": "x"},
    "emoji_host": {"redirect_uris": ["https://🦄.example/cb"]},
    "emoji_scheme": {"application_type": "native", "redirect_uris": ["🦄:/cb"]},
    "emoji_scope": {"redirect_uris": [RP], "scope": "openid 🦄"},
    "emoji_contacts": {"redirect_uris": [RP], "contacts": ["🦄@example.org"]},
    "rtl_override": {"redirect_uris": [RP], "client_name": "\u202egnp.exe"},
    "bad_port": {"redirect_uris": ["https://rp.example.org:99999/cb"]},
    "bad_ipv6": {"redirect_uris": ["https://[::1/cb"]},
    "userinfo_in_uri": {"redirect_uris": ["https://user:pass@rp.example.org/cb"]},
    "only_scheme": {"redirect_uris": ["https:"]},
    "scheme_only_slashes": {"redirect_uris": ["https:///"]},
    "percent_encoded": {"redirect_uris": ["https://rp.example.org/%00%ff%"]},
    "client_id_null": {"redirect_uris": [RP], "client_id": None},
    "registration_members": {
        "redirect_uris": [RP],
        "registration_access_token": "x",
        "registration_client_uri": "https://evil.example/",
        "client_id_issued_at": -1,
        "client_secret_expires_at": "never",
    },
    "grant_type_uri": {"redirect_uris": [RP], "grant_types": ["urn:x:" + "y" * 5000]},
    "numeric_strings": {"redirect_uris": [RP], "default_max_age": "3600"},
    "huge_max_age": {"redirect_uris": [RP], "default_max_age": 2**64 - 1},
    "float_max_age": {"redirect_uris": [RP], "default_max_age": 1.0},
}


@pytest.mark.parametrize("body", list(HOSTILE_BODIES.values()), ids=list(HOSTILE_BODIES))
async def test_hostile_body_is_a_4xx_or_a_201(client: httpx.AsyncClient, body: JSON) -> None:
    response = await assert_handled(client, body)
    if response.status_code == 201:
        registered = response.json()
        rat = registered["registration_access_token"]
        path = httpx.URL(registered["registration_client_uri"]).path
        read = await client.get(path, headers=bearer(rat))
        assert read.status_code == 200
        assert read.json() == registered


@pytest.mark.parametrize("body", list(HOSTILE_BODIES.values()), ids=list(HOSTILE_BODIES))
async def test_hostile_body_on_put_is_a_4xx_or_a_200(client: httpx.AsyncClient, body: JSON) -> None:
    registered = await register(client)
    path = httpx.URL(registered["registration_client_uri"]).path
    put_body = {**body, "client_id": registered["client_id"]}
    headers = {**JSON_TYPE, **bearer(registered["registration_access_token"])}
    response = await client.put(path, content=encode(put_body), headers=headers)
    if response.status_code != 200:
        assert 400 <= response.status_code < 500, response.text
        assert error_of(response) in ERROR_CODES[response.status_code], response.text


@pytest.mark.parametrize(
    "client_id",
    ["%00", "a%00b", "%FF", "%F0%9F%A6%84", "x" * 5000, "%20", "'; --", "%0D%0A"],
    ids=["nul", "inner_nul", "invalid_utf8", "emoji", "long", "space", "quote", "crlf"],
)
async def test_hostile_client_id_in_the_path_is_401(
    client: httpx.AsyncClient, client_id: str
) -> None:
    rat = (await register(client))["registration_access_token"]
    for method in ("GET", "PUT", "DELETE"):
        response = await client.request(
            method,
            f"{dcr_path()}/{client_id}",
            headers=bearer(rat),
            json={"client_id": client_id} if method == "PUT" else None,
        )
        assert response.status_code == 401, response.text
        assert error_of(response) == "invalid_token"


# --- the same on PostgreSQL, where NUL bytes and long strings reach the database -------------


@pytest.fixture
def pg_client_settings(tmp_path: Path, realms_dir: Path, pg_url: str) -> Iterator[Settings]:
    yield make_settings(tmp_path, realms_dir, pg_url)


@pytest.fixture
async def pg_client(pg_client_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with in_process(pg_client_settings) as http:
        yield http


PG_HOSTILE = [
    "control_characters_in_name",
    "nul_in_redirect_uri",
    "nul_in_scope",
    "nul_member_name",
    "emoji_name",
    "emoji_host",
    "long_client_name",
    "long_host",
    "huge_max_age",
]


async def test_hostile_bodies_are_handled_on_postgresql(pg_client: httpx.AsyncClient) -> None:
    for name in PG_HOSTILE:
        response = await assert_handled(pg_client, HOSTILE_BODIES[name])
        if response.status_code == 201:
            registered = response.json()
            path = httpx.URL(registered["registration_client_uri"]).path
            read = await pg_client.get(
                path, headers=bearer(registered["registration_access_token"])
            )
            assert read.json() == registered, name


async def test_hostile_client_ids_are_401_on_postgresql(pg_client: httpx.AsyncClient) -> None:
    rat = (await register(pg_client))["registration_access_token"]
    for client_id in ("%00", "a%00b", "x" * 5000, "%F0%9F%A6%84"):
        for method in ("GET", "PUT", "DELETE"):
            response = await pg_client.request(
                method,
                f"{dcr_path()}/{client_id}",
                headers=bearer(rat),
                json={"client_id": client_id} if method == "PUT" else None,
            )
            assert response.status_code == 401, (client_id, method, response.text)
            assert error_of(response) == "invalid_token"


async def test_token_endpoint_with_a_hostile_client_id_on_postgresql(
    pg_client: httpx.AsyncClient,
) -> None:
    for client_id in ("a\x00b", "x" * 5000, "🦄"):
        response = await pg_client.post(
            "/realms/open/protocol/openid-connect/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": "s",
            },
        )
        assert response.status_code == 401, (client_id, response.text)
        assert error_of(response) == "invalid_client"


# --- hostile bearer tokens: 401, never a 500 --------------------------------------------------


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def _jws(header: str, payload: str, signature: str = "c2ln") -> str:
    return f"{_b64(header)}.{_b64(payload)}.{signature}"


_ADMIN_CLAIMS = json.dumps(
    {
        "iss": ISSUER,
        "typ": "Bearer",
        "exp": 4_000_000_000,
        "resource_access": {"realm-management": {"roles": ["manage-clients"]}},
    }
)
_RAT_CLAIMS = json.dumps({"iss": ISSUER, "typ": "RegistrationAccessToken", "jti": "x"})
HOSTILE_TOKENS: dict[str, str] = {
    "long": "a" * 10_000,
    "three_garbage_parts": "a.b.c",
    "empty_objects": "e30.e30.e30",
    "payload_is_an_array": _jws('{"alg":"HS256"}', "[]"),
    "rat_alg_none": _jws('{"alg":"none"}', _RAT_CLAIMS, ""),
    "rat_bad_signature": _jws('{"alg":"HS256"}', _RAT_CLAIMS),
    "rat_signature_not_base64": _jws('{"alg":"HS256"}', _RAT_CLAIMS, "~~~~"),
    "iat_bad_signature": _jws(
        '{"alg":"HS256"}', json.dumps({"iss": ISSUER, "typ": "InitialAccessToken", "jti": "x"})
    ),
    "admin_alg_none": _jws('{"alg":"none"}', _ADMIN_CLAIMS, ""),
    "admin_alg_hs256": _jws('{"alg":"HS256"}', _ADMIN_CLAIMS),
    "admin_bad_rs256_signature": _jws('{"alg":"RS256","kid":"x"}', _ADMIN_CLAIMS),
    "deep_header": _jws('{"alg":"RS256","x":' + "[" * 900 + "]" * 900 + "}", _ADMIN_CLAIMS),
    "deep_payload": _jws('{"alg":"RS256"}', '{"iss":' + "[" * 900 + "]" * 900 + "}"),
    "odd_claim_types": _jws(
        '{"alg":"HS256"}', json.dumps({"iss": {"a": 1}, "typ": ["x"], "exp": "soon", "jti": 1})
    ),
    "header_not_json": f"{_b64('not json')}.{_b64(_RAT_CLAIMS)}.c2ln",
    "header_invalid_utf8": "_w.e30.c2ln",
    "huge_exp": _jws('{"alg":"RS256"}', '{"iss":"' + ISSUER + '","exp":1e308}'),
}


@pytest.mark.parametrize("token", list(HOSTILE_TOKENS.values()), ids=list(HOSTILE_TOKENS))
async def test_hostile_bearer_token_is_401(client: httpx.AsyncClient, token: str) -> None:
    registered = await register(client)
    path = httpx.URL(registered["registration_client_uri"]).path
    for method, target in (("POST", dcr_path()), ("GET", path), ("PUT", path), ("DELETE", path)):
        response = await client.request(
            method,
            target,
            headers=bearer(token),
            json={"redirect_uris": [RP]} if method in ("POST", "PUT") else None,
        )
        assert response.status_code == 401, (method, response.text)
        assert error_of(response) == "invalid_token"
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_stranger_with_the_rat_of_an_anonymous_client_is_refused_by_trusted_hosts(
    client: httpx.AsyncClient, stranger: httpx.AsyncClient
) -> None:
    # Keycloak's rule: a RAT acts under the policy set its client registered under
    registered = await register(client)
    response = await stranger.get(
        httpx.URL(registered["registration_client_uri"]).path,
        headers=bearer(registered["registration_access_token"]),
    )
    assert response.status_code == 403
    assert error_of(response) == "insufficient_scope"
