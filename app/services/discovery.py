"""Per-realm discovery (OIDC Discovery 1.0 §3, RFC 8414 §2): only what is true of this server."""

from __future__ import annotations

from typing import Any

from app.config.realm_models import RealmConfig

TOKEN_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


def server_metadata(issuer: str, realm: RealmConfig) -> dict[str, Any]:
    """The authorization server metadata of the realm whose issuer identifier is `issuer`."""
    oidc = f"{issuer}/protocol/openid-connect"
    return {
        # RFC 8414 §3.3: "The "issuer" value returned MUST be identical to the authorization
        # server's issuer identifier value into which the well-known URI string was inserted"
        "issuer": issuer,
        "token_endpoint": f"{oidc}/token",
        "introspection_endpoint": f"{oidc}/token/introspect",
        "jwks_uri": f"{oidc}/certs",
        "registration_endpoint": f"{issuer}/clients-registrations/openid-connect",
        "scopes_supported": list(realm.all_scopes),
        "response_types_supported": [],
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": TOKEN_AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": TOKEN_AUTH_METHODS,
    }
