"""Per-realm discovery (OIDC Discovery 1.0 §3, RFC 8414 §2): only what is true of this server."""

from __future__ import annotations

from typing import Any

from app.auth.client_assertions import ASSERTION_ALGS
from app.config.realm_models import RealmConfig

TOKEN_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
# the claims an ID token or userinfo may carry (docs/reference.md §6)
CLAIMS = [
    "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "azp", "sid",
    "preferred_username", "name", "email",
]  # fmt: skip


def server_metadata(issuer: str, realm: RealmConfig) -> dict[str, Any]:
    """The authorization server metadata of the realm whose issuer identifier is `issuer`."""
    oidc = f"{issuer}/protocol/openid-connect"
    metadata: dict[str, Any] = {
        # RFC 8414 §3.3: "The "issuer" value returned MUST be identical to the authorization
        # server's issuer identifier value into which the well-known URI string was inserted"
        "issuer": issuer,
        "authorization_endpoint": f"{oidc}/auth",
        "token_endpoint": f"{oidc}/token",
        "introspection_endpoint": f"{oidc}/token/introspect",
        "userinfo_endpoint": f"{oidc}/userinfo",
        "revocation_endpoint": f"{oidc}/revoke",
        "end_session_endpoint": f"{oidc}/logout",
        "jwks_uri": f"{oidc}/certs",
        "registration_endpoint": f"{issuer}/clients-registrations/openid-connect",
        "scopes_supported": list(realm.all_scopes),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [realm.tokens.signing_alg],
        "claims_supported": CLAIMS,
        # RFC 9207 §3: every authorization response carries `iss`
        "authorization_response_iss_parameter_supported": True,
        # `none`: public clients identify themselves by client_id (RFC 7591 §2)
        "token_endpoint_auth_methods_supported": [*TOKEN_AUTH_METHODS, "none"],
        "introspection_endpoint_auth_methods_supported": TOKEN_AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": [*TOKEN_AUTH_METHODS, "none"],
    }
    # RFC 7523 §2.2 / OIDC Core §9: private_key_jwt, signed with one of these
    metadata["token_endpoint_auth_methods_supported"].append("private_key_jwt")
    metadata["token_endpoint_auth_signing_alg_values_supported"] = list(ASSERTION_ALGS)
    if realm.client_id_metadata_documents.enabled:
        # draft-ietf-oauth-client-id-metadata-document: clients may name their document
        metadata["client_id_metadata_document_supported"] = True
    return metadata
