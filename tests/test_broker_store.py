"""The upstream sign-in's storage guarantees, on SQLite and PostgreSQL: of callbacks racing with
one `state`, exactly one signs the user in; a brokered user is recorded once, under one `sub`,
however often they sign in."""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx
import pytest
from starlette.applications import Starlette

from app.config.settings import Settings
from tests.broker_flow import (
    ENDPOINT,
    FAKE_CLIENT_ID,
    FAKE_ISSUER,
    FAKE_SECRET,
    FakeUpstream,
    start,
    write_brokered_realm,
)
from tests.inprocess import make_settings
from tests.signin_flow import people_realms

pytestmark = pytest.mark.anyio


@pytest.fixture
def realms_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CORP_CLIENT_SECRET", FAKE_SECRET)
    target = people_realms(tmp_path)
    write_brokered_realm(target, FAKE_ISSUER, FAKE_CLIENT_ID)
    return target


@pytest.fixture
def settings(tmp_path: Path, realms_dir: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, realms_dir, database_url)


@pytest.fixture
def fake(app: Starlette) -> FakeUpstream:
    upstream = FakeUpstream()
    app.state.container.upstream.transport = httpx.MockTransport(upstream.handle)
    return upstream


async def test_racing_callbacks_with_one_state_sign_in_once(
    app: Starlette, client: httpx.AsyncClient, fake: FakeUpstream
) -> None:
    _, _, state = await start(client, fake)
    statuses: list[int] = []

    async def callback() -> None:
        answer = await client.get(ENDPOINT, params={"code": "c", "state": state})
        statuses.append(answer.status_code)

    async with anyio.create_task_group() as group:
        for _ in range(4):
            group.start_soon(callback)
    assert sorted(statuses) == [200, 400, 400, 400]
    assert len(fake.token_forms) == 1  # the code went to the upstream once


async def test_a_brokered_user_is_recorded_once(
    app: Starlette, client: httpx.AsyncClient, fake: FakeUpstream
) -> None:
    container = app.state.container
    for name in ("carol", "carol.c"):  # the upstream renames the user between sign-ins
        client.cookies.delete("registrar_session")
        fake.changes = {"preferred_username": name}
        _, _, state = await start(client, fake)
        answer = await client.get(ENDPOINT, params={"code": "c", "state": state})
        assert answer.status_code == 200, answer.text
    users = await container.broker.users(container.realms.get("brokered"))
    assert [(u.username, u.upstream_sub, u.email) for u in users] == [
        ("carol.c", "u-1234", "carol@corp.example")
    ]
    assert users[0].created_at <= users[0].last_login_at
