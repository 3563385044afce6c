"""INDIGO IAM's registration API through HTTP: `/iam/api/client-registration`
for `default_realm` and `/realms/{realm}/iam/api/client-registration` for realms with
`compat: {indigo_iam: true}` (tests/app_realms/indigo.yaml); INDIGO's extra members, the same
policies and tables as RFC 7591 / RFC 7592, and INDIGO's DELETE headers."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from importlib.resources import files
from pathlib import Path

import httpx
import jsonschema_rs
import pytest

from app.config.settings import Settings, SettingsError, load_settings
from tests.helpers import (
    JSON,
    RP,
    assert_error,
    assert_invalid_token,
    bearer,
    dcr_path,
    error_of,
    initial_access_token,
    rat_of,
    updatable,
)
from tests.inprocess import in_process

pytestmark = pytest.mark.anyio

BARE = "/iam/api/client-registration"
PER_REALM = "/realms/indigo/iam/api/client-registration"
PATHS = pytest.mark.parametrize("path", [BARE, PER_REALM], ids=["bare", "per-realm"])
INDIGO_MEMBERS = (
    "reuse_refresh_token",
    "dynamically_registered",
    "clear_access_tokens_on_refresh",
    "require_auth_time",
    "created_at",
)
INDIGO_DELETE_CACHE_CONTROL = "no-cache, no-store, max-age=0, must-revalidate"
POLICY_PREFIX = "Policy 'Trusted Hosts' rejected request to client-registration service. "
# the template request of INDIGO IAM's "OpenID Connect client registration API" page
INDIGO_EXAMPLE: JSON = {
    "redirect_uris": ["https://another.client.example/oidc"],
    "client_name": "another-example-client",
    "contacts": ["test@iam.test"],
    "token_endpoint_auth_method": "client_secret_basic",
    "scope": "address phone openid email profile offline_access",
    "grant_types": ["refresh_token", "authorization_code"],
    "response_types": ["code"],
}


@contextlib.asynccontextmanager
async def serving(
    settings: Settings, default_realm: str | None, host: str = "127.0.0.1"
) -> AsyncIterator[httpx.AsyncClient]:
    """An app whose Settings name `default_realm`, seen from `host`."""
    chosen = Settings.model_validate({**settings.model_dump(), "default_realm": default_realm})
    async with in_process(chosen, host=host) as http:
        yield http


@pytest.fixture
async def iam(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with `default_realm: indigo`, from 127.0.0.1: both INDIGO paths are served."""
    async with serving(settings, "indigo") as http:
        yield http


async def indigo_register(http: httpx.AsyncClient, path: str, **metadata: object) -> JSON:
    response = await http.post(path, json={"redirect_uris": [RP], **metadata})
    assert response.status_code == 201, response.text
    body: JSON = response.json()
    return body


def uri_path(registered: JSON) -> str:
    return httpx.URL(registered["registration_client_uri"]).path


def assert_conforms(body: JSON, schema: str) -> None:
    """`body` is valid against a schema of app/openapi.json's components."""
    document = json.loads(files("app").joinpath("openapi.json").read_text())
    root = {"$ref": f"#/components/schemas/{schema}", "components": document["components"]}
    jsonschema_rs.Draft202012Validator(root).validate(body)


# --- registration -------------------------------------------------------------------------


@PATHS
async def test_registration_is_201_with_indigo_members(iam: httpx.AsyncClient, path: str) -> None:
    response = await iam.post(path, json={"redirect_uris": [RP]})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["registration_client_uri"] == f"http://testserver{path}/{body['client_id']}"
    assert response.headers["location"] == body["registration_client_uri"]
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    assert body["reuse_refresh_token"] is True
    assert body["dynamically_registered"] is True
    assert body["clear_access_tokens_on_refresh"] is True
    assert body["require_auth_time"] is False
    # INDIGO's created_at is a java.util.Date, which Jackson writes in epoch milliseconds
    assert body["created_at"] == body["client_id_issued_at"] * 1000
    for member in ("client_secret", "registration_access_token", "redirect_uris", "scope"):
        assert member in body
    assert_conforms(body, "IndigoClientInformation")


async def test_require_auth_time_is_echoed(iam: httpx.AsyncClient) -> None:
    body = await indigo_register(iam, BARE, require_auth_time=True)
    assert body["require_auth_time"] is True


