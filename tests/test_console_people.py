"""People in the console (docs/reference.md §5 and §6), black-box in-process: a realm user signs
in through the realm's login page (the console is a client of its realm, with PKCE, state and
nonce), sees "My clients" (registered from the console or with their own access token), may
view, edit and delete only those; realm-management roles of local users reach their tokens;
admins see users, sessions and consents, end a session and withdraw a consent."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.applications import Starlette

from tests.helpers import (
    admin,
    assert_error,
    bearer,
    clients_path,
    dcr_path,
    payload_of,
)
from tests.inprocess import asgi_client
from tests.people_flow import (
    REALM,
    add_staff_realm,
    console,
    console_session,
    console_sign_in,
    notes_client,
    person_tokens,
)
from tests.signin_flow import auth_params, oidc_path, pkce
from tests.test_console import csrf_of

pytestmark = pytest.mark.anyio
ISSUER = f"http://testserver/realms/{REALM}"


@pytest.fixture
def realms_dir(tmp_path: Path, realms_dir: Path) -> Path:
    add_staff_realm(realms_dir)
    return realms_dir


@pytest.fixture
async def bob(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as http:
        yield http


@pytest.fixture
async def carol(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as http:
        yield http


def client_ids(page: httpx.Response) -> set[str]:
    return set(re.findall(r'<td data-label="Client id" class="id">([^<]+)</td>', page.text))


async def new_client(http: httpx.AsyncClient, name: str, **extra: str) -> httpx.Response:
    form = await http.get(console("/new"))
    assert form.status_code == 200, form.text
    data = {
        "csrf": csrf_of(form),
        "client_name": name,
        "redirect_uris": "https://app.example.org/cb",
        "grant_type": "authorization_code",
        **extra,
    }
    return await http.post(console("/new"), data=data)


def registered_id(page: httpx.Response) -> str:
    assert page.status_code == 201, page.text
    found = re.search(r'<code id="client-id">([^<]+)</code>', page.text)
    assert found, page.text
    return found.group(1)


# --- signing in ---------------------------------------------------------------------------------


async def test_a_person_signs_in_through_the_realms_login_page(client: httpx.AsyncClient) -> None:
    signin = await client.get(console("/signin"))
    assert signin.status_code == 200
    assert f'href="{console("/login")}"' in signin.text  # beside the service-account form
    assert 'name="client_secret"' in signin.text
    # a realm that signs nobody in offers the service-account form alone
    open_signin = await client.get("/realms/open/console/signin")
    assert open_signin.status_code == 200 and 'name="client_secret"' in open_signin.text
    assert "/console/login" not in open_signin.text
    start = await client.get(console("/login"))
    assert start.status_code == 303
    location = urlsplit(start.headers["location"])
    assert (
        f"{location.scheme}://{location.netloc}{location.path}"
        == f"{ISSUER}/protocol/openid-connect/auth"
    )
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert query["client_id"] == "security-admin-console"
    assert query["redirect_uri"] == f"{ISSUER}/console/callback"
    assert query["response_type"] == "code" and query["code_challenge_method"] == "S256"
    assert len(query["state"]) >= 20 and len(query["nonce"]) >= 20
    cookie = start.headers["set-cookie"]
    assert "registrar_console_login=" in cookie and "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower() and f"Path={console()}" in cookie
    # the realm's own login page, the one every client of the realm gets
    login = await client.get(start.headers["location"])
    assert login.status_code == 200 and 'name="password"' in login.text

    done = await console_sign_in(client, "alice")
    assert done.status_code == 303 and done.headers["location"] == console("/")
    session = [c for c in done.headers.get_list("set-cookie") if c.startswith("registrar_console=")]
    assert session and "HttpOnly" in session[0] and "samesite=strict" in session[0].lower()
    page = await client.get(console("/"), follow_redirects=True)
    assert page.status_code == 200 and str(page.url).endswith(console("/clients"))
    assert "<h1>My clients</h1>" in page.text and "Sign out alice" in page.text
    assert f'href="{console("/new")}"' in page.text
    # a person without roles is offered none of the admin's pages
    for path in ("/tokens", "/policies", "/events", "/users"):
        assert f'href="{console(path)}"' not in page.text
    assert (await client.get(console("/users"))).status_code == 403


async def test_the_callback_refuses_a_foreign_state_issuer_or_replay(
    client: httpx.AsyncClient,
) -> None:
    # no sign-in started in this browser: the state cannot match
    stray = await client.get(
        console("/callback"), params={"code": "x", "state": "y", "iss": ISSUER}
    )
    assert stray.status_code == 400 and "Sign in again" in stray.text
    start = await client.get(console("/login"))
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    wrong_state = await client.get(
        console("/callback"), params={"code": "x", "state": state + "x", "iss": ISSUER}
    )
    assert wrong_state.status_code == 400
    start = await client.get(console("/login"))
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    other_issuer = await client.get(
        console("/callback"),
        params={"code": "x", "state": state, "iss": "http://testserver/realms/open"},
    )
    assert other_issuer.status_code == 400 and "another issuer" in other_issuer.text
    start = await client.get(console("/login"))
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    cancelled = await client.get(
        console("/callback"), params={"error": "access_denied", "state": state, "iss": ISSUER}
    )
    assert cancelled.status_code == 401 and "cancelled" in cancelled.text
    assert "registrar_console=" not in cancelled.headers.get("set-cookie", "")

    done = await console_sign_in(client, "alice")
    assert done.status_code == 303
    replayed = await client.get(str(done.request.url))  # the same code and state again
    assert replayed.status_code == 400
    assert "registrar_console=" not in replayed.headers.get("set-cookie", "")


async def test_the_console_client_cannot_be_used_elsewhere(client: httpx.AsyncClient) -> None:
    """Built in and public, with the console's callback as its only redirect URI."""
    _, challenge = pkce()
    params = auth_params("security-admin-console", challenge, scope="openid")
    elsewhere = await client.get(oidc_path("auth", REALM), params=params)
    assert elsewhere.status_code == 400 and "location" not in elsewhere.headers
    no_pkce = dict(params, redirect_uri=f"{ISSUER}/console/callback")
    del no_pkce["code_challenge"], no_pkce["code_challenge_method"]
    refused = await client.get(oidc_path("auth", REALM), params=no_pkce)
    assert parse_qs(urlsplit(refused.headers["location"]).query)["error"] == ["invalid_request"]


