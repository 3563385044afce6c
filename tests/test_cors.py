"""CORS (Fetch standard) for browser applications: preflights answered with 204, and the
realm's registration, token, discovery and JWKS answers marked for the origins it allows, and
for no other; the fast lane's answers as the router's."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from app.config.realm_models import CorsConfig
from app.rules.cors import allowed_origin, cors_realm
from tests.helpers import dcr_path, register

pytestmark = pytest.mark.anyio

ALLOWED = "https://app.example.org"  # tests/app_realms/open.yaml
OTHER = "https://evil.example.net"


def preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type",
    }


@pytest.mark.parametrize(
    "path",
    [
        dcr_path(),
        dcr_path() + "/some-client",
        "/realms/open/protocol/openid-connect/token",
        "/realms/open/protocol/openid-connect/token/introspect",
        "/realms/open/protocol/openid-connect/certs",
        "/realms/open/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server/realms/open",
    ],
)
async def test_a_preflight_from_an_allowed_origin(client: httpx.AsyncClient, path: str) -> None:
    answer = await client.options(path, headers=preflight(ALLOWED))
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == ALLOWED
    assert "POST" in answer.headers["access-control-allow-methods"]
    assert "Authorization" in answer.headers["access-control-allow-headers"]
    assert answer.headers["vary"] == "Origin"


async def test_a_preflight_from_another_origin_gets_no_cors_headers(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.options(dcr_path(), headers=preflight(OTHER))
    assert answer.status_code == 204
    assert "access-control-allow-origin" not in answer.headers
    held = await client.options(
        "/realms/held/clients-registrations/openid-connect", headers=preflight(ALLOWED)
    )  # a realm that allows no origin
    assert "access-control-allow-origin" not in held.headers


async def test_answers_are_marked_for_allowed_origins_only(client: httpx.AsyncClient) -> None:
    body = {"redirect_uris": ["https://rp.example.org/cb"]}
    allowed = await client.post(dcr_path(), json=body, headers={"Origin": ALLOWED})  # fast lane
    assert allowed.status_code == 201
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    assert "Location" in allowed.headers["access-control-expose-headers"]
    other = await client.post(dcr_path(), json=body, headers={"Origin": OTHER})
    assert other.status_code == 201
    assert "access-control-allow-origin" not in other.headers
    plain = await client.post(dcr_path(), json=body)
    assert "access-control-allow-origin" not in plain.headers
    discovery = await client.get(
        "/realms/open/.well-known/openid-configuration", headers={"Origin": ALLOWED}
    )
    assert discovery.headers["access-control-allow-origin"] == ALLOWED
    registered = await register(client)
    read = await client.get(  # the fast lane's GET
        f"{dcr_path()}/{registered['client_id']}",
        headers={
            "Origin": ALLOWED,
            "Authorization": f"Bearer {registered['registration_access_token']}",
        },
    )
    assert read.status_code == 200
    assert read.headers["access-control-allow-origin"] == ALLOWED


async def test_admin_and_console_paths_are_not_cors_enabled(client: httpx.AsyncClient) -> None:
    answer = await client.get("/admin/realms/open/clients", headers={"Origin": ALLOWED})
    assert "access-control-allow-origin" not in answer.headers
    assert cors_realm("/realms/open/console/clients") is None
    assert cors_realm("/admin/realms/open/clients") is None
    assert cors_realm("/realms/open/clients-registrations/openid-connect") == "open"


def test_allowed_origins_are_origins_or_star() -> None:
    assert allowed_origin(("*",), OTHER) == "*"
    assert allowed_origin((ALLOWED,), ALLOWED) == ALLOWED
    assert allowed_origin((ALLOWED,), ALLOWED + ":8443") is None
    assert CorsConfig(allowed_origins=("*", "http://localhost:3000")).allowed_origins
    for wrong in (
        "app.example.org",
        "https://app.example.org/",
        "https://a.example/path",
        "ftp://x",
    ):
        with pytest.raises(ValidationError):
            CorsConfig(allowed_origins=(wrong,))
