"""The tokens of signed-in users (docs/reference.md §6), black-box in-process: the code flow to
the end (token, userinfo, refresh, revoke, introspection), and the attacks on codes and refresh
tokens: replay, another client, a wrong verifier or redirect URI, a rotated-out refresh token."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from app.main import create_app
from app.scheduler import sweep_initial_access_tokens
from app.store.signin import SigninStore
from tests.helpers import admin, basic, clients_path, jws_parts, payload_of
from tests.inprocess import make_settings
from tests.signin_flow import (
    CALLBACK,
    PASSWORD,
    auth_params,
    auth_path,
    code_for,
    confidential_client,
    oidc_path,
    people_realms,
    pkce,
    post_form,
    public_client,
    redirect_query,
)

pytestmark = pytest.mark.anyio
ISS = "http://testserver/realms/people"
JSON = dict[str, Any]


@pytest.fixture
def realms_dir(tmp_path: Path) -> Path:
    return people_realms(tmp_path)


@pytest.fixture
async def pg_client(
    tmp_path: Path, realms_dir: Path, pg_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The app in-process on PostgreSQL: the sign-in tables and their SQL on the other database."""
    application = create_app(make_settings(tmp_path, realms_dir, pg_url), scheduler=False)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def exchange(
    http: httpx.AsyncClient, client_id: str, code: str, verifier: str | None, **extra: str
) -> httpx.Response:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}
    form["client_id"] = client_id
    if verifier is not None:
        form["code_verifier"] = verifier
    form.update(extra)
    return await http.post(oidc_path("token"), data=form)


async def refresh(http: httpx.AsyncClient, client_id: str, token: str) -> httpx.Response:
    form = {"grant_type": "refresh_token", "refresh_token": token, "client_id": client_id}
    return await http.post(oidc_path("token"), data=form)


async def introspect(http: httpx.AsyncClient, token: str) -> JSON:
    reply = await http.post(
        oidc_path("token/introspect"),
        data={"token": token},
        headers={"Authorization": basic("admin", "admin-secret")},
    )
    assert reply.status_code == 200
    found: JSON = reply.json()
    return found


async def userinfo(http: httpx.AsyncClient, token: str) -> httpx.Response:
    return await http.get(oidc_path("userinfo"), headers={"Authorization": f"Bearer {token}"})


async def tokens_for(http: httpx.AsyncClient, **extra: str) -> tuple[str, JSON]:
    registered = await public_client(http)
    verifier, challenge = pkce()
    code = await code_for(http, registered["client_id"], challenge, **extra)
    reply = await exchange(http, registered["client_id"], code, verifier)
    assert reply.status_code == 200, reply.text
    body: JSON = reply.json()
    return registered["client_id"], body