async def test_a_persons_other_tokens_do_not_open_the_console(client: httpx.AsyncClient) -> None:
    notes = await notes_client(client)
    tokens = await person_tokens(client, notes, "alice")
    client.cookies.set("registrar_console", tokens["access_token"], path=console())
    response = await client.get(console("/clients"))
    assert response.status_code == 303 and "/signin" in response.headers["location"]


async def test_signing_out_of_the_console_ends_the_realm_session(client: httpx.AsyncClient) -> None:
    page = await console_session(client, "alice")
    out = await client.post(console("/signout"), data={"csrf": csrf_of(page)})
    assert out.status_code == 303
    assert (await client.get(console("/clients"))).status_code == 303
    start = await client.get(console("/login"))
    again = await client.get(start.headers["location"])
    assert again.status_code == 200 and 'name="password"' in again.text  # asked again


# --- my clients -------------------------------------------------------------------------------


async def test_my_clients_are_those_the_person_registered(
    client: httpx.AsyncClient, bob: httpx.AsyncClient
) -> None:
    await console_session(client, "alice")
    from_console = registered_id(await new_client(client, "Alice's console app"))
    notes = await notes_client(client)
    tokens = await person_tokens(client, notes, "alice")
    by_token = await client.post(
        dcr_path(REALM),
        json={"client_name": "Alice's API app", "redirect_uris": ["https://a.example.org/cb"]},
        headers=bearer(tokens["access_token"]),
    )
    assert by_token.status_code == 201, by_token.text
    await console_session(bob, "bob")
    bobs = registered_id(await new_client(bob, "Bob's app"))

    mine = await client.get(console("/clients"))
    assert client_ids(mine) == {from_console, by_token.json()["client_id"]}
    assert "2 clients" in mine.text
    assert client_ids(await bob.get(console("/clients"))) == {bobs}
    searched = await client.get(console("/clients"), params={"q": "console app"})
    assert client_ids(searched) == {from_console}
    # an admin sees every client of the realm, the anonymous one too
    listed = await client.get(clients_path(REALM), headers=await admin(client, REALM))
    every = {c["clientId"] for c in listed.json()}
    assert {from_console, bobs, notes["client_id"], by_token.json()["client_id"]} <= every
    # Keycloak's admin API stays an admin's: a person without view-clients is refused
    own = await client.get(clients_path(REALM), headers=bearer(tokens["access_token"]))
    assert_error(own, 403, "insufficient_scope")


