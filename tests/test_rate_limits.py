"""Rate limits of a realm (`rate_limits`), counted in the database: they hold across every
process sharing it (SQLite and PostgreSQL), answer 429 too_many_requests with Retry-After, and
cover anonymous registration per address and console sign-in per address and account."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from app.config.realm_models import RateLimitsConfig
from tests.conftest import LiveServer, start_server
from tests.helpers import dcr_path
from tests.test_console import console, csrf_of

LIMITED = """\
registration:
  anonymous:
    - type: trusted-hosts
      trusted-hosts: ["127.0.0.1"]
      client-uris-must-match: false
rate_limits:
  anonymous_registration: 6/day   # a day: no window ends during the test
  sign_in: 3/day
service_accounts:
  - client_id: admin
    secret: admin-secret
    roles: [manage-clients]
"""
BODY = {"redirect_uris": ["https://rp.example.org/cb"]}


@pytest.fixture
def two_processes(tmp_path: Path, realms_dir: Path, database_url: str) -> Iterator[LiveServer]:
    (realms_dir / "limited.yaml").write_text(LIMITED)
    server = start_server(tmp_path, realms_dir, database_url, workers=2)
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.live
def test_anonymous_registrations_are_limited_across_processes(two_processes: LiveServer) -> None:
    url = two_processes.url + dcr_path("limited")

    def register(_: int) -> httpx.Response:
        # a connection each: the two workers share the requests
        return httpx.post(url, json=BODY, timeout=30)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(register, range(20)))
    created = [a for a in answers if a.status_code == 201]
    limited = [a for a in answers if a.status_code == 429]
    assert len(created) == 6, [a.status_code for a in answers]
    assert len(limited) == 14
    for answer in limited:
        assert answer.json()["error"] == "too_many_requests"
        assert int(answer.headers["retry-after"]) >= 1
    other_realm = httpx.post(two_processes.url + dcr_path(), json=BODY, timeout=30)
    assert other_realm.status_code == 201  # the limit is the realm's own


@pytest.mark.anyio
async def test_console_sign_in_is_limited_per_address_and_account(
    client: httpx.AsyncClient, app: Starlette, realms_dir: Path
) -> None:
    # the app fixture loaded tests/app_realms already: reload with the limited realm added
    (realms_dir / "limited.yaml").write_text(LIMITED)
    app.state.container.realms.reload()
    path = console("limited") + "/signin"
    statuses = []
    for _ in range(4):
        form = await client.get(path)
        answer = await client.post(
            path, data={"csrf": csrf_of(form), "client_id": "admin", "client_secret": "wrong"}
        )
        statuses.append(answer.status_code)
    assert statuses == [401, 401, 401, 429]
    form = await client.get(path)
    right = await client.post(
        path, data={"csrf": csrf_of(form), "client_id": "admin", "client_secret": "admin-secret"}
    )
    assert right.status_code == 429  # the account's attempts are used up, right or wrong
    assert "Too many requests" in right.text


def test_a_rate_is_a_number_per_period() -> None:
    assert RateLimitsConfig(token="600/minute").limit("token") == (600, 60)
    assert RateLimitsConfig().limit("token") is None
    for wrong in ("600", "0/minute", "ten/minute", "5/fortnight"):
        with pytest.raises(ValueError):
            RateLimitsConfig(token=wrong)


@pytest.mark.anyio
async def test_token_requests_are_limited_per_client(
    client: httpx.AsyncClient, app: Starlette, realms_dir: Path
) -> None:
    (realms_dir / "limited.yaml").write_text(LIMITED.replace("sign_in: 3/day", "token: 2/day"))
    app.state.container.realms.reload()
    path = "/realms/limited/protocol/openid-connect/token"
    form = {"grant_type": "client_credentials"}
    statuses = [
        (await client.post(path, data=form, auth=("admin", "admin-secret"))).status_code
        for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    other = await client.post(path, data=form, auth=("someone", "else"))
    assert other.status_code == 401  # another client id has its own count
