"""Keycloak's ClientRepresentation and RFC 7591 client metadata, one into the other.

The map follows Keycloak's own converter between its representation and OIDC client metadata
(its DescriptionConverter), documented in docs/reference.md ("Keycloak's representation"):
flags become grant types, `publicClient` the auth method `none`, `baseUrl` is `client_uri`,
and a few attributes are metadata members. What has no metadata member (`description`,
`rootUrl`, `webOrigins`, other attributes, `protocol`, …) is kept beside the metadata under
KEYCLOAK_MEMBERS, so every face of the client shows it back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.errors import InvalidClientMetadata

# the stored metadata's member holding what only the representation has (never an RFC 7591
# member: the OIDC face drops it on input, as every member it does not understand)
KEYCLOAK_MEMBERS = "keycloak_representation"
MAX_CLIENT_ID = 255
SAML = "saml"
OIDC = "openid-connect"
PROTOCOLS = frozenset({OIDC, SAML})

# attribute ↔ metadata member, both strings
_ATTRIBUTE_MEMBERS = (
    ("logoUri", "logo_uri"),
    ("policyUri", "policy_uri"),
    ("tosUri", "tos_uri"),
    ("jwks.url", "jwks_uri"),
    ("id.token.signed.response.alg", "id_token_signed_response_alg"),
    ("user.info.response.signature.alg", "userinfo_signed_response_alg"),
    ("request.object.signature.alg", "request_object_signing_alg"),
    ("token.endpoint.auth.signing.alg", "token_endpoint_auth_signing_alg"),
    # RFC 7591 §2: what a software statement vouched for, shown to the realm's admins
    ("software_id", "software_id"),
    ("software_version", "software_version"),
)
_AUTHENTICATORS = {
    "client-secret": "client_secret_basic",
    "client-jwt": "private_key_jwt",
    "client-secret-jwt": "client_secret_jwt",
    "client-x509": "tls_client_auth",
}
_AUTH_METHODS = {
    "client_secret_basic": "client-secret",
    "client_secret_post": "client-secret",
    "private_key_jwt": "client-jwt",
    "client_secret_jwt": "client-secret-jwt",
    "tls_client_auth": "client-x509",
    "self_signed_tls_client_auth": "client-x509",
}
# flag ↔ grant type; standardFlowEnabled is handled apart (its default depends on redirectUris)
_FLAG_GRANTS = (
    ("implicitFlowEnabled", "implicit"),
    ("directAccessGrantsEnabled", "password"),
    ("serviceAccountsEnabled", "client_credentials"),
)
_FLAGS = (
    "standardFlowEnabled", "implicitFlowEnabled", "directAccessGrantsEnabled",
    "serviceAccountsEnabled", "publicClient", "bearerOnly", "consentRequired",
    "fullScopeAllowed", "enabled", "frontchannelLogout",
)  # fmt: skip
_KEPT_TEXTS = ("description", "rootUrl", "adminUrl", "protocol")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
LIST_SEPARATOR = "##"  # Keycloak's separator of several values in one attribute


@dataclass(frozen=True)
class Representation:
    """A ClientRepresentation read: the metadata it stands for, and what lives beside it."""

    client_id: str | None
    metadata: dict[str, Any]  # RFC 7591 members, to be validated as any registration's
    kept: dict[str, Any]  # stored under KEYCLOAK_MEMBERS
    secret: str | None
    consent_required: bool
    full_scope_allowed: bool
    enabled: bool


def read_representation(rep: Mapping[str, Any]) -> Representation:
    """A ClientRepresentation → RFC 7591 metadata (unknown members are ignored, as RFC 7591 §2
    asks of metadata); wrong types → 400 invalid_client_metadata."""
    flags = {name: _flag(rep, name) for name in _FLAGS}
    redirect_uris = _texts(rep, "redirectUris")
    attributes = _attributes(rep)
    protocol = _text(rep, "protocol") or OIDC
    if protocol not in PROTOCOLS:
        raise InvalidClientMetadata(f"protocol must be one of {', '.join(sorted(PROTOCOLS))}")
    metadata: dict[str, Any] = {}
    if (name := _text(rep, "name")) is not None:
        metadata["client_name"] = name
    if (base_url := _text(rep, "baseUrl")) is not None:
        metadata["client_uri"] = base_url
    if redirect_uris:
        metadata["redirect_uris"] = redirect_uris
    metadata["grant_types"] = _grant_types(flags, redirect_uris, attributes, protocol)
    metadata["token_endpoint_auth_method"] = _auth_method(rep, flags)
    for attribute, member in _ATTRIBUTE_MEMBERS:
        if attributes.get(attribute):
            metadata[member] = attributes[attribute]
    if attributes.get("post.logout.redirect.uris"):
        uris = attributes["post.logout.redirect.uris"].split(LIST_SEPARATOR)
        metadata["post_logout_redirect_uris"] = [uri for uri in uris if uri]
    scopes = [*_texts(rep, "defaultClientScopes"), *_texts(rep, "optionalClientScopes")]
    if scopes:
        metadata["scope"] = " ".join(dict.fromkeys(scopes))
    kept: dict[str, Any] = {name: rep[name] for name in _KEPT_TEXTS if _text(rep, name)}
    kept["protocol"] = protocol
    if web_origins := _texts(rep, "webOrigins"):
        kept["webOrigins"] = web_origins
    if flags["bearerOnly"]:
        kept["bearerOnly"] = True
    if flags["frontchannelLogout"] is not None:
        kept["frontchannelLogout"] = flags["frontchannelLogout"]
    mapped = {attribute for attribute, _ in _ATTRIBUTE_MEMBERS}
    mapped |= {"use.jwks.url", "post.logout.redirect.uris", "use.refresh.tokens"}
    if rest := {k: v for k, v in attributes.items() if k not in mapped}:
        kept["attributes"] = rest
    return Representation(
        client_id=_client_id(rep),
        metadata=metadata,
        kept=kept,
        secret=_text(rep, "secret"),
        consent_required=flags["consentRequired"] is True,
        full_scope_allowed=flags["fullScopeAllowed"] is not False,
        enabled=flags["enabled"] is not False,
    )


def representation(
    client_id: str,
    key: str,
    metadata: Mapping[str, Any],
    flags: Mapping[str, Any],
    default_scopes: Sequence[str],
) -> dict[str, Any]:
    """RFC 7591 metadata (and what was kept beside it) → Keycloak's ClientRepresentation.

    `flags`: the row's `enabled`, `consentRequired`, `fullScopeAllowed`, `registrationAuth`,
    `createdTimestamp`, `lastUsedTimestamp`, shown as they are."""
    kept: Mapping[str, Any] = metadata.get(KEYCLOAK_MEMBERS) or {}
    grants: list[str] = list(metadata.get("grant_types", []))
    method = metadata.get("token_endpoint_auth_method", "client_secret_basic")
    attributes: dict[str, str] = dict(kept.get("attributes", {}))
    for attribute, member in _ATTRIBUTE_MEMBERS:
        if isinstance(metadata.get(member), str):
            attributes[attribute] = metadata[member]
    if metadata.get("jwks_uri"):
        attributes["use.jwks.url"] = "true"
    if metadata.get("post_logout_redirect_uris"):
        attributes["post.logout.redirect.uris"] = LIST_SEPARATOR.join(
            metadata["post_logout_redirect_uris"]
        )
    attributes["use.refresh.tokens"] = "true" if "refresh_token" in grants else "false"
    scopes = str(metadata.get("scope") or "").split()
    shown: dict[str, Any] = {
        "id": key,
        "clientId": client_id,
        "name": metadata.get("client_name"),
        "description": kept.get("description"),
        "rootUrl": kept.get("rootUrl"),
        "adminUrl": kept.get("adminUrl"),
        "baseUrl": metadata.get("client_uri"),
        "enabled": flags["enabled"],
        "clientAuthenticatorType": _AUTH_METHODS.get(method, "client-secret"),
        "redirectUris": list(metadata.get("redirect_uris", [])),
        "webOrigins": list(kept.get("webOrigins", [])),
        "bearerOnly": bool(kept.get("bearerOnly", False)),
        "consentRequired": flags["consentRequired"],
        "standardFlowEnabled": "authorization_code" in grants,
        "implicitFlowEnabled": "implicit" in grants,
        "directAccessGrantsEnabled": "password" in grants,
        "serviceAccountsEnabled": "client_credentials" in grants,
        "publicClient": method == "none",
        "frontchannelLogout": bool(kept.get("frontchannelLogout", False)),
        "protocol": kept.get("protocol", OIDC),
        "attributes": attributes,
        "fullScopeAllowed": flags["fullScopeAllowed"],
        "defaultClientScopes": [s for s in scopes if s in default_scopes],
        "optionalClientScopes": [s for s in scopes if s not in default_scopes],
    }
    for name in ("registrationAuth", "createdTimestamp", "lastUsedTimestamp"):
        if name in flags:
            shown[name] = flags[name]
    return shown


def _client_id(rep: Mapping[str, Any]) -> str | None:
    """A caller-chosen clientId: text of 1 to MAX_CLIENT_ID characters, no control character."""
    value = rep.get("clientId")
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidClientMetadata("clientId must be a non-empty string")
    if len(value) > MAX_CLIENT_ID or _CONTROL.search(value):
        raise InvalidClientMetadata(
            f"clientId must be at most {MAX_CLIENT_ID} characters, without control characters"
        )
    return value


def _grant_types(
    flags: Mapping[str, bool | None],
    redirect_uris: list[str],
    attributes: Mapping[str, str],
    protocol: str,
) -> list[str]:
    if protocol == SAML or flags["bearerOnly"]:
        return []  # no OAuth flow: SAML clients, and bearer-only ones, only receive tokens
    standard = flags["standardFlowEnabled"]
    # Keycloak's default is the standard flow on; a client without redirect URIs could not
    # use it (docs/reference.md: redirect_uris required for authorization_code), so there the
    # default is off
    grants = ["authorization_code"] if standard or (standard is None and redirect_uris) else []
    grants += [grant for flag, grant in _FLAG_GRANTS if flags[flag]]
    if attributes.get("use.refresh.tokens") == "true" and (
        "authorization_code" in grants or "password" in grants
    ):
        grants.append("refresh_token")
    return grants


def _auth_method(rep: Mapping[str, Any], flags: Mapping[str, bool | None]) -> str:
    if flags["publicClient"]:
        return "none"
    authenticator = _text(rep, "clientAuthenticatorType") or "client-secret"
    if authenticator not in _AUTHENTICATORS:
        raise InvalidClientMetadata(
            f"clientAuthenticatorType must be one of {', '.join(sorted(_AUTHENTICATORS))}"
        )
    return _AUTHENTICATORS[authenticator]


def _flag(rep: Mapping[str, Any], name: str) -> bool | None:
    value = rep.get(name)
    if value is not None and not isinstance(value, bool):
        raise InvalidClientMetadata(f"{name} must be true or false")
    return value


def _text(rep: Mapping[str, Any], name: str) -> str | None:
    value = rep.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidClientMetadata(f"{name} must be a string")
    if value is not None and _CONTROL.search(value):
        raise InvalidClientMetadata(f"{name} must not contain control characters")
    return value


def _texts(rep: Mapping[str, Any], name: str) -> list[str]:
    value = rep.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidClientMetadata(f"{name} must be an array of strings")
    return list(value)


def _attributes(rep: Mapping[str, Any]) -> dict[str, str]:
    value = rep.get("attributes")
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(v, str | bool | int) for v in value.values()
    ):
        raise InvalidClientMetadata("attributes must be an object of strings")
    # Keycloak's attributes are strings; a JSON true or 5 is read as its text
    return {str(k): (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in value.items()}
