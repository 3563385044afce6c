"""Clients nobody uses go away (`client_expiry`): a use (a registration read or update, a
token) is noted in batches, the admin views show it, and the sweep deletes the clients unused
for `unused_after`, or in a dry run only records the events."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from tests.helpers import bearer, client_path, dcr_path, rat_of, service_token

pytestmark = pytest.mark.anyio

EXPIRING = """\
registration:
  anonymous:
    - type: trusted-hosts
      trusted-hosts: ["127.0.0.1"]
      client-uris-must-match: false
client_expiry:
  unused_after: 1h
  dry_run: {dry_run}
events:
  enabled: true
service_accounts:
  - {{client_id: admin, secret: admin-secret, roles: [manage-clients]}}
"""
BODY = {"redirect_uris": ["https://rp.example.org/cb"]}


async def expiring(app: Starlette, realms_dir: Path, dry_run: bool) -> None:
    text = EXPIRING.format(dry_run="true" if dry_run else "false")
    (realms_dir / "expiring.yaml").write_text(text)
    app.state.container.realms.reload()


async def run_sweep(app: Starlette, now: int) -> int:
    container = app.state.container
    removed: int = await container.uses.expire(container.realms.get("expiring"), now)
    await container.events.flush()
    return removed


@pytest.mark.parametrize("dry_run", [False, True])
async def test_unused_clients_expire_and_used_ones_stay(
    client: httpx.AsyncClient,
    app: Starlette,
    realms_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    dry_run: bool,
) -> None:
    await expiring(app, realms_dir, dry_run)
    t0 = int(time.time())
    used = (await client.post(dcr_path("expiring"), json=BODY)).json()
    idle = (await client.post(dcr_path("expiring"), json=BODY)).json()
    half_hour_later = t0 + 1800
    monkeypatch.setattr(time, "time", lambda: float(half_hour_later))
    assert (await client.get(client_path(used), headers=bearer(rat_of(used)))).status_code == 200
    monkeypatch.undo()
    await app.state.container.uses.flush()
    admin = bearer(await service_token(client, "admin", "expiring"))
    shown = await client.get(f"/admin/realms/expiring/clients/{used['client_id']}", headers=admin)
    assert shown.json()["lastUsedTimestamp"] == half_hour_later * 1000

    assert await run_sweep(app, t0 + 3600 + 10) == 1  # only the idle one is an hour unused
    idle_read = await client.get(client_path(idle), headers=bearer(rat_of(idle)))
    assert idle_read.status_code == (200 if dry_run else 401)
    used_read = await client.get(client_path(used), headers=bearer(rat_of(used)))
    assert used_read.status_code == 200
    events = await client.get("/admin/realms/expiring/events?type=CLIENT_DELETE", headers=admin)
    [event] = events.json()
    assert event["clientId"] == idle["client_id"]
    assert event["details"] == {"reason": "unused", "dry_run": "true" if dry_run else "false"}


async def test_a_realm_without_expiry_keeps_every_client(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    registered = (await client.post(dcr_path(), json=BODY)).json()
    container = app.state.container
    assert await container.uses.expire(container.realms.get("open"), int(time.time()) + 10**8) == 0
    assert (
        await client.get(client_path(registered), headers=bearer(rat_of(registered)))
    ).status_code == 200
