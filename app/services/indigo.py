"""INDIGO IAM compatibility: which realm `/iam/api/client-registration` serves, and the
members INDIGO IAM adds to a registration (its RegisteredClientDTO, MitreID's defaults). The
registration itself is app/services/registration.py's, unchanged. Pure: no I/O, no Starlette.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.config.realm_models import RealmConfig
from app.errors import NotFound

INDIGO_PATH = "/iam/api/client-registration"
# INDIGO IAM answers a DELETE with Spring Security's default cache headers
DELETE_HEADERS = {
    "Cache-Control": "no-cache, no-store, max-age=0, must-revalidate",
    "Pragma": "no-cache",
    "Expires": "0",
}


def realm_name(path_realm: str | None, default_realm: str | None) -> str:
    """The realm a request names: the path's, else `default_realm` (404 when unset)."""
    if path_realm is not None:
        return path_realm
    if default_realm is None:
        raise NotFound("No default realm is configured for the INDIGO IAM path")
    return default_realm


def check_enabled(realm: RealmConfig) -> RealmConfig:
    """The realm if it has `compat: {indigo_iam: true}`, else 404."""
    if not realm.compat.indigo_iam:
        raise NotFound(f"Realm '{realm.name}' does not serve the INDIGO IAM path")
    return realm


def endpoint(base_url: str, path_realm: str | None) -> str:
    """The INDIGO registration endpoint the client used: bare, or under /realms/{realm}."""
    prefix = "" if path_realm is None else f"/realms/{path_realm}"
    return f"{base_url}{prefix}{INDIGO_PATH}"


def client_response(body: Mapping[str, Any], endpoint_uri: str) -> dict[str, Any]:
    """A registration (RFC 7591 §3.2.1 / RFC 7592 §3) with INDIGO IAM's members added."""
    reply = dict(body)
    # MitreID's ClientDetailsEntity defaults, which INDIGO IAM keeps for registered clients
    reply["reuse_refresh_token"] = True
    reply["dynamically_registered"] = True
    reply["clear_access_tokens_on_refresh"] = True
    # INDIGO's ClientConverter: a client that did not ask gets false
    reply["require_auth_time"] = bool(body.get("require_auth_time", False))
    # a java.util.Date, which Jackson writes as epoch milliseconds
    reply["created_at"] = int(body["client_id_issued_at"]) * 1000
    reply["registration_client_uri"] = f"{endpoint_uri}/{body['client_id']}"
    return reply
