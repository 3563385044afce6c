"""Client metadata: RFC 7591 §2 (members, §2.1 grant/response consistency, §2.2 language tags),
OpenID Connect Dynamic Client Registration 1.0 §2, and the OIDC logout, RFC 8705 and RFC 9449
members; URI rules live in app/rules/client_uris.py. Pure: no I/O, no clock, so what needs a fetch
(the sector_identifier_uri document, OIDC DCR §5) or a key (software_statement) is not checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from app.errors import InvalidClientMetadata, InvalidRedirectUri, RegistrarError
from app.rules.client_uris import (
    check_fragmentless_url,
    check_redirect_like,
    check_redirect_uris,
    check_url,
)

TOKEN_ENDPOINT_AUTH_METHODS = frozenset(
    {
        "none",
        "client_secret_basic",
        "client_secret_post",
        "client_secret_jwt",
        "private_key_jwt",
        "tls_client_auth",
        "self_signed_tls_client_auth",
    }
)
GRANT_TYPES = frozenset(
    {
        "authorization_code",
        "implicit",
        "password",
        "client_credentials",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "urn:ietf:params:oauth:grant-type:saml2-bearer",
        "urn:ietf:params:oauth:grant-type:device_code",
        "urn:openid:params:grant-type:ciba",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    }
)
APPLICATION_TYPES = frozenset({"web", "native"})
SUBJECT_TYPES = frozenset({"public", "pairwise"})
LOCALIZABLE_MEMBERS = frozenset({"client_name", "client_uri", "logo_uri", "tos_uri", "policy_uri"})
DEFAULT_ENC = "A128CBC-HS256"
MAX_AGE_LIMIT = 2**31 - 1

_LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")  # loose BCP 47
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6749 §3.3 scope-token
_EXTENSION_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")  # RFC 3986 scheme ":" ...
_RESPONSE_WORDS = frozenset({"code", "token", "id_token"})
_ENCRYPTION_PAIRS = (
    ("id_token_encrypted_response_alg", "id_token_encrypted_response_enc"),
    ("userinfo_encrypted_response_alg", "userinfo_encrypted_response_enc"),
    ("request_object_encryption_alg", "request_object_encryption_enc"),
)
_GRANT_RESPONSES = (("authorization_code", "code"), ("implicit", "token"))
# C0 controls (NUL, tab and newline too), DEL and the C1 controls: no member of client metadata
# holds them; they forge log lines, cut strings short in C code and steer terminals (U+009B is
# a CSI). Text is otherwise free: "名前" or an emoji in client_name is fine.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_JSON_SCALARS = (str, int, float, bool)

Check = Callable[[str, object], object]


def validate_client_metadata(raw: Mapping[str, Any]) -> dict[str, Any]:
    """RFC 7591 §2 + OIDC DCR 1.0 §2: return the understood members, type-checked, normalized,
    defaults applied. Raises InvalidClientMetadata or InvalidRedirectUri, nothing else."""
    metadata = _read_members(raw)
    _settle_flows(metadata)
    metadata.setdefault("token_endpoint_auth_method", "client_secret_basic")
    metadata.setdefault("application_type", "web")
    _check_public_client(metadata)
    _check_redirect_uris(metadata)
    _check_keys(metadata)
    _check_algorithms(metadata)
    return metadata


def _read_members(raw: Mapping[str, Any]) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    for name, value in raw.items():
        # RFC 7592 §2.2: "Omitted fields MUST be treated as null or empty values by the
        # server", so a null member is the same as an absent one.
        if value is None or not isinstance(name, str):
            continue
        base, hash_sign, tag = name.partition("#")
        check = _MEMBERS.get(base)
        # RFC 7591 §2: "The authorization server MUST ignore any client metadata sent by the
        # client that it does not understand"
        if check is None or (hash_sign and base not in LOCALIZABLE_MEMBERS):
            continue
        if hash_sign and not _LANGUAGE_TAG.fullmatch(tag):
            raise InvalidClientMetadata(f"{base} has an invalid language tag (RFC 7591 §2.2)")
        _check_no_controls(name, value)
        metadata[name] = check(name, value)
    if metadata.get("scope") == "":
        del metadata["scope"]  # an empty scope asks for nothing: the realm's default applies
    return metadata


def _check_no_controls(member: str, value: object) -> None:
    """No control character in a string of the member: in arrays and JWK members (names too)."""
    pending = [value]
    while pending:  # a loop, not recursion: a hostile body nests arrays a thousand deep
        item = pending.pop()
        if isinstance(item, str):
            if _CONTROL.search(item):
                error = InvalidRedirectUri if member == "redirect_uris" else InvalidClientMetadata
                raise error(f"{member} must not contain control characters")
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())


# --- member kinds ---------------------------------------------------------------------------


def _show(text: str) -> str:
    return repr(text) if len(text) <= 40 else repr(text[:40]) + "…"


def _text(member: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidClientMetadata(f"{member} must be a non-empty string")
    return value


def _flag(member: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidClientMetadata(f"{member} must be a boolean")
    return value


def _texts(
    member: str, value: object, error: type[RegistrarError] = InvalidClientMetadata
) -> list[str]:
    """An array of non-empty strings, duplicates removed, order kept."""
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise error(f"{member} must be an array of non-empty strings")
    return list(dict.fromkeys(value))


def _one_of(allowed: frozenset[str], member: str, value: object) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise InvalidClientMetadata(f"{member} must be one of: {', '.join(sorted(allowed))}")
    return value


def _max_age(member: str, value: object) -> int:
    # bool is an int in Python, but true is not a number of seconds
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_AGE_LIMIT:
        raise InvalidClientMetadata(f"{member} must be an integer from 0 to {MAX_AGE_LIMIT}")
    return value


def _scope(member: str, value: object) -> str:
    """Space-separated scope tokens; runs of spaces become one space, duplicates go."""
    if not isinstance(value, str):
        raise InvalidClientMetadata(f"{member} must be a string of space-separated scopes")
    # RFC 6749 §3.3: scope = scope-token *( SP scope-token ); other whitespace (tabs are refused
    # as control characters, U+00A0 and U+3000 here) is no separator but part of a bad token
    tokens = [token for token in value.split(" ") if token]
    for token in tokens:
        if not _SCOPE_TOKEN.fullmatch(token):
            raise InvalidClientMetadata(f"{member} contains an invalid scope token {_show(token)}")
    return " ".join(dict.fromkeys(tokens))


def _grant_types(member: str, value: object) -> list[str]:
    grants = _texts(member, value)
    for grant in grants:
        # RFC 7591 §2: extension grant types are absolute URIs
        if grant not in GRANT_TYPES and not _EXTENSION_URI.fullmatch(grant):
            raise InvalidClientMetadata(f"{member} contains an unknown grant type {_show(grant)}")
    return grants


def _response_types(member: str, value: object) -> list[str]:
    """Each value is "none" or a space-separated set of code, token and id_token."""
    normalized: list[str] = []
    for item in _texts(member, value):
        words = item.split()
        if words != ["none"] and not (
            words and len(set(words)) == len(words) and _RESPONSE_WORDS.issuperset(words)
        ):
            raise InvalidClientMetadata(f"{member} contains an unknown value {_show(item)}")
        normalized.append(" ".join(words))
    return list(dict.fromkeys(normalized))


def _redirect_uris(member: str, value: object) -> list[str]:
    return _texts(member, value, InvalidRedirectUri)  # URI rules: _check_redirect_uris


def _redirect_like_uris(member: str, value: object) -> list[str]:
    uris = _texts(member, value)
    for uri in uris:
        check_redirect_like(member, uri)
    return uris


def _urls(member: str, value: object) -> list[str]:
    urls = _texts(member, value)
    for url in urls:
        check_url(member, url)
    return urls


def _jwk_member(value: object) -> bool:
    """JWK members are strings, numbers and arrays of those (x5c, key_ops); "oth" holds
    objects, but only private RSA keys use it, and a client registers public keys."""
    if isinstance(value, list):
        return all(isinstance(item, _JSON_SCALARS) for item in value)
    return isinstance(value, _JSON_SCALARS)


def _jwks(member: str, value: object) -> dict[str, Any]:
    keys = value.get("keys") if isinstance(value, dict) else None
    if not isinstance(keys, list):
        raise InvalidClientMetadata(f"{member} must be a JWK Set: an object with a keys array")
    for key in keys:
        # RFC 7517 §4.1: "The "kty" (key type) parameter MUST be present in a JWK."
        if not isinstance(key, dict) or not isinstance(key.get("kty"), str):
            raise InvalidClientMetadata(f"{member} keys must be objects with a kty string")
        if not all(_jwk_member(item) for item in key.values()):
            raise InvalidClientMetadata(f"{member} keys must hold strings, numbers and arrays")
    return {"keys": [dict(key) for key in keys]}


_web_url: Check = check_url
_https_url: Check = partial(check_url, https=True)
# jwks_uri: https, but http on a loopback host too, for local development
_jwks_uri: Check = partial(check_url, https=True, loopback_http=True)

# Server-managed members (client_id, client_secret, registration_access_token, ...) are not in
# the table, so they are dropped like any member we do not understand.
_MEMBERS: dict[str, Check] = {
    # RFC 7591 §2
    "redirect_uris": _redirect_uris,
    "token_endpoint_auth_method": partial(_one_of, TOKEN_ENDPOINT_AUTH_METHODS),
    "grant_types": _grant_types,
    "response_types": _response_types,
    "client_name": _text,
    "client_uri": _web_url,
    "logo_uri": _web_url,
    "scope": _scope,
    "contacts": _texts,
    "tos_uri": _web_url,
    "policy_uri": _web_url,
    "jwks_uri": _jwks_uri,
    "jwks": _jwks,
    "software_id": _text,
    "software_version": _text,
    "software_statement": _text,  # a JWT, stored as sent: not verified yet
    # OIDC DCR 1.0 §2
    "application_type": partial(_one_of, APPLICATION_TYPES),
    # "URL using the https scheme to be used in calculating Pseudonymous Identifiers"
    "sector_identifier_uri": _https_url,
    "subject_type": partial(_one_of, SUBJECT_TYPES),
    "id_token_signed_response_alg": _text,
    "id_token_encrypted_response_alg": _text,
    "id_token_encrypted_response_enc": _text,
    "userinfo_signed_response_alg": _text,
    "userinfo_encrypted_response_alg": _text,
    "userinfo_encrypted_response_enc": _text,
    "request_object_signing_alg": _text,
    "request_object_encryption_alg": _text,
    "request_object_encryption_enc": _text,
    "token_endpoint_auth_signing_alg": _text,
    "default_max_age": _max_age,
    "require_auth_time": _flag,
    "default_acr_values": _texts,
    # "URI using the https scheme that a third party can use to initiate a login by the RP"
    "initiate_login_uri": _https_url,
    "request_uris": _urls,  # a fragment may carry the SHA-256 of the request object
    # OIDC RP-Initiated, Front-Channel and Back-Channel Logout 1.0
    "post_logout_redirect_uris": _redirect_like_uris,
    "frontchannel_logout_uri": _web_url,
    "frontchannel_logout_session_required": _flag,
    "backchannel_logout_uri": check_fragmentless_url,
    "backchannel_logout_session_required": _flag,
    # RFC 8705 §3.4, RFC 9449 §5.2
    "tls_client_certificate_bound_access_tokens": _flag,
    "dpop_bound_access_tokens": _flag,
}
UNDERSTOOD_MEMBERS = frozenset(_MEMBERS)


# --- rules across members -------------------------------------------------------------------


def _settle_flows(metadata: dict[str, Any]) -> None:
    """Default or derive grant_types and response_types; refuse an explicit contradiction."""
    grants: list[str] | None = metadata.get("grant_types")
    responses: list[str] | None = metadata.get("response_types")
    if grants is not None and responses is not None:
        _check_flow_consistency(grants, responses)
    elif grants is not None:
        # RFC 7591 §2.1 table: authorization_code ↔ code, implicit ↔ token
        responses = [r for g, r in _GRANT_RESPONSES if g in grants]
    elif responses is not None:
        grants = [g for g, _ in _GRANT_RESPONSES if any(_needs(g, r) for r in responses)]
    else:
        grants, responses = ["authorization_code"], ["code"]
    metadata["grant_types"], metadata["response_types"] = grants, responses


def _needs(grant: str, response_type: str) -> bool:
    """Whether the grant is needed to use the response type (RFC 7591 §2.1)."""
    words = response_type.split()
    if grant == "authorization_code":
        return "code" in words
    return "token" in words or "id_token" in words


def _check_flow_consistency(grants: list[str], responses: list[str]) -> None:
    # RFC 7591 §2.1: "a server supporting these fields SHOULD take steps to ensure that a client
    # cannot register itself into an inconsistent state, for example, by returning an
    # "invalid_client_metadata" error response to an inconsistent registration request."
    with_code = any(_needs("authorization_code", r) for r in responses)
    with_tokens = any(_needs("implicit", r) for r in responses)
    if with_code and "authorization_code" not in grants:
        raise InvalidClientMetadata(
            "response_types with code require grant_types to include authorization_code"
        )
    if with_tokens and "implicit" not in grants:
        raise InvalidClientMetadata(
            "response_types with token or id_token require grant_types to include implicit"
        )
    if "authorization_code" in grants and not with_code:
        raise InvalidClientMetadata(
            "grant_types authorization_code requires response_types to include code"
        )
    if "implicit" in grants and not with_tokens:
        raise InvalidClientMetadata(
            "grant_types implicit requires response_types to include token or id_token"
        )


def _check_public_client(metadata: dict[str, Any]) -> None:
    # RFC 6749 §4.4: "The client credentials grant type MUST only be used by confidential
    # clients." A client with token_endpoint_auth_method none has no credentials to present.
    if (
        metadata["token_endpoint_auth_method"] == "none"
        and "client_credentials" in (metadata["grant_types"])
    ):
        raise InvalidClientMetadata(
            "grant_types client_credentials needs a confidential client: "
            "token_endpoint_auth_method none cannot use it"
        )


def _check_redirect_uris(metadata: dict[str, Any]) -> None:
    grants: list[str] = metadata["grant_types"]
    uris: list[str] = metadata.get("redirect_uris", [])
    if not uris:
        if "authorization_code" in grants or "implicit" in grants:
            raise InvalidRedirectUri(
                "redirect_uris is required for the authorization_code and implicit grants"
            )
        return
    check_redirect_uris(uris, metadata["application_type"], implicit="implicit" in grants)


def _check_keys(metadata: dict[str, Any]) -> None:
    # RFC 7591 §2: "The "jwks_uri" and "jwks" parameters MUST NOT both be present in the same
    # request or response."
    if "jwks" in metadata and "jwks_uri" in metadata:
        raise InvalidClientMetadata("jwks and jwks_uri must not both be present")


def _check_algorithms(metadata: dict[str, Any]) -> None:
    for alg, enc in _ENCRYPTION_PAIRS:
        # OIDC DCR §2: "When id_token_encrypted_response_enc is included,
        # id_token_encrypted_response_alg MUST also be provided." (likewise userinfo_,
        # request_object_encryption_)
        if enc in metadata and alg not in metadata:
            raise InvalidClientMetadata(f"{enc} requires {alg}")
        # OIDC DCR §2: "If id_token_encrypted_response_alg is specified, the default
        # id_token_encrypted_response_enc value is A128CBC-HS256."
        if alg in metadata:
            metadata.setdefault(enc, DEFAULT_ENC)
    # OIDC DCR §2: "The value none MUST NOT be used as the ID Token alg value unless the Client
    # uses only Response Types that return no ID Token from the Authorization Endpoint"
    if metadata.get("id_token_signed_response_alg") == "none" and any(
        "id_token" in r.split() for r in metadata["response_types"]
    ):
        raise InvalidClientMetadata(
            "id_token_signed_response_alg none is not allowed with response_types "
            "that return an ID Token"
        )
    # OIDC DCR §2 token_endpoint_auth_signing_alg: "The value none MUST NOT be used."
    if metadata.get("token_endpoint_auth_signing_alg") == "none":
        raise InvalidClientMetadata("token_endpoint_auth_signing_alg must not be none")
