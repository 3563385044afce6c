"""Events of signing people in (docs/reference.md §9): LOGIN, LOGIN_ERROR, LOGOUT and
LOGOUT_ERROR from the login and consent pages and the logout endpoint, each recorded once, with
Keycloak's details (`username`, `auth_method`, `redirect_uri`, `consent`, `code_id`) and never
a password, code or token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import admin
from tests.people_flow import REALM, add_staff_realm, console_session, notes_client, person_tokens
from tests.signin_flow import (
    CALLBACK,
    PASSWORD,
    auth_params,
    form_of,
    oidc_path,
    pkce,
    redirect_query,
)
from tests.test_console import csrf_of

pytestmark = pytest.mark.anyio
SIGNIN_KINDS = ["LOGIN", "LOGIN_ERROR", "LOGOUT", "LOGOUT_ERROR"]


@pytest.fixture
def realms_dir(tmp_path: Path, realms_dir: Path) -> Path:
    add_staff_realm(realms_dir)
    return realms_dir


async def signin_events(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await http.get(
        f"/admin/realms/{REALM}/events",
        params={"type": SIGNIN_KINDS},
        headers=await admin(http, REALM),
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


def assert_no_secret(events: list[dict[str, Any]], *secrets: str) -> None:
    text = str(events)
    for secret in secrets:
        assert secret not in text


async def test_a_sign_in_with_consent_is_one_login_and_its_errors(
    client: httpx.AsyncClient,
) -> None:
    notes = await notes_client(client)
    verifier, challenge = pkce()
    params = auth_params(notes["client_id"], challenge, scope="openid profile")
    page = await client.get(oidc_path("auth", REALM), params=params)
    action, hidden = form_of(page)
    wrong = await client.post(action, data={**hidden, "username": "alice", "password": "guess-1"})
    assert wrong.status_code == 200
    consent = await client.post(action, data={**hidden, "username": "alice", "password": PASSWORD})
    action, hidden = form_of(consent)
    cancelled = await client.post(action, data={**hidden, "cancel": "yes"})
    assert redirect_query(cancelled)["error"] == "access_denied"
    again = await client.get(oidc_path("auth", REALM), params=params)  # signed in: consent
    action, hidden = form_of(again)
    done = await client.post(action, data={**hidden, "accept": "yes"})
    code = redirect_query(done)["code"]
    token = await client.post(
        oidc_path("token", REALM),
        data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
            "code_verifier": verifier, "client_id": notes["client_id"],
        },
    )  # fmt: skip
    assert token.status_code == 200

    events = await signin_events(client)
    assert [e["type"] for e in events] == ["LOGIN", "LOGIN_ERROR", "LOGIN_ERROR"]  # newest first
    login, rejected, invalid = events
    assert invalid["error"] == "invalid_user_credentials"
    assert invalid["details"]["username"] == "alice"
    assert invalid["details"]["redirect_uri"] == CALLBACK
    assert invalid["details"]["auth_method"] == "openid-connect"
    assert invalid["clientId"] == notes["client_id"] and invalid["ipAddress"] == "127.0.0.1"
    assert rejected["error"] == "rejected_by_user" and rejected["userId"] == "alice"
    assert login["userId"] == "alice" and login["clientId"] == notes["client_id"]
    assert "error" not in login
    details = login["details"]
    assert details["username"] == "alice" and details["auth_method"] == "openid-connect"
    assert details["redirect_uri"] == CALLBACK and details["consent"] == "consent_granted"
    assert len(details["code_id"]) >= 32 and details["code_id"] not in code
    reply = token.json()
    assert_no_secret(
        events, PASSWORD, "guess-1", code, verifier, reply["access_token"], reply["refresh_token"]
    )


async def test_a_remembered_consent_and_a_silent_refusal(client: httpx.AsyncClient) -> None:
    notes = await notes_client(client)
    _, challenge = pkce()
    silent = await client.get(
        oidc_path("auth", REALM),
        params=auth_params(notes["client_id"], challenge, scope="openid profile", prompt="none"),
    )
    assert redirect_query(silent)["error"] == "login_required"
    await person_tokens(client, notes, "alice")  # signs in and consents: one LOGIN
    await person_tokens(client, notes, "alice")  # the session and the consent remembered
    events = await signin_events(client)
    assert [e["type"] for e in events] == ["LOGIN", "LOGIN", "LOGIN_ERROR"]
    assert events[0]["details"]["consent"] == "persistent_consent"
    assert events[1]["details"]["consent"] == "consent_granted"
    assert events[2]["error"] == "login_required" and "username" not in events[2]["details"]
    assert events[0]["details"]["code_id"] != events[1]["details"]["code_id"]


async def test_logout_and_its_error(client: httpx.AsyncClient) -> None:
    notes = await notes_client(client)
    tokens = await person_tokens(client, notes, "alice")
    refused = await client.get(
        oidc_path("logout", REALM),
        params={"client_id": notes["client_id"], "post_logout_redirect_uri": "https://evil.test/"},
    )
    assert refused.status_code == 400
    out = await client.get(oidc_path("logout", REALM))
    assert out.status_code == 200
    nobody = await client.get(oidc_path("logout", REALM))  # no session left: nothing ended
    assert nobody.status_code == 200
    events = [e for e in await signin_events(client) if e["type"].startswith("LOGOUT")]
    assert [e["type"] for e in events] == ["LOGOUT", "LOGOUT_ERROR"]
    logout, error = events
    assert logout["userId"] == "alice" and logout["details"]["username"] == "alice"
    assert error["error"] == "invalid_redirect_uri"
    assert error["details"]["redirect_uri"] == "https://evil.test/"
    assert_no_secret(events, tokens["access_token"], tokens["id_token"])


async def test_the_console_sign_in_and_sign_out_are_events_too(
    client: httpx.AsyncClient,
) -> None:
    page = await console_session(client, "carol")
    out = await client.post(f"/realms/{REALM}/console/signout", data={"csrf": csrf_of(page)})
    assert out.status_code == 303
    events = await signin_events(client)
    assert [e["type"] for e in events] == ["LOGOUT", "LOGIN"]
    assert events[1]["clientId"] == "security-admin-console"
    assert events[1]["details"]["redirect_uri"].endswith(f"/realms/{REALM}/console/callback")
    assert events[0]["userId"] == "carol"
    # the console lists them for an admin (carol holds manage-clients)
    await console_session(client, "carol")
    listed = await client.get(f"/realms/{REALM}/console/events", params={"type": "LOGOUT"})
    assert listed.status_code == 200
    assert listed.text.count('<td data-label="Type" class="id">LOGOUT</td>') == 1