async def test_indigo_documentation_example_registers(iam: httpx.AsyncClient) -> None:
    response = await iam.post(BARE, json=INDIGO_EXAMPLE)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["client_name"] == "another-example-client"
    assert set(body["scope"].split()) == set(INDIGO_EXAMPLE["scope"].split())
    assert sorted(body["grant_types"]) == ["authorization_code", "refresh_token"]
    assert set(INDIGO_MEMBERS) <= set(body)


async def test_initial_access_token_registers(iam: httpx.AsyncClient) -> None:
    iat = await initial_access_token(iam, realm="indigo")
    response = await iam.post(BARE, json={"redirect_uris": [RP]}, headers=bearer(iat))
    assert response.status_code == 201, response.text
    again = await iam.post(BARE, json={"redirect_uris": [RP]}, headers=bearer(iat))
    assert_invalid_token(again)  # count 1: used up, as on the RFC 7591 path


async def test_client_id_in_the_body_is_400(iam: httpx.AsyncClient) -> None:
    response = await iam.post(BARE, json={"redirect_uris": [RP], "client_id": "mine"})
    assert response.status_code == 400
    assert error_of(response) == "invalid_client_metadata"


# --- read, update, delete -----------------------------------------------------------------


@PATHS
async def test_read_update_delete(iam: httpx.AsyncClient, path: str) -> None:
    registered = await indigo_register(iam, path, client_name="before")
    where, rat = uri_path(registered), rat_of(registered)
    assert where == f"{path}/{registered['client_id']}"

    read = await iam.get(where, headers=bearer(rat))
    assert read.status_code == 200, read.text
    assert read.json() == registered  # a GET does not rotate: the same token, the same body
    assert read.headers["cache-control"] == "no-store"

    sent = {**updatable(registered), "client_name": "after"}
    updated = await iam.put(where, json=sent, headers=bearer(rat))
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert body["client_name"] == "after"
    assert body["registration_client_uri"] == registered["registration_client_uri"]
    assert body["created_at"] == registered["created_at"]
    assert set(INDIGO_MEMBERS) <= set(body)
    new_rat = rat_of(body)
    assert new_rat != rat  # rotation on (the realm's default)
    assert_invalid_token(await iam.get(where, headers=bearer(rat)))

    deleted = await iam.delete(where, headers=bearer(new_rat))
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_invalid_token(await iam.get(where, headers=bearer(new_rat)))


async def test_delete_answers_with_indigos_cache_headers(iam: httpx.AsyncClient) -> None:
    registered = await indigo_register(iam, BARE)
    response = await iam.delete(uri_path(registered), headers=bearer(rat_of(registered)))
    assert response.status_code == 204
    assert response.headers["cache-control"] == INDIGO_DELETE_CACHE_CONTROL
    assert response.headers["pragma"] == "no-cache"
    assert response.headers["expires"] == "0"


async def test_put_without_client_id_is_400(iam: httpx.AsyncClient) -> None:
    registered = await indigo_register(iam, BARE)
    sent = {k: v for k, v in updatable(registered).items() if k != "client_id"}
    response = await iam.put(uri_path(registered), json=sent, headers=bearer(rat_of(registered)))
    assert response.status_code == 400
    assert error_of(response) == "invalid_client_metadata"


async def test_put_with_a_read_only_member_is_400(iam: httpx.AsyncClient) -> None:
    registered = await indigo_register(iam, BARE)
    sent = {
        **updatable(registered),
        "registration_client_uri": registered["registration_client_uri"],
    }
    response = await iam.put(uri_path(registered), json=sent, headers=bearer(rat_of(registered)))
    assert response.status_code == 400
    assert error_of(response) == "invalid_client_metadata"


async def test_missing_or_foreign_rat_is_401(iam: httpx.AsyncClient) -> None:
    mine, other = await indigo_register(iam, BARE), await indigo_register(iam, BARE)
    assert_error(await iam.get(uri_path(mine)), 401, "invalid_token")
    assert_invalid_token(await iam.get(uri_path(mine), headers=bearer(rat_of(other))))


# --- the same store as RFC 7591 / RFC 7592 ------------------------------------------------


async def test_a_client_registered_by_rfc7591_is_managed_on_the_indigo_path(
    iam: httpx.AsyncClient,
) -> None:
    response = await iam.post(dcr_path("indigo"), json={"redirect_uris": [RP]})
    assert response.status_code == 201, response.text
    registered = response.json()
    assert not set(INDIGO_MEMBERS) & set(registered)  # Keycloak's path adds nothing
    assert_conforms(registered, "ClientInformation")
    read = await iam.get(f"{BARE}/{registered['client_id']}", headers=bearer(rat_of(registered)))
    assert read.status_code == 200, read.text
    assert read.json()["registration_client_uri"] == (
        f"http://testserver{BARE}/{registered['client_id']}"
    )
    assert set(INDIGO_MEMBERS) <= set(read.json())


