"""What people in the console rely on is kept in the database, on SQLite and PostgreSQL alike
(docs/reference.md §5): who registered a client (also when an initial access token is spent in
the same statement), the realm's users seen from their sessions and consents, and the
revocations of a withdrawn consent and of an ended session."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest

from tests.helpers import admin, bearer, dcr_path, initial_access_token
from tests.inprocess import asgi_client, make_settings, started
from tests.people_flow import (
    REALM,
    add_staff_realm,
    console,
    console_session,
    notes_client,
    person_tokens,
)
from tests.signin_flow import oidc_path
from tests.test_console import csrf_of

pytestmark = pytest.mark.anyio


async def test_owners_users_and_revocations_on_both_databases(
    tmp_path: Path, realms_dir: Path, database_url: str
) -> None:
    add_staff_realm(realms_dir)
    settings = make_settings(tmp_path, realms_dir, database_url)
    async with started(settings) as app, asgi_client(app) as alice, asgi_client(app) as carol:
        notes = await notes_client(alice)
        tokens = await person_tokens(alice, notes, "alice")
        mine = await alice.post(
            dcr_path(REALM),
            json={"client_name": "Alice's", "redirect_uris": ["https://a.example.org/cb"]},
            headers=bearer(tokens["access_token"]),
        )
        assert mine.status_code == 201, mine.text
        iat = await initial_access_token(alice, REALM)
        spent = await alice.post(
            dcr_path(REALM), json={"redirect_uris": ["https://b.example.org/cb"]},
            headers=bearer(iat),
        )  # fmt: skip
        assert spent.status_code == 201, spent.text

        await console_session(alice, "alice")
        listed = await alice.get(console("/clients"))
        shown = set(re.findall(r'<td data-label="Client id" class="id">([^<]+)</td>', listed.text))
        assert shown == {mine.json()["client_id"]}

        page = await console_session(carol, "carol")
        users = await carol.get(console("/users"))
        assert f'href="{console("/users/alice")}"' in users.text
        alice_page = await carol.get(console("/users/alice"))
        assert notes["client_id"] in alice_page.text
        sessions = re.findall(r'name="session" value="([0-9a-f]{64})"', alice_page.text)
        assert len(sessions) == 1  # the console's sign-in reused the realm session
        csrf = csrf_of(page)
        withdrawn = await carol.post(
            console("/users/alice/consents/withdraw"),
            data={"csrf": csrf, "client_id": notes["client_id"]},
        )
        assert withdrawn.status_code == 303
        userinfo = await alice.get(
            oidc_path("userinfo", REALM), headers=bearer(tokens["access_token"])
        )
        assert userinfo.status_code == 401
        assert (await alice.get(console("/clients"))).status_code == 200
        ended = await carol.post(
            console("/users/alice/sessions/end"), data={"csrf": csrf, "session": sessions[0]}
        )
        assert ended.status_code == 303
        # the console's own session was issued under that sign-in: it ends too
        assert (await alice.get(console("/clients"))).status_code == 303


async def test_events_are_written_also_where_time_was_an_integer(
    tmp_path: Path, realms_dir: Path, database_url: str
) -> None:
    """Milliseconds overflow a 32-bit INTEGER: a PostgreSQL event table made with one is widened
    at start, and LOGIN events (like every event) are written and listed."""
    add_staff_realm(realms_dir)
    settings = make_settings(tmp_path, realms_dir, database_url)
    async with started(settings):
        pass  # starting is what widens the table; the checks follow
    if database_url.startswith("postgresql"):
        plain = database_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute("ALTER TABLE event ALTER COLUMN time TYPE INTEGER")
    async with started(settings) as app, asgi_client(app) as http:
        await console_session(http, "alice")
        headers = await admin(http, REALM)
        listed = await http.get(
            f"/admin/realms/{REALM}/events", params={"type": "LOGIN"}, headers=headers
        )
        assert listed.status_code == 200
        assert [e["userId"] for e in listed.json()] == ["alice"]
        assert listed.json()[0]["time"] > 2**31