async def test_the_whole_flow(client: httpx.AsyncClient) -> None:
    client_id, body = await tokens_for(client)
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300
    assert body["scope"] == "openid profile email"
    header, claims = jws_parts(body["access_token"])
    assert header["typ"] == "at+jwt" and header["alg"] == "RS256"
    assert claims["iss"] == ISS and claims["sub"] == "alice"
    assert claims["aud"] == client_id and claims["client_id"] == client_id
    assert claims["exp"] - claims["iat"] == 300 and claims["jti"]
    id_token = payload_of(body["id_token"])
    assert id_token["aud"] == client_id and id_token["azp"] == client_id
    assert id_token["nonce"] == "n-456" and id_token["sub"] == "alice"
    assert id_token["auth_time"] <= id_token["iat"]
    # userinfo
    info = await userinfo(client, body["access_token"])
    assert info.status_code == 200
    assert info.json() == {
        "sub": "alice",
        "preferred_username": "alice",
        "name": "Alice Example",
        "email": "alice@example.org",
    }
    posted = await client.post(
        oidc_path("userinfo"), headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert posted.json()["sub"] == "alice"
    active = await introspect(client, body["access_token"])
    assert active["active"] is True and active["sub"] == "alice"
    # refresh: a new pair, the old refresh token is rotated out
    renewed = await refresh(client, client_id, body["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    fresh = renewed.json()
    assert fresh["refresh_token"] != body["refresh_token"]
    assert payload_of(fresh["access_token"])["sub"] == "alice"
    # revoke the refresh token: its family ends, access tokens included
    revoked = await client.post(
        oidc_path("revoke"), data={"token": fresh["refresh_token"], "client_id": client_id}
    )
    assert revoked.status_code == 200
    assert (await refresh(client, client_id, fresh["refresh_token"])).status_code == 400
    assert (await introspect(client, fresh["access_token"]))["active"] is False
    assert (await userinfo(client, fresh["access_token"])).status_code == 401


async def test_scope_limits_what_userinfo_tells(client: httpx.AsyncClient) -> None:
    _, body = await tokens_for(client, scope="openid")
    assert (await userinfo(client, body["access_token"])).json() == {"sub": "alice"}


async def test_resources_become_the_audience(client: httpx.AsyncClient) -> None:
    registered = await public_client(client)
    verifier, challenge = pkce()
    params = auth_params(registered["client_id"], challenge)
    params_list: list[tuple[str, str | int | float | bool | None]] = [
        *params.items(),
        ("resource", "https://a.example/"),
        ("resource", "https://b.example/"),
    ]
    page = await client.get(auth_path(), params=params_list)
    code = redirect_query(await post_form(client, page, username="alice", password=PASSWORD))[
        "code"
    ]
    reply = await exchange(client, registered["client_id"], code, verifier)
    assert payload_of(reply.json()["access_token"])["aud"] == [
        "https://a.example/",
        "https://b.example/",
    ]


async def test_a_replayed_code_fails_and_revokes_what_the_first_use_issued(
    client: httpx.AsyncClient,
) -> None:
    registered = await public_client(client)
    verifier, challenge = pkce()
    code = await code_for(client, registered["client_id"], challenge)
    first = await exchange(client, registered["client_id"], code, verifier)
    assert first.status_code == 200
    second = await exchange(client, registered["client_id"], code, verifier)
    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"
    issued = first.json()
    again = await refresh(client, registered["client_id"], issued["refresh_token"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert (await introspect(client, issued["access_token"]))["active"] is False


async def test_a_code_of_another_client_is_refused(client: httpx.AsyncClient) -> None:
    victim, thief = await public_client(client), await public_client(client)
    verifier, challenge = pkce()
    code = await code_for(client, victim["client_id"], challenge)
    stolen = await exchange(client, thief["client_id"], code, verifier)
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "change",
    [
        {"code_verifier": "x" * 43},
        {"code_verifier": "short"},
        {"redirect_uri": "https://rp.example.org/other"},
        {"redirect_uri": ""},
    ],
)
async def test_a_wrong_verifier_or_redirect_uri_is_refused(
    client: httpx.AsyncClient, change: dict[str, str]
) -> None:
    registered = await public_client(client)
    verifier, challenge = pkce()
    code = await code_for(client, registered["client_id"], challenge)
    reply = await exchange(client, registered["client_id"], code, verifier, **change)
    assert reply.status_code == 400 and reply.json()["error"] == "invalid_grant"


async def test_a_missing_verifier_is_refused(client: httpx.AsyncClient) -> None:
    registered = await public_client(client)
    _, challenge = pkce()
    code = await code_for(client, registered["client_id"], challenge)
    reply = await exchange(client, registered["client_id"], code, None)
    assert reply.status_code == 400 and reply.json()["error"] == "invalid_grant"


async def test_an_unknown_code_is_invalid_grant(client: httpx.AsyncClient) -> None:
    registered = await public_client(client)
    reply = await exchange(client, registered["client_id"], "made-up", "v" * 43)
    assert reply.status_code == 400 and reply.json()["error"] == "invalid_grant"


async def test_a_rotated_out_refresh_token_revokes_the_family(client: httpx.AsyncClient) -> None:
    client_id, body = await tokens_for(client)
    renewed = (await refresh(client, client_id, body["refresh_token"])).json()
    replayed = await refresh(client, client_id, body["refresh_token"])
    assert replayed.status_code == 400 and replayed.json()["error"] == "invalid_grant"
    # the thief's replay ends the legitimate holder's tokens too (RFC 9700 §4.14.2)
    assert (await refresh(client, client_id, renewed["refresh_token"])).status_code == 400
    assert (await introspect(client, renewed["access_token"]))["active"] is False


async def test_a_use_that_rotated_the_token_wins_though_a_racing_replay_revokes_the_family(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two uses of one refresh token at once (two processes): the one whose rotation landed
    answers 200 even when the other, refused as a replay, revokes the family before the winner
    is done; what the winner got is revoked with the family."""
    client_id, body = await tokens_for(client)
    rotate = SigninStore.rotate_refresh
    replays: list[httpx.Response] = []

    async def rotate_then_replayed(self: SigninStore, realm: str, digest: str) -> bool:
        won = await rotate(self, realm, digest)
        if won and not replays:  # the racing use arrives right after this one rotated
            replays.append(await refresh(client, client_id, body["refresh_token"]))
        return won

    monkeypatch.setattr(SigninStore, "rotate_refresh", rotate_then_replayed)
    winner = await refresh(client, client_id, body["refresh_token"])
    assert winner.status_code == 200, winner.text
    assert [r.status_code for r in replays] == [400]
    assert replays[0].json()["error"] == "invalid_grant"
    renewed = winner.json()
    assert (await refresh(client, client_id, renewed["refresh_token"])).status_code == 400
    assert (await introspect(client, renewed["access_token"]))["active"] is False


async def test_a_confidential_client_authenticates_with_its_secret(
    client: httpx.AsyncClient,
) -> None:
    registered = await confidential_client(client)
    verifier, challenge = pkce()
    code = await code_for(client, registered["client_id"], challenge)
    # the client id alone is not enough for a confidential client
    bare = await exchange(client, registered["client_id"], code, verifier)
    assert bare.status_code == 401 and bare.json()["error"] == "invalid_client"
    code = await code_for(client, registered["client_id"], challenge)
    reply = await client.post(
        oidc_path("token"),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "code_verifier": verifier,
        },
        headers={"Authorization": basic(registered["client_id"], registered["client_secret"])},
    )
    assert reply.status_code == 200, reply.text


async def test_a_disabled_clients_tokens_stop_working(client: httpx.AsyncClient) -> None:
    client_id, body = await tokens_for(client)
    path = f"{clients_path('people')}/{client_id}"
    auth = await admin(client, "people")
    assert (await client.put(path, json={"enabled": False}, headers=auth)).status_code == 204
    assert (await introspect(client, body["access_token"]))["active"] is False
    assert (await userinfo(client, body["access_token"])).status_code == 401
    assert (await refresh(client, client_id, body["refresh_token"])).status_code == 401


async def test_userinfo_refuses_what_is_not_a_users_token(client: httpx.AsyncClient) -> None:
    assert (await client.get(oidc_path("userinfo"))).status_code == 401
    service = await client.post(
        oidc_path("token"),
        data={"grant_type": "client_credentials"},
        headers={"Authorization": basic("admin", "admin-secret")},
    )
    reply = await userinfo(client, service.json()["access_token"])
    assert reply.status_code == 401
    assert 'error="invalid_token"' in reply.headers["www-authenticate"]
    assert (await userinfo(client, "garbage")).status_code == 401


async def test_revoking_an_access_token_ends_it_and_unknown_tokens_get_200(
    client: httpx.AsyncClient,
) -> None:
    client_id, body = await tokens_for(client)
    for token in ("never-issued", body["access_token"]):
        reply = await client.post(
            oidc_path("revoke"), data={"token": token, "client_id": client_id}
        )
        assert reply.status_code == 200
    assert (await introspect(client, body["access_token"]))["active"] is False
    # the refresh token lives on: only the access token was revoked
    assert (await refresh(client, client_id, body["refresh_token"])).status_code == 200


async def test_another_client_cannot_revoke_a_token(client: httpx.AsyncClient) -> None:
    _, body = await tokens_for(client)
    other = await public_client(client)
    reply = await client.post(
        oidc_path("revoke"), data={"token": body["refresh_token"], "client_id": other["client_id"]}
    )
    assert reply.status_code == 200
    assert (await introspect(client, body["access_token"]))["active"] is True


async def test_the_flow_and_its_replays_on_postgresql(pg_client: httpx.AsyncClient) -> None:
    client_id, body = await tokens_for(pg_client)
    assert (await userinfo(pg_client, body["access_token"])).json()["sub"] == "alice"
    renewed = (await refresh(pg_client, client_id, body["refresh_token"])).json()
    assert (await refresh(pg_client, client_id, body["refresh_token"])).status_code == 400
    assert (await refresh(pg_client, client_id, renewed["refresh_token"])).status_code == 400
    assert (await introspect(pg_client, renewed["access_token"]))["active"] is False
    registered = await public_client(pg_client, "consenting")
    verifier, challenge = pkce()
    params = auth_params(registered["client_id"], challenge)
    page = await pg_client.get("/realms/consenting/protocol/openid-connect/auth", params=params)
    page = await post_form(pg_client, page, username="alice", password=PASSWORD)
    done = await post_form(pg_client, page, accept="yes")
    assert "code" in redirect_query(done)


@pytest.mark.parametrize("name", ["revoke", "userinfo"])
async def test_browser_applications_may_revoke_and_read_userinfo(
    client: httpx.AsyncClient, name: str
) -> None:
    """A public client in a browser calls these itself: CORS for the realm's allowed origins
    (tests/app_realms/open.yaml allows https://app.example.org)."""
    answer = await client.options(
        oidc_path(name, "open"),
        headers={
            "Origin": "https://app.example.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == "https://app.example.org"


async def test_the_sweep_forgets_what_expired(client: httpx.AsyncClient, app: Starlette) -> None:
    client_id, body = await tokens_for(client)
    container = app.state.container
    later = int(time.time()) + 2 * 86400
    assert await container.signin_store.sweep(later) >= 4  # session, code, refresh, family
    assert await container.signin_store.sweep(later) == 0
    await sweep_initial_access_tokens(container)  # the scheduled job runs it too
    assert (await refresh(client, client_id, body["refresh_token"])).status_code == 400


async def test_a_public_clients_token_requests_count_against_its_rate(
    tmp_path: Path, realms_dir: Path, sqlite_url: str
) -> None:
    """rate_limits.token counts per client id, a public client's (client_id alone) too."""
    (realms_dir / "people.yaml").write_text(
        (realms_dir / "people.yaml").read_text() + "rate_limits:\n  token: 1/day\n"
    )
    application = create_app(make_settings(tmp_path, realms_dir, sqlite_url), scheduler=False)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            registered = await public_client(http)
            first = await exchange(http, registered["client_id"], "made-up", "v" * 43)
            assert first.status_code == 400
            second = await exchange(http, registered["client_id"], "made-up", "v" * 43)
            assert second.status_code == 429 and second.json()["error"] == "too_many_requests"
