"""Initial access tokens (docs/reference.md §1, §3, §4): the admin API in Keycloak's shapes,
registering with one, every way one stops working, the `registrar iat` CLI on the server's own
database, and the sweep of expired and used-up tokens."""

from __future__ import annotations

import base64
import concurrent.futures
import gc
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from app.cli import main as cli_main
from app.config.settings import Settings
from app.scheduler import sweep_initial_access_tokens
from tests.helpers import (
    JSON,
    RP,
    TEST_SECRET_KEY,
    admin,
    assert_error,
    assert_invalid_token,
    async_wait_until,
    bearer,
    dcr_path,
    error_of,
    iat_path,
    payload_of,
)
from tests.inprocess import in_process, make_settings

pytestmark = pytest.mark.anyio

PRESENTATION = {"id", "token", "timestamp", "expiration", "count", "remainingCount"}


def cli(argv: list[str]) -> int:
    """`registrar …` in-process, on a thread of its own: the command runs its own event loop,
    which cannot nest in a test's running one."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(cli_main, argv).result()


async def create_iat(http: httpx.AsyncClient, realm: str = "open", **body: Any) -> JSON:
    response = await http.post(iat_path(realm), json=body, headers=await admin(http, realm))
    assert response.status_code == 200, response.text
    created: JSON = response.json()
    return created


async def list_initial_access_tokens(http: httpx.AsyncClient, realm: str = "open") -> list[JSON]:
    response = await http.get(iat_path(realm), headers=await admin(http, realm))
    assert response.status_code == 200, response.text
    listed: list[JSON] = response.json()
    return listed


async def remaining(http: httpx.AsyncClient, token_id: str, realm: str = "open") -> int | None:
    """remainingCount of one token, None once it is gone."""
    for row in await list_initial_access_tokens(http, realm):
        if row["id"] == token_id:
            count: int = row["remainingCount"]
            return count
    return None


async def register_with(
    http: httpx.AsyncClient, token: str, realm: str = "open", **metadata: Any
) -> httpx.Response:
    body: JSON = {"redirect_uris": [RP], **metadata}
    return await http.post(dcr_path(realm), json=body, headers=bearer(token))


async def wait_past(epoch: int) -> None:
    """Wait until the wall clock has passed `epoch` (whole seconds): the app reads the real
    clock, which tests cannot move."""
    await async_wait_until(
        lambda: int(time.time()) > epoch,
        timeout=max(0.0, epoch + 1 - time.time()) + 2,
        what=f"the clock to pass {epoch}",
    )


# --- the admin API --------------------------------------------------------------------------


async def test_create_defaults_to_never_expiring_and_one_use(client: httpx.AsyncClient) -> None:
    before = int(time.time())
    response = await client.post(iat_path(), json={}, headers=await admin(client))
    assert response.status_code == 200, response.text
    created = response.json()
    assert set(created) == PRESENTATION
    assert created["expiration"] == 0
    assert created["count"] == 1
    assert created["remainingCount"] == 1
    assert before <= created["timestamp"] <= int(time.time())
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"


async def test_token_is_a_keycloak_shaped_jws(client: httpx.AsyncClient) -> None:
    created = await create_iat(client)
    token: str = created["token"]
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    claims = payload_of(token)
    assert header["alg"] == "HS256"
    assert claims["typ"] == "InitialAccessToken"
    assert claims["jti"] == created["id"]
    assert claims["iss"] == "http://testserver/realms/open"
    assert "exp" not in claims  # expiration 0: never


async def test_create_with_expiration_and_count(client: httpx.AsyncClient) -> None:
    created = await create_iat(client, expiration=3600, count=5)
    assert (created["expiration"], created["count"], created["remainingCount"]) == (3600, 5, 5)
    assert payload_of(created["token"])["exp"] == created["timestamp"] + 3600


async def test_null_values_take_the_defaults(client: httpx.AsyncClient) -> None:
    created = await create_iat(client, expiration=None, count=None)
    assert (created["expiration"], created["count"]) == (0, 1)


@pytest.mark.parametrize("member", ["expiration", "count"])
@pytest.mark.parametrize(
    "value",
    [-1, -(2**31), 2**31, 2**40, 2**63 - 1, "5", "", 1.5, 1.0, True, False, [], {}],
    ids=repr,
)
async def test_bad_values_are_400(client: httpx.AsyncClient, member: str, value: Any) -> None:
    response = await client.post(iat_path(), json={member: value}, headers=await admin(client))
    assert response.status_code == 400, response.text
    assert error_of(response, strict=False) == "invalid_request"
    assert await list_initial_access_tokens(client) == []


@pytest.mark.parametrize(
    "body",
    [b'{"count": 100000000000000000000000000000}', b'{"expiration": 1e400}', b"[]", b"7", b"{"],
)
async def test_unparseable_or_non_object_bodies_are_400(
    client: httpx.AsyncClient, body: bytes
) -> None:
    headers = {**await admin(client), "Content-Type": "application/json"}
    response = await client.post(iat_path(), content=body, headers=headers)
    assert_error(response, 400, "invalid_request")


async def test_expiration_reaching_past_2038_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        iat_path(), json={"expiration": 2**31 - 1}, headers=await admin(client)
    )
    assert_error(response, 400, "invalid_request")


async def test_wrong_content_type_is_415(client: httpx.AsyncClient) -> None:
    response = await client.post(
        iat_path(),
        content=b"count=1",
        headers={**await admin(client), "Content-Type": "text/plain"},
    )
    assert_error(response, 415, "invalid_request")


async def test_list_is_sorted_by_timestamp_and_has_no_tokens(client: httpx.AsyncClient) -> None:
    first = await create_iat(client, count=1)
    await wait_past(first["timestamp"])
    second = await create_iat(client, count=2, expiration=60)
    third = await create_iat(client, count=3)
    listed = await list_initial_access_tokens(client)
    assert [row["id"] for row in listed][0] == first["id"]
    assert {row["id"] for row in listed} == {first["id"], second["id"], third["id"]}
    assert [row["timestamp"] for row in listed] == sorted(row["timestamp"] for row in listed)
    for row in listed:
        assert set(row) == PRESENTATION - {"token"}
    shown = {row["id"]: row for row in listed}
    assert shown[second["id"]]["expiration"] == 60
    assert shown[third["id"]]["count"] == 3


async def test_list_of_a_view_only_bearer(client: httpx.AsyncClient) -> None:
    await create_iat(client)
    viewer = await admin(client, name="viewer")
    response = await client.get(iat_path(), headers=viewer)
    assert response.status_code == 200
    assert len(response.json()) == 1


async def test_lists_are_per_realm(client: httpx.AsyncClient) -> None:
    await create_iat(client, realm="locked")
    assert await list_initial_access_tokens(client, "open") == []
    assert len(await list_initial_access_tokens(client, "locked")) == 1


async def test_delete_is_204_then_404(client: httpx.AsyncClient) -> None:
    created = await create_iat(client)
    headers = await admin(client)
    deleted = await client.delete(f"{iat_path()}/{created['id']}", headers=headers)
    assert deleted.status_code == 204
    assert deleted.content == b""
    again = await client.delete(f"{iat_path()}/{created['id']}", headers=headers)
    assert_error(again, 404, "not_found")
    unknown = await client.delete(f"{iat_path()}/no-such-id", headers=headers)
    assert_error(unknown, 404, "not_found")
    assert await list_initial_access_tokens(client) == []


async def test_delete_of_another_realms_token_is_404(client: httpx.AsyncClient) -> None:
    created = await create_iat(client, realm="locked")
    response = await client.delete(f"{iat_path()}/{created['id']}", headers=await admin(client))
    assert_error(response, 404, "not_found")
    assert len(await list_initial_access_tokens(client, "locked")) == 1


async def test_admin_api_of_unknown_or_disabled_realm_is_404(client: httpx.AsyncClient) -> None:
    headers = await admin(client)
    for realm in ("nowhere", "hidden"):
        assert_error(await client.get(iat_path(realm), headers=headers), 404, "not_found")


# --- registering with an initial access token -------------------------------------------------


async def test_registration_with_an_iat_is_authenticated(client: httpx.AsyncClient) -> None:
    created = await create_iat(client)
    response = await register_with(client, created["token"])
    assert response.status_code == 201, response.text
    client_id = response.json()["client_id"]
    shown = await client.get(f"/admin/realms/open/clients/{client_id}", headers=await admin(client))
    assert shown.json()["registrationAuth"] == "authenticated"


async def test_an_iat_registers_from_a_host_anonymous_registration_refuses(
    stranger: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    anonymous = await stranger.post(dcr_path(), json={"redirect_uris": [RP]})
    assert_error(anonymous, 403, "insufficient_scope")
    created = await create_iat(client)
    assert (await register_with(stranger, created["token"])).status_code == 201


@pytest.mark.parametrize("count", [1, 3])
async def test_count_n_registers_exactly_n_clients(client: httpx.AsyncClient, count: int) -> None:
    created = await create_iat(client, count=count)
    for n in range(count):
        assert await remaining(client, created["id"]) == count - n
        response = await register_with(client, created["token"])
        assert response.status_code == 201, response.text
    assert await remaining(client, created["id"]) == 0
    assert_invalid_token(await register_with(client, created["token"]), strict=False)


async def test_expired_iat_is_401(client: httpx.AsyncClient) -> None:
    created = await create_iat(client, expiration=1, count=5)
    assert (await register_with(client, created["token"])).status_code == 201
    await wait_past(created["timestamp"] + 1)
    assert_invalid_token(await register_with(client, created["token"]), strict=False)


async def test_deleted_iat_is_401(client: httpx.AsyncClient) -> None:
    created = await create_iat(client, count=5)
    await client.delete(f"{iat_path()}/{created['id']}", headers=await admin(client))
    assert_invalid_token(await register_with(client, created["token"]), strict=False)


async def test_iat_of_another_realm_is_401(client: httpx.AsyncClient) -> None:
    created = await create_iat(client, realm="locked")
    assert_invalid_token(await register_with(client, created["token"], realm="open"), strict=False)
    assert await remaining(client, created["id"], realm="locked") == 1


async def test_tampered_iat_is_401(client: httpx.AsyncClient) -> None:
    token: str = (await create_iat(client, count=5))["token"]
    header, payload, signature = token.split(".")
    claims = payload_of(token)
    claims["jti"] = "someone-else"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert_invalid_token(
        await register_with(client, f"{header}.{forged}.{signature}"), strict=False
    )
    assert_invalid_token(
        await register_with(client, f"{header}.{payload}.{signature[:-4]}AAAA"), strict=False
    )


async def test_iat_on_read_update_delete_is_401(client: httpx.AsyncClient) -> None:
    registered = (await client.post(dcr_path(), json={"redirect_uris": [RP]})).json()
    token: str = (await create_iat(client, count=5))["token"]
    path = f"{dcr_path()}/{registered['client_id']}"
    body = {"client_id": registered["client_id"], "redirect_uris": [RP]}
    assert_invalid_token(await client.get(path, headers=bearer(token)), strict=False)
    assert_invalid_token(await client.put(path, json=body, headers=bearer(token)), strict=False)
    assert_invalid_token(await client.delete(path, headers=bearer(token)), strict=False)


@pytest.mark.parametrize(
    ("realm", "metadata", "status", "error"),
    [
        (
            "open",
            {"redirect_uris": ["https://rp.example.org/cb#fragment"]},
            400,
            "invalid_redirect_uri",
        ),
        ("open", {"redirect_uris": "not-a-list"}, 400, "invalid_redirect_uri"),
        # the authenticated set has allowed-client-scopes: its refusal, as in Keycloak
        ("open", {"scope": "no-such-scope"}, 403, "insufficient_scope"),
        ("open", {"client_id": "chosen"}, 400, "invalid_client_metadata"),
        ("open", {"scope": "openid admin.write"}, 403, "insufficient_scope"),
        ("guarded", {}, 403, "insufficient_scope"),
    ],
)
async def test_refused_registration_does_not_spend_a_count(
    client: httpx.AsyncClient, realm: str, metadata: JSON, status: int, error: str
) -> None:
    created = await create_iat(client, realm=realm)
    response = await register_with(client, created["token"], realm=realm, **metadata)
    assert_error(response, status, error)
    assert await remaining(client, created["id"], realm=realm) == 1


async def test_max_clients_refusal_does_not_spend_a_count(client: httpx.AsyncClient) -> None:
    first = await create_iat(client, realm="capped")
    assert (await register_with(client, first["token"], realm="capped")).status_code == 201
    second = await create_iat(client, realm="capped")
    refused = await register_with(client, second["token"], realm="capped")
    assert refused.status_code == 403, refused.text
    assert error_of(refused, strict=False) == "insufficient_scope"
    assert await remaining(client, second["id"], realm="capped") == 1


async def test_database_holds_no_usable_token(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    created = await create_iat(client, count=2)
    await register_with(client, created["token"])
    database = Path(settings.database_url.removeprefix("sqlite:///"))
    stored = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    signature = created["token"].split(".")[2].encode()
    assert signature not in stored
    assert created["token"].encode() not in stored


# --- the CLI on the server's database ---------------------------------------------------------


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """What an operator sets for `registrar iat …` next to a running server."""
    monkeypatch.setenv("REGISTRAR_SECRET_KEY", TEST_SECRET_KEY)
    monkeypatch.setenv("REGISTRAR_SECRET_KEY_FILE", str(tmp_path / "cli-secret.key"))
    monkeypatch.delenv("REGISTRAR_CONFIG", raising=False)
    monkeypatch.delenv("REGISTRAR_PUBLIC_URL", raising=False)


@pytest.fixture
async def server_on(
    tmp_path: Path, realms_dir: Path, database_url: str
) -> AsyncIterator[tuple[httpx.AsyncClient, list[str]]]:
    """The app on `database_url` (SQLite and PostgreSQL), with the CLI flags for the same data."""
    async with in_process(make_settings(tmp_path, realms_dir, database_url)) as http:
        yield http, ["--realms-dir", str(realms_dir), "--database-url", database_url]


@pytest.mark.usefixtures("cli_env")
async def test_cli_create_prints_the_token_alone(
    server_on: tuple[httpx.AsyncClient, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    http, flags = server_on
    assert cli(["iat", "create", "--realm", "open", "--count", "2", *flags]) == 0
    printed = capsys.readouterr()
    out = printed.out
    assert out.count("\n") == 1
    token = out.strip()
    assert payload_of(token)["typ"] == "InitialAccessToken"
    # no --expiration: the token never expires, and the command says so (on stderr)
    assert "never expires" in printed.err
    for _ in range(2):
        assert (await register_with(http, token)).status_code == 201
    assert_invalid_token(await register_with(http, token), strict=False)


@pytest.mark.usefixtures("cli_env")
async def test_cli_list_prints_a_table_without_tokens(
    server_on: tuple[httpx.AsyncClient, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    http, flags = server_on
    assert (
        cli(["iat", "create", "--realm", "open", "--count", "4", "--expiration", "600", *flags])
        == 0
    )
    token = capsys.readouterr().out.strip()
    never = await create_iat(http)
    assert (await register_with(http, token)).status_code == 201
    assert cli(["iat", "list", "--realm", "open", *flags]) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert lines[0].split() == ["ID", "CREATED", "EXPIRES", "COUNT", "REMAINING", "STATE"]
    assert len(lines) == 3
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    made_by_cli = payload_of(token)["jti"]
    assert rows[made_by_cli][3:] == ["4", "3", "live"]
    assert rows[never["id"]][2:] == ["never", "1", "1", "live"]
    assert token not in out and token.split(".")[2] not in out


@pytest.mark.usefixtures("cli_env")
async def test_cli_list_marks_expired_and_used_up_tokens(
    server_on: tuple[httpx.AsyncClient, list[str]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    http, flags = server_on
    soon = await create_iat(http, expiration=60)
    used = await create_iat(http, count=1)
    assert (await register_with(http, used["token"])).status_code == 201
    assert cli(["iat", "create", "--realm", "open", "--expiration", "60", *flags]) == 0
    assert "never expires" not in capsys.readouterr().err
    later = time.time() + 120  # the sweep has not run: the dead tokens are still listed
    monkeypatch.setattr("app.cli.time.time", lambda: later)
    assert cli(["iat", "list", "--realm", "open", *flags]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows[soon["id"]][-1] == "expired"
    assert rows[used["id"]][-1] == "used-up"


@pytest.mark.usefixtures("cli_env")
async def test_cli_delete_stops_the_token(
    server_on: tuple[httpx.AsyncClient, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    http, flags = server_on
    created = await create_iat(http, count=3)
    assert cli(["iat", "delete", "--realm", "open", created["id"], *flags]) == 0
    assert_invalid_token(await register_with(http, created["token"]), strict=False)
    assert await list_initial_access_tokens(http) == []
    capsys.readouterr()
    assert cli(["iat", "delete", "--realm", "open", created["id"], *flags]) == 1
    assert "not found" in capsys.readouterr().err


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize(
    "args",
    [
        ["iat", "create", "--realm", "open", "--count", "-1"],
        ["iat", "create", "--realm", "open", "--expiration", "-5"],
        ["iat", "create", "--realm", "open", "--count", str(2**31)],
        ["iat", "create", "--realm", "nowhere"],
        ["iat", "list", "--realm", "nowhere"],
    ],
)
def test_cli_refuses_bad_input_with_exit_1(
    args: list[str], realms_dir: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli([*args, "--realms-dir", str(realms_dir), "--database-url", sqlite_url]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("registrar: ")


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize("value", ["abc", "1.5", ""])
def test_cli_refuses_a_non_integer_count(
    value: str, realms_dir: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ["--realms-dir", str(realms_dir), "--database-url", sqlite_url]
    with pytest.raises(SystemExit) as exited:
        cli(["iat", "create", "--realm", "open", "--count", value, *flags])
    assert exited.value.code == 2
    assert capsys.readouterr().out == ""


@pytest.mark.usefixtures("cli_env")
def test_cli_with_the_wrong_secret_key_fails_clearly(
    realms_dir: Path,
    sqlite_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flags = ["--realms-dir", str(realms_dir), "--database-url", sqlite_url]
    assert cli(["iat", "create", "--realm", "open", *flags]) == 0  # makes database and key
    monkeypatch.setenv("REGISTRAR_SECRET_KEY", base64.urlsafe_b64encode(b"k" * 32).decode())
    capsys.readouterr()
    assert cli(["iat", "list", "--realm", "open", *flags]) == 2
    assert "secret key" in capsys.readouterr().err
    gc.collect()  # a connection the refused start left open would warn here, not later


# --- the sweep ----------------------------------------------------------------------------------


async def test_sweep_removes_expired_and_used_up_tokens_only(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    never = await create_iat(client, count=2)
    later = await create_iat(client, expiration=3600)
    expiring = await create_iat(client, expiration=1)
    used_up = await create_iat(client, count=1)
    half_used = await create_iat(client, count=2)
    assert (await register_with(client, used_up["token"])).status_code == 201
    assert (await register_with(client, half_used["token"])).status_code == 201
    await wait_past(expiring["timestamp"] + 1)
    assert await sweep_initial_access_tokens(app.state.container) == 2
    kept = {row["id"] for row in await list_initial_access_tokens(client)}
    assert kept == {never["id"], later["id"], half_used["id"]}
    assert await sweep_initial_access_tokens(app.state.container) == 0  # idempotent
    assert (await register_with(client, half_used["token"])).status_code == 201


async def test_scheduler_sweeps_every_sweep_interval(settings: Settings) -> None:
    quick = settings.model_copy(update={"sweep_interval": 0.2})
    async with in_process(quick, scheduler=True) as http:
        used_up = await create_iat(http)
        kept = await create_iat(http, count=2)
        assert (await register_with(http, used_up["token"])).status_code == 201

        async def swept() -> bool:
            return {row["id"] for row in await list_initial_access_tokens(http)} == {kept["id"]}

        await async_wait_until(swept, timeout=10, what="the scheduler to sweep", interval=0.1)


# --- limits on both databases ------------------------------------------------------------------


async def test_largest_values_are_stored_on_both_databases(
    server_on: tuple[httpx.AsyncClient, list[str]],
) -> None:
    http, _ = server_on
    expiration = 2**31 - 1 - int(time.time()) - 60
    created = await create_iat(http, expiration=expiration, count=2**31 - 1)
    assert (created["expiration"], created["count"]) == (expiration, 2**31 - 1)
    assert (await register_with(http, created["token"])).status_code == 201
    [listed] = await list_initial_access_tokens(http)
    assert (listed["expiration"], listed["remainingCount"]) == (expiration, 2**31 - 2)
    too_far = await http.post(
        iat_path(), json={"expiration": expiration + 120}, headers=await admin(http)
    )
    assert_error(too_far, 400, "invalid_request")