async def test_a_client_registered_on_the_indigo_path_is_managed_by_rfc7592(
    iam: httpx.AsyncClient,
) -> None:
    registered = await indigo_register(iam, PER_REALM)
    where = f"{dcr_path('indigo')}/{registered['client_id']}"
    read = await iam.get(where, headers=bearer(rat_of(registered)))
    assert read.status_code == 200, read.text
    assert httpx.URL(read.json()["registration_client_uri"]).path == where
    deleted = await iam.delete(where, headers=bearer(rat_of(registered)))
    assert deleted.status_code == 204
    gone = await iam.get(uri_path(registered), headers=bearer(rat_of(registered)))
    assert_invalid_token(gone)


# --- policies -----------------------------------------------------------------------------


async def test_untrusted_host_is_refused_on_the_per_realm_path(
    stranger: httpx.AsyncClient,
) -> None:
    response = await stranger.post(PER_REALM, json={"redirect_uris": [RP]})
    assert response.status_code == 403
    assert error_of(response) == "insufficient_scope"
    assert response.json()["error_description"] == POLICY_PREFIX + "Details: Host not trusted."


async def test_untrusted_host_is_refused_on_the_bare_path(settings: Settings) -> None:
    async with serving(settings, "indigo", host="203.0.113.7") as http:
        response = await http.post(BARE, json={"redirect_uris": [RP]})
    assert response.status_code == 403
    assert error_of(response) == "insufficient_scope"
    assert response.json()["error_description"].startswith(POLICY_PREFIX)


# --- when the path is not served ----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", BARE),
        ("GET", BARE + "/some-client"),
        ("PUT", BARE + "/some-client"),
        ("DELETE", BARE + "/some-client"),
        ("POST", "/realms/open/iam/api/client-registration"),
        ("GET", "/realms/open/iam/api/client-registration/some-client"),
        ("POST", "/realms/nowhere/iam/api/client-registration"),
    ],
)
async def test_no_default_realm_or_compat_off_is_404(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    body = {"redirect_uris": [RP]} if method in ("POST", "PUT") else None
    response = await client.request(method, path, json=body)
    assert response.status_code == 404, response.text
    assert error_of(response) == "not_found"


async def test_per_realm_path_is_served_without_a_default_realm(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.post(PER_REALM, json={"redirect_uris": [RP]})).status_code == 201


@pytest.mark.parametrize("default_realm", ["open", "nowhere"], ids=["compat-off", "unknown"])
async def test_bare_path_of_a_default_realm_without_compat_is_404(
    settings: Settings, default_realm: str
) -> None:
    async with serving(settings, default_realm) as http:
        response = await http.post(BARE, json={"redirect_uris": [RP]})
    assert response.status_code == 404, response.text
    assert error_of(response) == "not_found"


async def test_disabled_realm_is_404_on_both_paths(settings: Settings, realms_dir: Path) -> None:
    (realms_dir / "asleep.yaml").write_text("enabled: false\ncompat:\n  indigo_iam: true\n")
    async with serving(settings, "asleep") as http:
        for path in (BARE, "/realms/asleep/iam/api/client-registration"):
            response = await http.post(path, json={"redirect_uris": [RP]})
            assert response.status_code == 404, (path, response.text)
            assert error_of(response) == "not_found", path


# --- settings -----------------------------------------------------------------------------


def test_default_realm_comes_from_the_config_file_or_its_env_var(tmp_path: Path) -> None:
    config = tmp_path / "registrar.yaml"
    config.write_text("default_realm: indigo\n")
    assert load_settings(environ={}, config_file=config).default_realm == "indigo"
    environ = {"REGISTRAR_DEFAULT_REALM": "other"}
    assert load_settings(environ=environ, config_file=config).default_realm == "other"
    assert Settings().default_realm is None


def test_a_default_realm_that_is_no_realm_name_is_a_settings_error(tmp_path: Path) -> None:
    config = tmp_path / "registrar.yaml"
    config.write_text("default_realm: ../etc\n")
    with pytest.raises(SettingsError, match=f"{config}: default_realm: String should match"):
        load_settings(environ={}, config_file=config)
