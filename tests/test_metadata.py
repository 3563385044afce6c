"""RFC 7591 §2 / OIDC DCR 1.0 §2 client metadata validation, through validate_client_metadata."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from app.errors import InvalidClientMetadata, InvalidRedirectUri
from app.jsonio import dumps
from app.rules.client_metadata import UNDERSTOOD_MEMBERS, validate_client_metadata
from tests.helpers import OIDC_METADATA, RFC7591_MEMBERS, RP

BASE: dict[str, Any] = {"redirect_uris": [RP]}
# not tests.helpers.JWKS: this key has key_ops, not use
JWKS = {"keys": [{"kty": "EC", "crv": "P-256", "x": "f83O", "y": "x_FE", "key_ops": ["verify"]}]}


def _error(body: dict[str, Any]) -> InvalidClientMetadata | InvalidRedirectUri:
    with pytest.raises((InvalidClientMetadata, InvalidRedirectUri)) as info:
        validate_client_metadata(body)
    assert isinstance(info.value, InvalidClientMetadata | InvalidRedirectUri)
    return info.value


# --- defaults and echo ------------------------------------------------------------------------


def test_defaults_are_applied_to_a_minimal_body() -> None:
    assert validate_client_metadata(BASE) == {
        "redirect_uris": [RP],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
        "application_type": "web",
    }


def test_no_default_scope_is_applied() -> None:
    assert "scope" not in validate_client_metadata(BASE)


@pytest.mark.parametrize(
    "body",
    [
        {**RFC7591_MEMBERS, **OIDC_METADATA},
        {**RFC7591_MEMBERS, **OIDC_METADATA, "jwks_uri": None, "jwks": JWKS},
    ],
    ids=["with_jwks_uri", "with_jwks"],
)
def test_every_rfc7591_and_oidc_member_is_echoed(body: dict[str, Any]) -> None:
    expected = {name: value for name, value in body.items() if value is not None}
    assert validate_client_metadata(body) == expected


def test_the_echo_tables_cover_every_understood_member() -> None:
    assert {*RFC7591_MEMBERS, *OIDC_METADATA, "jwks"} == UNDERSTOOD_MEMBERS


def test_input_is_not_mutated() -> None:
    body = {**RFC7591_MEMBERS, **OIDC_METADATA, "grant_types": None, "scope": "a  a b"}
    before = copy.deepcopy(body)
    validate_client_metadata(body)
    assert body == before


@pytest.mark.parametrize(
    "member",
    [
        "client_id",
        "client_secret",
        "registration_access_token",
        "registration_client_uri",
        "client_id_issued_at",
        "client_secret_expires_at",
        "unknown_member",
        "foo#en",
        "redirect_uris#en",
        "scope#fr",
        "grant_types#de",
    ],
)
def test_server_managed_and_unknown_members_are_dropped(member: str) -> None:
    assert member not in validate_client_metadata({**BASE, member: {"any": ["thing"]}})


@pytest.mark.parametrize("member", sorted(UNDERSTOOD_MEMBERS - {"redirect_uris"}))
def test_null_member_is_the_same_as_an_absent_one(member: str) -> None:
    assert validate_client_metadata({**BASE, member: None}) == validate_client_metadata(BASE)


# --- accepted and normalized --------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            {"scope": "  openid profile  openid "},
            {"scope": "openid profile"},
            id="scope_whitespace_and_duplicates",
        ),
        pytest.param({"scope": "   "}, {}, id="blank_scope_is_omitted"),
        pytest.param({"scope": "a!#[]~"}, {"scope": "a!#[]~"}, id="scope_token_edge_chars"),
        pytest.param(
            {"contacts": ["a@x", "b@x", "a@x"]},
            {"contacts": ["a@x", "b@x"]},
            id="arrays_deduplicated_in_order",
        ),
        pytest.param(
            {"redirect_uris": [RP, RP]}, {"redirect_uris": [RP]}, id="redirect_uris_deduplicated"
        ),
        pytest.param(
            {"response_types": ["code  id_token", "code id_token"], "redirect_uris": [RP]},
            {"response_types": ["code id_token"]},
            id="response_type_whitespace",
        ),
        pytest.param(
            {"response_types": ["id_token code"], "redirect_uris": [RP]},
            {"response_types": ["id_token code"]},
            id="response_type_order_kept",
        ),
        pytest.param(
            {"grant_types": ["authorization_code", "https://grants.example/x"]},
            {"grant_types": ["authorization_code", "https://grants.example/x"]},
            id="extension_grant_uri",
        ),
        pytest.param(
            {"token_endpoint_auth_method": "none"},
            {"token_endpoint_auth_method": "none"},
            id="public_client",
        ),
        pytest.param(
            {"token_endpoint_auth_signing_alg": "HS256"},
            {
                "token_endpoint_auth_method": "client_secret_basic",
                "token_endpoint_auth_signing_alg": "HS256",
            },
            id="inapplicable_member_is_stored",
        ),
        pytest.param(
            {"id_token_signed_response_alg": "none"},
            {"id_token_signed_response_alg": "none"},
            id="id_token_alg_none_with_code_only",
        ),
        pytest.param(
            {
                "id_token_signed_response_alg": "none",
                "grant_types": ["authorization_code", "implicit"],
                "response_types": ["code", "code token"],
            },
            {"id_token_signed_response_alg": "none"},
            id="id_token_alg_none_without_id_token_response",
        ),
        pytest.param(
            {"userinfo_signed_response_alg": "none"},
            {"userinfo_signed_response_alg": "none"},
            id="userinfo_alg_none",
        ),
        pytest.param(
            {"request_object_signing_alg": "none"},
            {"request_object_signing_alg": "none"},
            id="request_object_alg_none",
        ),
        pytest.param(
            {"id_token_encrypted_response_alg": "RSA-OAEP"},
            {"id_token_encrypted_response_enc": "A128CBC-HS256"},
            id="id_token_enc_defaulted",
        ),
        pytest.param(
            {"userinfo_encrypted_response_alg": "RSA-OAEP"},
            {"userinfo_encrypted_response_enc": "A128CBC-HS256"},
            id="userinfo_enc_defaulted",
        ),
        pytest.param(
            {"request_object_encryption_alg": "RSA-OAEP"},
            {"request_object_encryption_enc": "A128CBC-HS256"},
            id="request_object_enc_defaulted",
        ),
        pytest.param(
            {"jwks_uri": "http://127.0.0.1:8000/jwks"},
            {"jwks_uri": "http://127.0.0.1:8000/jwks"},
            id="jwks_uri_http_loopback",
        ),
        pytest.param({"default_max_age": 0}, {"default_max_age": 0}, id="default_max_age_zero"),
        pytest.param(
            {"client_uri": "HTTPS://RP.example.org"},
            {"client_uri": "HTTPS://RP.example.org"},
            id="scheme_case_insensitive",
        ),
        pytest.param(
            {"logo_uri": "http://rp.example.org/logo.png"},
            {"logo_uri": "http://rp.example.org/logo.png"},
            id="http_page_url",
        ),
    ],
)
def test_accepted_and_normalized(body: dict[str, Any], expected: dict[str, Any]) -> None:
    result = validate_client_metadata({**BASE, **body})
    assert {name: result.get(name) for name in expected} == expected
    if "scope" not in expected:
        assert "scope" not in result


@pytest.mark.parametrize(
    ("body", "grant_types", "response_types"),
    [
        pytest.param({}, ["authorization_code"], ["code"], id="neither"),
        pytest.param(
            {"grant_types": ["client_credentials"]},
            ["client_credentials"],
            [],
            id="client_credentials_only",
        ),
        pytest.param(
            {"grant_types": ["authorization_code", "refresh_token"]},
            ["authorization_code", "refresh_token"],
            ["code"],
            id="code_and_refresh",
        ),
        pytest.param({"grant_types": ["implicit"]}, ["implicit"], ["token"], id="implicit_only"),
        pytest.param(
            {"grant_types": ["implicit", "authorization_code"]},
            ["implicit", "authorization_code"],
            ["code", "token"],
            id="both_redirect_grants",
        ),
        pytest.param(
            {"response_types": ["code id_token"]},
            ["authorization_code", "implicit"],
            ["code id_token"],
            id="hybrid_only",
        ),
        pytest.param(
            {"response_types": ["id_token"]}, ["implicit"], ["id_token"], id="id_token_only"
        ),
        pytest.param({"response_types": ["none"]}, [], ["none"], id="none_only"),
        pytest.param({"grant_types": [], "response_types": []}, [], [], id="explicitly_empty"),
        pytest.param(
            {
                "grant_types": ["authorization_code", "implicit"],
                "response_types": ["code", "id_token"],
            },
            ["authorization_code", "implicit"],
            ["code", "id_token"],
            id="consistent_pair",
        ),
    ],
)
def test_missing_flow_member_is_derived_from_the_other(
    body: dict[str, Any], grant_types: list[str], response_types: list[str]
) -> None:
    result = validate_client_metadata({**BASE, **body})
    assert (result["grant_types"], result["response_types"]) == (grant_types, response_types)


@pytest.mark.parametrize(
    ("application_type", "grant", "uri"),
    [
        ("web", "authorization_code", "http://127.0.0.1:33418/callback"),
        ("web", "authorization_code", "http://localhost:8080/callback"),
        ("web", "authorization_code", "http://[::1]:9000/cb"),
        ("web", "authorization_code", "http://LOCALHOST/cb"),
        ("web", "authorization_code", "https://rp.example.org/cb?x=1"),
        ("web", "authorization_code", "http://rp.example.org/cb"),
        ("web", "authorization_code", "com.example.app:/cb"),
        ("web", "implicit", "https://rp.example.org/cb"),
        ("native", "authorization_code", "com.example.app:/oauth2redirect"),
        ("native", "authorization_code", "myapp://callback"),
        ("native", "authorization_code", "http://127.0.0.1:51004/"),
        ("native", "authorization_code", "http://localhost/cb"),
        ("native", "authorization_code", "http://[::1]/cb"),
        ("native", "authorization_code", "https://app.example.org/claimed"),
        ("native", "implicit", "com.example.app:/cb"),
    ],
)
def test_redirect_uri_accepted_for_application_type(
    application_type: str, grant: str, uri: str
) -> None:
    body = {"application_type": application_type, "grant_types": [grant], "redirect_uris": [uri]}
    assert validate_client_metadata(body)["redirect_uris"] == [uri]


@pytest.mark.parametrize("grant", ["client_credentials", "password", "refresh_token"])
def test_redirect_uris_optional_without_a_redirect_grant(grant: str) -> None:
    assert "redirect_uris" not in validate_client_metadata({"grant_types": [grant]})


# --- language tags (RFC 7591 §2.2) ----------------------------------------------------------


@pytest.mark.parametrize("tag", ["ja-Jpan-JP", "en", "en-US", "de-CH-1901", "x-klingon", "zh-Hant"])
@pytest.mark.parametrize(
    "member", ["client_name", "client_uri", "logo_uri", "tos_uri", "policy_uri"]
)
def test_language_tagged_member_is_kept(member: str, tag: str) -> None:
    value = "名前" if member == "client_name" else f"https://rp.example.org/{tag}"
    assert validate_client_metadata({**BASE, f"{member}#{tag}": value})[f"{member}#{tag}"] == value


@pytest.mark.parametrize(
    "tag", ["", "en_US", "toolonglanguage", "en-", "-en", "en--US", "日本", "en US"]
)
def test_invalid_language_tag_is_invalid_client_metadata(tag: str) -> None:
    error = _error({**BASE, f"client_name#{tag}": "Name"})
    assert isinstance(error, InvalidClientMetadata)
    assert "client_name" in error.description


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("client_name#en", 5),
        ("client_name#en", ""),
        ("logo_uri#fr", "not a url"),
        ("tos_uri#de", "javascript:x"),
    ],
)
def test_language_tagged_member_follows_the_base_type_rules(member: str, value: object) -> None:
    error = _error({**BASE, member: value})
    assert isinstance(error, InvalidClientMetadata)
    assert member in error.description


# --- refused: one row per rule --------------------------------------------------------------

ICM, IRU = InvalidClientMetadata, InvalidRedirectUri
IMPLICIT = {"grant_types": ["implicit"], "response_types": ["id_token"]}

REFUSED = [
    # type rules
    ("client_name", {"client_name": 5}, ICM),
    ("client_name", {"client_name": ""}, ICM),
    ("software_id", {"software_id": ["x"]}, ICM),
    ("software_version", {"software_version": 2.1}, ICM),
    ("software_statement", {"software_statement": {}}, ICM),
    ("contacts", {"contacts": "ops@rp.example.org"}, ICM),
    ("contacts", {"contacts": ["ops@rp.example.org", 1]}, ICM),
    ("default_acr_values", {"default_acr_values": [""]}, ICM),
    ("grant_types", {"grant_types": "authorization_code"}, ICM),
    ("grant_types", {"grant_types": ["magic"]}, ICM),
    ("grant_types", {"grant_types": ["urn:"]}, ICM),
    ("response_types", {"response_types": "code"}, ICM),
    ("response_types", {"response_types": ["code foo"]}, ICM),
    ("response_types", {"response_types": ["code code"]}, ICM),
    ("response_types", {"response_types": ["none code"]}, ICM),
    ("response_types", {"response_types": ["  "]}, ICM),
    ("token_endpoint_auth_method", {"token_endpoint_auth_method": "client_secret_magic"}, ICM),
    ("token_endpoint_auth_method", {"token_endpoint_auth_method": ["none"]}, ICM),
    ("application_type", {"application_type": "desktop"}, ICM),
    ("subject_type", {"subject_type": "secret"}, ICM),
    ("default_max_age", {"default_max_age": -1}, ICM),
    ("default_max_age", {"default_max_age": True}, ICM),
    ("default_max_age", {"default_max_age": 1.5}, ICM),
    ("default_max_age", {"default_max_age": "60"}, ICM),
    ("default_max_age", {"default_max_age": 2**31}, ICM),
    ("require_auth_time", {"require_auth_time": 1}, ICM),
    ("require_auth_time", {"require_auth_time": "true"}, ICM),
    ("frontchannel_logout_session_required", {"frontchannel_logout_session_required": 0}, ICM),
    ("backchannel_logout_session_required", {"backchannel_logout_session_required": "no"}, ICM),
    (
        "tls_client_certificate_bound_access_tokens",
        {"tls_client_certificate_bound_access_tokens": 1},
        ICM,
    ),
    ("dpop_bound_access_tokens", {"dpop_bound_access_tokens": []}, ICM),
    ("id_token_signed_response_alg", {"id_token_signed_response_alg": 256}, ICM),
    ("userinfo_signed_response_alg", {"userinfo_signed_response_alg": ""}, ICM),
    ("scope", {"scope": ["openid"]}, ICM),
    ("scope", {"scope": 'openid "quoted"'}, ICM),
    ("scope", {"scope": "openid back\\slash"}, ICM),
    ("scope", {"scope": "openid prófile"}, ICM),
    ("jwks", {"jwks": "{}"}, ICM),
    ("jwks", {"jwks": {"keys": {}}}, ICM),
    ("jwks", {"jwks": {"keys": [1]}}, ICM),
    ("jwks", {"jwks": {"keys": [{"kid": "no-kty"}]}}, ICM),
    ("jwks", {"jwks": {"keys": [{"kty": "RSA", "oth": [{"r": "x"}]}]}}, ICM),
    # URL rules
    ("client_uri", {"client_uri": "rp.example.org"}, ICM),
    ("client_uri", {"client_uri": "ftp://rp.example.org/"}, ICM),
    ("logo_uri", {"logo_uri": "/logo.png"}, ICM),
    ("logo_uri", {"logo_uri": "data:image/png;base64,AAAA"}, ICM),
    ("tos_uri", {"tos_uri": "javascript:alert(1)"}, ICM),
    ("policy_uri", {"policy_uri": "https://"}, ICM),
    ("policy_uri", {"policy_uri": "https://rp.example.org/a b"}, ICM),
    ("jwks_uri", {"jwks_uri": "http://rp.example.org/jwks"}, ICM),
    ("sector_identifier_uri", {"sector_identifier_uri": "http://127.0.0.1/s.json"}, ICM),
    ("initiate_login_uri", {"initiate_login_uri": "http://rp.example.org/login"}, ICM),
    ("request_uris", {"request_uris": ["/req.jwt"]}, ICM),
    ("request_uris", {"request_uris": "https://rp.example.org/req.jwt"}, ICM),
    ("post_logout_redirect_uris", {"post_logout_redirect_uris": ["javascript:alert(1)"]}, ICM),
    ("post_logout_redirect_uris", {"post_logout_redirect_uris": ["bye"]}, ICM),
    ("frontchannel_logout_uri", {"frontchannel_logout_uri": "logout"}, ICM),
    ("backchannel_logout_uri", {"backchannel_logout_uri": "https://rp.example.org/bc#x"}, ICM),
    # rules across members
    ("jwks", {"jwks": JWKS, "jwks_uri": "https://rp.example.org/jwks"}, ICM),
    ("id_token_encrypted_response_alg", {"id_token_encrypted_response_enc": "A256GCM"}, ICM),
    ("userinfo_encrypted_response_alg", {"userinfo_encrypted_response_enc": "A256GCM"}, ICM),
    ("request_object_encryption_alg", {"request_object_encryption_enc": "A256GCM"}, ICM),
    ("id_token_signed_response_alg", {"id_token_signed_response_alg": "none", **IMPLICIT}, ICM),
    (
        "id_token_signed_response_alg",
        {"id_token_signed_response_alg": "none", "response_types": ["code id_token"]},
        ICM,
    ),
    ("token_endpoint_auth_signing_alg", {"token_endpoint_auth_signing_alg": "none"}, ICM),
    ("response_types", {"grant_types": ["client_credentials"], "response_types": ["code"]}, ICM),
    (
        "response_types",
        {"grant_types": ["authorization_code"], "response_types": ["code", "token"]},
        ICM,
    ),
    (
        "grant_types",
        {"grant_types": ["authorization_code", "implicit"], "response_types": ["token"]},
        ICM,
    ),
    ("grant_types", {"grant_types": ["implicit"], "response_types": ["none"]}, ICM),
    # redirect URI rules
    ("redirect_uris", {"redirect_uris": None}, IRU),
    ("redirect_uris", {"redirect_uris": []}, IRU),
    ("redirect_uris", {"redirect_uris": [], **IMPLICIT}, IRU),
    ("redirect_uris", {"redirect_uris": RP}, IRU),
    ("redirect_uris", {"redirect_uris": [RP, 5]}, IRU),
    ("redirect_uris", {"redirect_uris": [""]}, IRU),
    ("redirect_uris", {"redirect_uris": ["/cb"]}, IRU),
    ("redirect_uris", {"redirect_uris": ["rp.example.org/cb"]}, IRU),
    ("redirect_uris", {"redirect_uris": ["https://rp.example.org/cb#frag"]}, IRU),
    ("redirect_uris", {"redirect_uris": ["https://rp.example.org/cb#"]}, IRU),
    ("redirect_uris", {"redirect_uris": ["javascript:alert(1)//https://x"]}, IRU),
    (
        "redirect_uris",
        {"redirect_uris": ["JavaScript:alert(1)"], "application_type": "native"},
        IRU,
    ),
    (
        "redirect_uris",
        {"redirect_uris": ["data:text/html,<script>"], "application_type": "native"},
        IRU,
    ),
    ("redirect_uris", {"redirect_uris": ["vbscript:msgbox"], "application_type": "native"}, IRU),
    ("redirect_uris", {"redirect_uris": ["file:///etc/passwd"], "application_type": "native"}, IRU),
    (
        "redirect_uris",
        {"redirect_uris": ["java\tscript:alert(1)"], "application_type": "native"},
        IRU,
    ),
    ("redirect_uris", {"redirect_uris": [" https://rp.example.org/cb"]}, IRU),
    ("redirect_uris", {"redirect_uris": ["http:///cb"]}, IRU),
    ("redirect_uris", {"redirect_uris": ["http://[::1/cb"]}, IRU),
    ("redirect_uris", {"redirect_uris": ["http://localhost:99999/cb"]}, IRU),
    ("redirect_uris", {"redirect_uris": ["http://localhost:port/cb"]}, IRU),
    ("redirect_uris", {"redirect_uris": ["http://127.0.0.1/cb"], **IMPLICIT}, IRU),
    ("redirect_uris", {"redirect_uris": ["https://localhost/cb"], **IMPLICIT}, IRU),
    ("redirect_uris", {"redirect_uris": ["https://127.0.0.1/cb"], **IMPLICIT}, IRU),
    ("redirect_uris", {"redirect_uris": ["https://[::1]/cb"], **IMPLICIT}, IRU),
    (
        "redirect_uris",
        {"redirect_uris": ["http://rp.example.org/cb"], "application_type": "native"},
        IRU,
    ),
]


@pytest.mark.parametrize(
    ("member", "body", "error"),
    REFUSED,
    ids=[f"{member}-{index}" for index, (member, _, _) in enumerate(REFUSED)],
)
def test_refused_metadata_names_the_member(
    member: str, body: dict[str, Any], error: type[Exception]
) -> None:
    raised = _error({**BASE, **body})
    assert type(raised) is error
    assert member in raised.description


# --- hostile values: any JSON value gives a 400 or success, never another exception ---------


def _nested_list(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def _nested_dict(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"keys": value}
    return value


HOSTILE: dict[str, object] = {
    "null": None,
    "zero": 0,
    "one": 1,
    "negative": -1,
    "big_int": 2**63 - 1,
    "float": 1.5,
    "true": True,
    "false": False,
    "empty_string": "",
    "huge_string": "a" * 1_000_000,
    "huge_url": "https://rp.example.org/" + "a" * 1_000_000,
    "nul_char": "\x00",
    "bidi_and_bom": "\u202e\ufeff",
    "unicode_host": "https://bücher.example/cb",
    "bad_ipv6": "http://[::1",
    "bad_port": "https://rp.example.org:99999/",
    "javascript": "javascript:alert(1)",
    "empty_list": [],
    "list_of_null": [None],
    "list_of_numbers": [1, 2],
    "list_of_lists": [["a"]],
    "list_of_dicts": [{"a": 1}],
    "nested_lists_1000": _nested_list(1000),
    "nested_dicts_1000": _nested_dict(1000),
    "strings_10000": [f"s{i}" for i in range(10_000)],
    "urls_10000": [f"https://rp.example.org/{i}" for i in range(10_000)],
    "same_string_10000": ["openid"] * 10_000,
    "empty_dict": {},
    "dict_as_string": {"a": "b"},
    "jwks_null_keys": {"keys": None},
    "jwks_nested_key": {"keys": [{"kty": "RSA", "n": _nested_list(1000)}]},
    "jwks_10000_keys": {"keys": [{"kty": "oct", "k": "AAAA"}] * 10_000},
}
MEMBERS = sorted(UNDERSTOOD_MEMBERS) + ["client_name#en", "logo_uri#ja-Jpan-JP", "client_name#!"]


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
@pytest.mark.parametrize("member", MEMBERS)
def test_hostile_value_is_400_or_accepted(member: str, value: object) -> None:
    try:
        result = validate_client_metadata({**BASE, member: value})
    except (InvalidClientMetadata, InvalidRedirectUri) as error:
        assert len(error.description) < 300  # never echoes a huge value
    else:
        dumps(result)  # what is accepted can be rendered (orjson nests at most 254 deep)


def test_a_huge_body_of_unknown_members_is_ignored() -> None:
    body = {**BASE, **{f"x-{i}": _nested_list(50) for i in range(10_000)}}
    assert validate_client_metadata(body) == validate_client_metadata(BASE)


# --- client URIs as browsers read them (WHATWG URL) -----------------------------------------

# (URI, what the refusal names): each is refused in every URI member; browsers would go
# somewhere other than where the text seems to point, or the text is not one URI to all readers
HOSTILE_URIS = [
    pytest.param("https://evil.com\\.example.org/cb", "backslash", id="backslash_in_host"),
    pytest.param("http://evil.com\\@127.0.0.1:8080/cb", "backslash", id="backslash_at"),
    pytest.param("https://u\\ser@rp.example.org/cb", "backslash", id="backslash_in_userinfo"),
    pytest.param("https://rp.example.org/a\\b", "backslash", id="backslash_in_path"),
    pytest.param("https://rp.exa\tmple.org/cb", "control", id="tab_in_host"),
    pytest.param("https://rp.example.org/c\nb", "control", id="newline_in_path"),
    pytest.param("https://rp.example.org/cb\r\n", "control", id="crlf_at_end"),
    pytest.param("https://rp.example.org/c\x85b", "control", id="c1_control"),
    pytest.param("https://rp.example.org/c\x7fb", "control", id="del"),
    pytest.param("https://%65vil.com/cb", "percent-encoded host", id="percent_host"),
    pytest.param("https://evil.com%2e.example.org/cb", "percent-encoded", id="pct_2e_host"),
    pytest.param("https://evil.com%5c.example.org/cb", "percent-encoded", id="pct_5c_host"),
    pytest.param("https:///cb", "empty host", id="empty_host"),
    pytest.param("https:///evil.com/cb", "empty host", id="empty_host_then_name"),
    pytest.param("myapp:///cb", "empty host", id="custom_scheme_empty_host"),
    pytest.param("https://*/cb", "neither a domain name", id="star_host"),
    pytest.param("https://*.example.org/cb", "neither a domain name", id="wildcard_host"),
    pytest.param("https://evil.com;.example.org/cb", "neither a domain", id="semicolon_host"),
    pytest.param("http://0x7f.1:8080/cb", "read differently", id="hex_ipv4"),
    pytest.param("http://2130706433:8080/cb", "read differently", id="decimal_ipv4"),
    pytest.param("http://127.1:8080/cb", "read differently", id="short_ipv4"),
    pytest.param("https://ｅｘａｍｐｌｅ.org/cb", "read differently", id="fullwidth_host"),
    pytest.param("https://exa\u00admple.org/cb", "read differently", id="soft_hyphen_host"),
    pytest.param("https://rp.example.org\u3002evil.com/cb", "differently", id="ideographic_dot"),
    pytest.param("https://rp.example.org/a/../cb", "read differently", id="dot_segments"),
    pytest.param("https://rp.example.org/a/%2e%2e/cb", "read differently", id="encoded_dots"),
    pytest.param("https://rp.example.org/ü", "read differently", id="raw_unicode_path"),
    pytest.param("https://@rp.example.org/cb", "read differently", id="empty_userinfo"),
    pytest.param("https://rp.example.123/cb", "browsers refuse", id="numeric_tld"),
]
# URI members other than redirect_uris, each with a URI it accepts
OTHER_URI_MEMBERS = {
    "client_uri": "https://rp.example.org/",
    "logo_uri#fr": "https://rp.example.org/logo.png",
    "jwks_uri": "https://rp.example.org/jwks.json",
    "request_uris": ["https://rp.example.org/req.jwt"],
    "post_logout_redirect_uris": ["https://rp.example.org/bye"],
    "backchannel_logout_uri": "https://rp.example.org/bc",
}


@pytest.mark.parametrize(("uri", "reason"), HOSTILE_URIS)
def test_hostile_redirect_uri_is_invalid_redirect_uri(uri: str, reason: str) -> None:
    native = {"application_type": "native"} if uri.startswith("myapp:") else {}
    error = _error({"redirect_uris": [RP, uri], **native})
    assert type(error) is InvalidRedirectUri
    assert "redirect_uris" in error.description and reason in error.description


@pytest.mark.parametrize(("uri", "reason"), HOSTILE_URIS)
@pytest.mark.parametrize("member", sorted(OTHER_URI_MEMBERS))
def test_hostile_uri_in_any_other_uri_member_is_invalid_client_metadata(
    member: str, uri: str, reason: str
) -> None:
    value = [uri] if isinstance(OTHER_URI_MEMBERS[member], list) else uri
    error = _error({**BASE, member: value})
    assert type(error) is InvalidClientMetadata
    assert member in error.description


@pytest.mark.parametrize(
    "uri",
    ["https://user@rp.example.org/cb", "https://user:password@rp.example.org/cb"],
)
@pytest.mark.parametrize(
    ("member", "error"),
    [("redirect_uris", InvalidRedirectUri), ("post_logout_redirect_uris", InvalidClientMetadata)],
)
def test_redirect_uri_with_userinfo_is_refused(
    member: str, error: type[Exception], uri: str
) -> None:
    raised = _error({**BASE, member: [uri]})
    assert type(raised) is error
    assert f"{member} must not hold a URI with userinfo" in raised.description


@pytest.mark.parametrize(
    ("uri", "application_type"),
    [
        ("https://RP.EXAMPLE.ORG/cb", "web"),  # a host's case is no difference
        ("HTTPS://rp.example.org/cb", "web"),
        ("https://bücher.example/cb", "web"),  # IDNA: browsers go to xn--bcher-kva.example
        ("https://BÜCHER.example/cb", "web"),
        ("https://xn--bcher-kva.example/cb", "web"),
        ("https://straße.example/cb", "web"),  # UTS #46 nontransitional, as browsers
        ("https://rp.example.org./cb", "web"),
        ("https://rp.example.org:443/cb", "web"),
        ("https://rp.example.org:8443/cb?x=1&y=a%20b", "web"),
        ("https://rp.example.org", "web"),  # an empty path is "/" to a browser
        ("https://rp.example.org/a%2Fb", "web"),  # an encoded slash stays encoded
        ("https://rp_internal.example.org/cb", "web"),
        ("http://127.0.0.1:8080/cb", "web"),  # MCP clients: web, code flow, loopback http
        ("http://localhost:8080/cb", "web"),
        ("http://[::1]:8080/cb", "web"),
        ("http://[0:0:0:0:0:0:0:1]:8080/cb", "web"),  # one IPv6 address, two spellings
        ("http://[::1]:8080/cb", "native"),
        ("http://127.0.0.1:51004/", "native"),
        ("com.example.app:/oauth2redirect", "native"),
        ("com.example.App://Callback", "native"),
        ("urn:ietf:wg:oauth:2.0:oob", "native"),
    ],
)
def test_browser_readable_redirect_uri_is_accepted(uri: str, application_type: str) -> None:
    body = {"redirect_uris": [uri], "application_type": application_type}
    assert validate_client_metadata(body)["redirect_uris"] == [uri]  # stored as sent


@pytest.mark.parametrize(
    ("member", "uri"),
    [
        ("jwks_uri", "http://[::1]:8080/jwks"),  # loopback http, IPv6
        ("jwks_uri", "https://user:pw@rp.example.org/jwks"),  # userinfo: redirect URIs only
        ("client_uri", "https://bücher.example"),
        ("logo_uri", "https://RP.example.org/logo.png"),
    ],
)
def test_browser_readable_url_is_accepted(member: str, uri: str) -> None:
    assert validate_client_metadata({**BASE, member: uri})[member] == uri


def test_jwks_uri_on_a_disguised_loopback_host_is_not_loopback() -> None:
    # urlsplit reads host 127.0.0.1 here; a browser (and the WHATWG fetch) goes to evil.com
    error = _error({**BASE, "jwks_uri": "http://evil.com\\@127.0.0.1:8080/jwks"})
    assert type(error) is InvalidClientMetadata and "jwks_uri" in error.description


# --- control characters in any string member ------------------------------------------------

CONTROLS = ["\x00", "\x01", "\t", "\n", "\r", "\x1b", "\x1f", "\x7f", "\x80", "\x85", "\x9b"]


def _with_controls(text: str) -> list[tuple[str, Any]]:
    """(member, value) placing text inside every kind of string member."""
    return [
        ("client_name", f"My{text}Client"),
        ("client_name#en", f"My{text}Client"),
        ("software_id", f"id{text}"),
        ("software_statement", f"eyJ{text}.x.y"),
        ("id_token_signed_response_alg", f"RS256{text}"),
        ("scope", f"openid{text}profile"),
        ("contacts", ["ops@rp.example.org", f"ops{text}@rp.example.org"]),
        ("default_acr_values", [f"urn:acr{text}"]),
        ("grant_types", ["authorization_code", f"urn:x:{text}"]),
        ("jwks", {"keys": [{"kty": "EC", "crv": "P-256", "x": f"f8{text}3O", "y": "x_FE"}]}),
        ("jwks", {"keys": [{"kty": "RSA", "x5c": ["MIIB", f"MI{text}IB"]}]}),
        ("jwks", {"keys": [{"kty": "EC", f"kid{text}": "1"}]}),  # a JWK member's name
        ("client_uri", f"https://rp.example.org/{text}"),
        ("post_logout_redirect_uris", [f"https://rp.example.org/{text}bye"]),
    ]


@pytest.mark.parametrize(
    ("member", "value"),
    [pair for char in CONTROLS for pair in _with_controls(char)],
)
def test_control_character_in_a_string_member_is_invalid_client_metadata(
    member: str, value: Any
) -> None:
    error = _error({**BASE, member: value})
    assert type(error) is InvalidClientMetadata
    assert member in error.description


@pytest.mark.parametrize("char", CONTROLS)
def test_control_character_in_redirect_uris_is_invalid_redirect_uri(char: str) -> None:
    error = _error({"redirect_uris": [RP, f"https://rp.example.org/cb{char}"]})
    assert type(error) is InvalidRedirectUri
    assert error.description == "redirect_uris must not contain control characters"


@pytest.mark.parametrize(
    "name", ["名前", "Ünïcödé client", "émoji 🚀", "a\u00a0b", 'quote " and \\ backslash']
)
def test_text_without_control_characters_is_kept(name: str) -> None:
    assert validate_client_metadata({**BASE, "client_name": name})["client_name"] == name


@pytest.mark.parametrize("separator", ["\u00a0", "\u3000", "\u2003"])
def test_scope_tokens_are_separated_by_spaces_only(separator: str) -> None:
    # RFC 6749 §3.3: scope = scope-token *( SP scope-token )
    error = _error({**BASE, "scope": f"openid{separator}profile"})
    assert type(error) is InvalidClientMetadata and "scope" in error.description


# --- a public client cannot use client_credentials ------------------------------------------


@pytest.mark.parametrize(
    "grant_types",
    [["client_credentials"], ["authorization_code", "client_credentials", "refresh_token"]],
)
def test_public_client_with_client_credentials_is_invalid_client_metadata(
    grant_types: list[str],
) -> None:
    body = {**BASE, "token_endpoint_auth_method": "none", "grant_types": grant_types}
    error = _error(body)
    assert type(error) is InvalidClientMetadata
    assert "client_credentials" in error.description and "none" in error.description


@pytest.mark.parametrize(
    "method", ["client_secret_basic", "client_secret_post", "private_key_jwt", "tls_client_auth"]
)
def test_confidential_client_may_use_client_credentials(method: str) -> None:
    body = {"token_endpoint_auth_method": method, "grant_types": ["client_credentials"]}
    assert validate_client_metadata(body)["grant_types"] == ["client_credentials"]