async def test_a_person_views_edits_and_deletes_only_their_own_clients(
    client: httpx.AsyncClient, bob: httpx.AsyncClient
) -> None:
    await console_session(client, "alice")
    mine = registered_id(await new_client(client, "Mine", client_type="confidential"))
    bob_page = await console_session(bob, "bob")
    bobs = registered_id(await new_client(bob, "Bob's"))

    detail = await client.get(console(f"/clients/{mine}"))
    assert detail.status_code == 200
    assert '"client_secret": "**********"' not in detail.text  # the owner sees the secret
    assert f'action="{console(f"/clients/{mine}/edit")}"' in detail.text
    assert "/enabled" not in detail.text  # enabling is an admin's
    edited = await client.post(
        console(f"/clients/{mine}/edit"),
        data={
            "csrf": csrf_of(detail),
            "client_name": "Renamed",
            "redirect_uris": "https://app.example.org/cb\nhttps://app.example.org/cb2",
        },
    )
    assert edited.status_code == 303 and edited.headers["location"].endswith("notice=saved")
    after = await client.get(console(f"/clients/{mine}"))
    assert "Renamed" in after.text and "https://app.example.org/cb2" in after.text
    assert "badge on" in after.text  # still enabled: the owner's edit does not touch it

    # someone else's client: refused, read or write, in the console and at the API
    assert (await client.get(console(f"/clients/{bobs}"))).status_code == 403
    assert (await client.get(console(f"/clients/{bobs}/delete"))).status_code == 403
    stolen = await bob.post(
        console(f"/clients/{mine}/delete"), data={"csrf": csrf_of(bob_page), "confirm": "yes"}
    )
    assert stolen.status_code == 403
    notes = await notes_client(client)
    tokens = await person_tokens(client, notes, "alice")
    path = f"{dcr_path(REALM)}/{bobs}"
    assert_error(
        await client.get(path, headers=bearer(tokens["access_token"])), 403, "insufficient_scope"
    )
    assert_error(
        await client.delete(path, headers=bearer(tokens["access_token"])),
        403,
        "insufficient_scope",
    )
    own = await client.get(f"{dcr_path(REALM)}/{mine}", headers=bearer(tokens["access_token"]))
    assert own.status_code == 200 and own.json()["client_name"] == "Renamed"
    # the ID token names alice too, but is no access token (RFC 9068 §2.1: at+jwt)
    by_id_token = await client.get(f"{dcr_path(REALM)}/{mine}", headers=bearer(tokens["id_token"]))
    assert by_id_token.status_code == 401
    unknown = f"{dcr_path(REALM)}/0190c0de-0000-7000-8000-000000000000"
    assert (await client.get(unknown, headers=bearer(tokens["access_token"]))).status_code == 403

    confirm = await client.get(console(f"/clients/{mine}/delete"))
    assert confirm.status_code == 200
    gone = await client.post(
        console(f"/clients/{mine}/delete"), data={"csrf": csrf_of(confirm), "confirm": "yes"}
    )
    assert gone.status_code == 303
    assert client_ids(await client.get(console("/clients"))) == set()


async def test_restricted_scopes_stay_with_manage_clients(
    client: httpx.AsyncClient, carol: httpx.AsyncClient
) -> None:
    await console_session(client, "alice")
    offered = await client.get(console("/new"))
    assert 'value="admin.read"' not in offered.text and 'value="phone"' in offered.text
    refused = await new_client(client, "Greedy", scope="admin.read")
    assert refused.status_code == 400 and "admin.read" in refused.text
    notes = await notes_client(client)
    tokens = await person_tokens(client, notes, "alice")
    assert_error(
        await client.post(
            dcr_path(REALM),
            json={"redirect_uris": ["https://a.example.org/cb"], "scope": "admin.read"},
            headers=bearer(tokens["access_token"]),
        ),
        403,
        "insufficient_scope",
    )
    await console_session(carol, "carol")
    offered = await carol.get(console("/new"))
    assert 'value="admin.read"' in offered.text
    registered_id(await new_client(carol, "Admin app", scope="admin.read"))


# --- roles of local users ---------------------------------------------------------------------


