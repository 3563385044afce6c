"""Signing in at an upstream provider, attacked (docs/reference.md §6): the upstream here is a
fake the test controls, so each ID token is wrong in exactly one way — audience, nonce,
signature, expiry, issuer — and each is refused with an HTML page before anyone is signed in.
So are a missing, unknown, replayed or other browser's `state`, and an upstream that is down
answers 502, never 500."""

from __future__ import annotations

import html
import re
import time
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from tests.broker_flow import (
    ENDPOINT,
    FAKE_CLIENT_ID,
    FAKE_ISSUER,
    FAKE_SECRET,
    KEY,
    OTHER_KEY,
    ROTATED_KEY,
    FakeUpstream,
    continued_query,
    continued_to,
    start,
    write_brokered_realm,
)
from tests.helpers import basic
from tests.inprocess import TRUSTED, asgi_client
from tests.signin_flow import CALLBACK, auth_params, auth_path, oidc_path, people_realms, pkce
from tests.signin_flow import public_client as register_public_client

pytestmark = pytest.mark.anyio


@pytest.fixture
def realms_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CORP_CLIENT_SECRET", FAKE_SECRET)  # the realm file says ${CORP_...}
    target = people_realms(tmp_path)
    write_brokered_realm(target, FAKE_ISSUER, FAKE_CLIENT_ID)
    return target


@pytest.fixture
def fake(app: Starlette) -> FakeUpstream:
    upstream = FakeUpstream()
    app.state.container.upstream.transport = httpx.MockTransport(upstream.handle)
    return upstream


def refused(response: httpx.Response, status: int = 400) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "location" not in response.headers
    assert "registrar_session=" not in response.headers.get("set-cookie", "")


async def test_a_good_id_token_signs_the_user_in_and_the_request_goes_on(
    client: httpx.AsyncClient, fake: FakeUpstream
) -> None:
    client_id, verifier, state = await start(client, fake)
    done = await client.get(ENDPOINT, params={"code": "c-1", "state": state, "iss": FAKE_ISSUER})
    query = continued_query(done)
    assert continued_to(done).startswith(CALLBACK + "?")
    assert query["state"] == "st-123" and query["iss"] == "http://testserver/realms/brokered"
    # the upstream was asked with PKCE and our client's secret from ${CORP_CLIENT_SECRET}
    assert fake.token_forms[-1]["grant_type"] == "authorization_code"
    assert fake.token_forms[-1]["redirect_uri"] == f"http://testserver{ENDPOINT}"
    assert fake.token_auth[-1] == basic(FAKE_CLIENT_ID, FAKE_SECRET)
    tokens = await client.post(
        oidc_path("token", "brokered"),
        data={
            "grant_type": "authorization_code", "code": query["code"], "client_id": client_id,
            "redirect_uri": CALLBACK, "code_verifier": verifier,
        },
    )  # fmt: skip
    assert tokens.status_code == 200, tokens.text
    info = await client.get(
        oidc_path("userinfo", "brokered"),
        headers={"Authorization": f"Bearer {tokens.json()['access_token']}"},
    )
    claims = info.json()
    assert claims["preferred_username"] == "carol" and claims["email"] == "carol@corp.example"
    assert claims["sub"] not in ("u-1234", "carol")  # a subject of this realm, not the upstream's


@pytest.mark.parametrize(
    "changes,why",
    [
        ({"aud": "someone-else"}, "another client"),
        ({"aud": ["someone-else", "more"], "azp": "someone-else"}, "another client"),
        ({"azp": "someone-else"}, "another party"),
        ({"nonce": "not-the-nonce"}, "nonce"),
        ({"nonce": None}, "nonce"),
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"exp": None}, "expired"),
        ({"iss": "https://evil.example/realms/corp"}, "another issuer"),
        ({"sub": None}, "sub"),
    ],
)
async def test_an_id_token_wrong_in_one_way_is_refused(
    client: httpx.AsyncClient, fake: FakeUpstream, changes: dict[str, object], why: str
) -> None:
    _, _, state = await start(client, fake)
    fake.changes = dict(changes)
    done = await client.get(ENDPOINT, params={"code": "c-1", "state": state})
    refused(done)
    assert why in done.text


async def test_an_id_token_signed_by_another_key_is_refused(
    client: httpx.AsyncClient, fake: FakeUpstream
) -> None:
    _, _, state = await start(client, fake)
    fake.signing_key = OTHER_KEY  # the kid the upstream publishes, but not its key
    done = await client.get(ENDPOINT, params={"code": "c-1", "state": state})
    refused(done)
    assert "signature" in done.text


async def test_an_unknown_kid_fetches_the_upstreams_keys_once_more(
    app: Starlette, client: httpx.AsyncClient, fake: FakeUpstream
) -> None:
    _, _, state = await start(client, fake)
    assert continued_query(await client.get(ENDPOINT, params={"code": "c", "state": state}))
    assert fake.jwks_fetches == 1
    # the upstream rotates its key: within the refresh interval the cached set stays...
    fake.signing_key, fake.published = ROTATED_KEY, [KEY, ROTATED_KEY]
    client.cookies.delete("registrar_session")
    _, _, state = await start(client, fake)
    refused(await client.get(ENDPOINT, params={"code": "c", "state": state}))
    assert fake.jwks_fetches == 1
    # ...past it, the unknown kid fetches the set once more, and the sign-in goes through
    app.state.container.upstream.jwks_min_refresh = 0
    _, _, state = await start(client, fake)
    done = await client.get(ENDPOINT, params={"code": "c", "state": state})
    assert continued_query(done)["code"]
    assert fake.jwks_fetches == 2


