"""Which requests CORS applies to, and which origin a realm lets in (Fetch standard, CORS
protocol): the realm's registration, token, revocation, userinfo, discovery and JWKS
endpoints, for the origins of its `cors.allowed_origins`. Pure: the web layer (app/web/cors.py)
answers and marks responses."""

from __future__ import annotations

# the endpoints under /realms/{realm}/ a browser application may call
_REALM_PATHS = (
    ("clients-registrations",),
    ("iam", "api", "client-registration"),
    ("protocol", "openid-connect", "token"),
    # a browser application (a public client) revokes its tokens and reads userinfo itself
    ("protocol", "openid-connect", "revoke"),
    ("protocol", "openid-connect", "userinfo"),
    ("protocol", "openid-connect", "certs"),
    (".well-known", "openid-configuration"),
)
# RFC 8414 §3.1: the well-known path inserted before the issuer's path
_INSERTED = (
    "/.well-known/oauth-authorization-server/realms/",
    "/.well-known/openid-configuration/realms/",
)


def cors_realm(path: str) -> str | None:
    """The realm whose CORS settings govern `path`, or None where CORS does not apply."""
    for prefix in _INSERTED:
        if path.startswith(prefix):
            name = path[len(prefix) :]
            return name if name and "/" not in name else None
    if not path.startswith("/realms/"):
        return None
    name, _, rest = path[len("/realms/") :].partition("/")
    segments = tuple(rest.split("/"))
    if name and any(segments[: len(known)] == known for known in _REALM_PATHS):
        return name
    return None


def allowed_origin(allowed: tuple[str, ...], origin: str) -> str | None:
    """The Access-Control-Allow-Origin value for `origin`, or None when it is not let in."""
    if "*" in allowed:
        return "*"
    return origin if origin in allowed else None