async def test_local_users_roles_reach_their_access_tokens(
    client: httpx.AsyncClient, carol: httpx.AsyncClient
) -> None:
    notes = await notes_client(client)
    alices = await person_tokens(client, notes, "alice")
    carols = await person_tokens(carol, notes, "carol")
    claims = payload_of(carols["access_token"])
    assert claims["resource_access"] == {"realm-management": {"roles": ["manage-clients"]}}
    assert claims["sub"] == "carol"
    assert "resource_access" not in payload_of(alices["access_token"])
    # Keycloak's bearer role checks read them: carol administers the realm, alice does not
    listed = await client.get(clients_path(REALM), headers=bearer(carols["access_token"]))
    assert listed.status_code == 200 and notes["client_id"] in {
        c["clientId"] for c in listed.json()
    }
    iat = await client.post(
        f"/admin/realms/{REALM}/clients-initial-access",
        json={"count": 1},
        headers=bearer(alices["access_token"]),
    )
    assert_error(iat, 403, "insufficient_scope")


async def test_an_admin_sees_people_ends_a_session_and_withdraws_a_consent(
    app: Starlette, client: httpx.AsyncClient, carol: httpx.AsyncClient
) -> None:
    notes = await notes_client(client)
    tokens = await person_tokens(client, notes, "alice")
    other = await notes_client(client)
    other_tokens = await person_tokens(client, other, "alice")  # the same sign-in
    userinfo = oidc_path("userinfo", REALM)
    for issued in (tokens, other_tokens):
        live = await client.get(userinfo, headers=bearer(issued["access_token"]))
        assert live.status_code == 200

    async with asgi_client(app) as dave:
        viewer = await console_session(dave, "dave")
        assert f'href="{console("/users")}"' in viewer.text
        users = await dave.get(console("/users"))
        assert users.status_code == 200
        for name in ("alice", "bob", "carol", "dave"):
            assert f'href="{console(f"/users/{name}")}"' in users.text
        alice = await dave.get(console("/users/alice"))
        assert alice.status_code == 200 and notes["client_id"] in alice.text
        assert "End session" in alice.text and "Withdraw consent" in alice.text
        session = re.search(r'name="session" value="([0-9a-f]{64})"', alice.text)
        assert session
        # view-users sees, but may not act
        ended = await dave.post(
            console("/users/alice/sessions/end"),
            data={"csrf": csrf_of(alice), "session": session.group(1)},
        )
        assert ended.status_code == 403
        assert (await dave.get(console("/users/nobody"))).status_code == 404

    page = await console_session(carol, "carol")
    csrf = csrf_of(page)
    no_csrf = await carol.post(
        console("/users/alice/consents/withdraw"), data={"client_id": notes["client_id"]}
    )
    assert no_csrf.status_code == 403
    withdrawn = await carol.post(
        console("/users/alice/consents/withdraw"),
        data={"csrf": csrf, "client_id": notes["client_id"]},
    )
    assert withdrawn.status_code == 303
    shown = await carol.get(withdrawn.headers["location"])
    assert "consent is withdrawn" in shown.text and notes["client_id"] not in shown.text
    # the grants issued under the consent are revoked: access and refresh tokens alike
    ended_grant = await client.get(userinfo, headers=bearer(tokens["access_token"]))
    assert ended_grant.status_code == 401
    # another client's grant of the same person is not touched
    kept = await client.get(userinfo, headers=bearer(other_tokens["access_token"]))
    assert kept.status_code == 200
    refreshed = await client.post(
        oidc_path("token", REALM),
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": notes["client_id"],
        },
    )
    assert_error(refreshed, 400, "invalid_grant")
    registering = await client.post(
        dcr_path(REALM),
        json={"redirect_uris": ["https://a.example.org/cb"]},
        headers=bearer(tokens["access_token"]),
    )
    assert registering.status_code == 401

    alice = await carol.get(console("/users/alice"))
    session = re.search(r'name="session" value="([0-9a-f]{64})"', alice.text)
    assert session
    ended = await carol.post(
        console("/users/alice/sessions/end"), data={"csrf": csrf, "session": session.group(1)}
    )
    assert ended.status_code == 303
    assert "session is ended" in (await carol.get(ended.headers["location"])).text
    # what was issued under that sign-in is revoked with it
    revoked = await client.get(userinfo, headers=bearer(other_tokens["access_token"]))
    assert revoked.status_code == 401
    again = await carol.post(
        console("/users/alice/sessions/end"), data={"csrf": csrf, "session": session.group(1)}
    )
    assert again.status_code == 404
    # alice must sign in again: the authorization endpoint shows the login page
    _, challenge = pkce()
    login = await client.get(
        oidc_path("auth", REALM),
        params=auth_params(notes["client_id"], challenge, scope="openid profile"),
    )
    assert login.status_code == 200 and 'name="password"' in login.text