async def test_a_missing_or_unknown_state_is_refused(
    client: httpx.AsyncClient, fake: FakeUpstream
) -> None:
    await start(client, fake)
    refused(await client.get(ENDPOINT, params={"code": "c-1"}))
    refused(await client.get(ENDPOINT, params={"code": "c-1", "state": "made-up-state"}))
    assert fake.token_forms == []  # the code was never sent to the upstream


async def test_a_state_is_used_once(client: httpx.AsyncClient, fake: FakeUpstream) -> None:
    _, _, state = await start(client, fake)
    assert continued_query(await client.get(ENDPOINT, params={"code": "c-1", "state": state}))
    client.cookies.delete("registrar_session")
    refused(await client.get(ENDPOINT, params={"code": "c-1", "state": state}))


async def test_a_callback_in_another_browser_is_refused(
    app: Starlette, client: httpx.AsyncClient, fake: FakeUpstream
) -> None:
    _, _, state = await start(client, fake)
    async with asgi_client(app, TRUSTED) as other_browser:  # no cookie of this sign-in
        done = await other_browser.get(ENDPOINT, params={"code": "c-1", "state": state})
    refused(done)
    assert "another browser" in done.text
    assert fake.token_forms == []


async def test_an_answer_naming_another_issuer_is_refused(
    client: httpx.AsyncClient, fake: FakeUpstream
) -> None:
    _, _, state = await start(client, fake)
    done = await client.get(
        ENDPOINT, params={"code": "c-1", "state": state, "iss": "https://evil.example"}
    )
    refused(done)


async def test_access_denied_at_the_upstream_shows_the_login_page_again(
    client: httpx.AsyncClient, fake: FakeUpstream
) -> None:
    _, _, state = await start(client, fake)
    done = await client.get(ENDPOINT, params={"error": "access_denied", "state": state})
    assert done.status_code == 200 and "location" not in done.headers
    assert "Corp SSO did not sign you in (access_denied)" in done.text
    assert "Sign in with Corp SSO" in done.text
    assert "registrar_session=" not in done.headers.get("set-cookie", "")
    assert fake.token_forms == []


async def test_an_upstream_down_at_the_callback_is_a_502_page(
    client: httpx.AsyncClient, fake: FakeUpstream
) -> None:
    _, _, state = await start(client, fake)
    fake.down = True
    done = await client.get(ENDPOINT, params={"code": "c-1", "state": state})
    refused(done, 502)
    assert "Corp SSO did not finish the sign-in" in done.text


async def test_an_upstream_down_at_the_start_is_a_502_page(
    client: httpx.AsyncClient, fake: FakeUpstream
) -> None:
    fake.down = True
    registered = await register_public_client(client, "brokered")
    page = await client.get(
        auth_path("brokered"), params=auth_params(registered["client_id"], pkce()[1])
    )
    link = re.search(r'href="([^"]*/broker/corp/login\?[^"]*)"', page.text)
    assert link is not None
    started = await client.get(html.unescape(link.group(1)))
    refused(started, 502)
    assert "Corp SSO cannot be reached" in started.text


async def test_an_unknown_alias_is_a_404_page(client: httpx.AsyncClient) -> None:
    refused(await client.get("/realms/brokered/broker/other/endpoint?state=x"), 404)
    refused(await client.get("/realms/people/broker/corp/login?request="), 404)


async def test_the_upstream_link_carries_a_judged_request(
    client: httpx.AsyncClient, fake: FakeUpstream
) -> None:
    # a made-up request never reaches the upstream: the same HTML 400 as the endpoint's
    refused(await client.get("/realms/brokered/broker/corp/login?request=client_id%3Dnobody"))


async def test_dropping_the_upstream_signs_its_users_out(
    app: Starlette, client: httpx.AsyncClient, fake: FakeUpstream, realms_dir: Path
) -> None:
    client_id, verifier, state = await start(client, fake)
    query = continued_query(await client.get(ENDPOINT, params={"code": "c", "state": state}))
    tokens = await client.post(
        oidc_path("token", "brokered"),
        data={
            "grant_type": "authorization_code", "code": query["code"], "client_id": client_id,
            "redirect_uri": CALLBACK, "code_verifier": verifier,
        },
    )  # fmt: skip
    bearer = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
    assert (await client.get(oidc_path("userinfo", "brokered"), headers=bearer)).status_code == 200
    path = realms_dir / "brokered.yaml"
    path.write_text(path.read_text().split("  upstream:")[0] + "  users: []\n")
    assert app.state.container.realms.reload() == []
    assert (await client.get(oidc_path("userinfo", "brokered"), headers=bearer)).status_code == 401
    refreshed = await client.post(
        oidc_path("token", "brokered"),
        data={
            "grant_type": "refresh_token", "refresh_token": tokens.json()["refresh_token"],
            "client_id": client_id,
        },
    )  # fmt: skip
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    again = await client.get(
        auth_path("brokered"), params=auth_params(client_id, pkce()[1])
    )  # the session is gone too: the login page, which now offers nobody
    assert again.status_code == 200 and "Sign in with Corp SSO" not in again.text


async def test_an_answer_without_iss_from_an_upstream_that_sends_it_is_refused(
    client: httpx.AsyncClient, fake: FakeUpstream
) -> None:
    fake.sends_iss = True  # RFC 9207 §2.4: then an answer without iss is refused
    _, _, state = await start(client, fake)
    done = await client.get(ENDPOINT, params={"code": "c-1", "state": state})
    refused(done)
    assert "carries no iss" in done.text
    _, _, state = await start(client, fake)
    done = await client.get(ENDPOINT, params={"code": "c-1", "state": state, "iss": FAKE_ISSUER})
    assert continued_query(done)["code"]
