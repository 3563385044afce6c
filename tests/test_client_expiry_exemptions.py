"""Which unused clients `client_expiry` spares (docs/reference.md §2): those an admin registered
(a bearer holding manage-clients) unless `exempt_admin_created: false`, and service accounts
(clients registered for client_credentials) only with `exempt_service_accounts: true`. On SQLite
and PostgreSQL: the sweep's query reads the registered grant types in SQL."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.helpers import bearer, client_path, dcr_path, rat_of, service_token
from tests.inprocess import asgi_client, make_settings, started

pytestmark = pytest.mark.anyio

REALM = """\
registration:
  anonymous:
    - type: trusted-hosts
      trusted-hosts: ["127.0.0.1"]
      client-uris-must-match: false
client_expiry:
  unused_after: 1h
{exemptions}
service_accounts:
  - {{client_id: admin, secret: admin-secret, roles: [manage-clients]}}
"""
PLAIN = {"redirect_uris": ["https://rp.example.org/cb"]}
SERVICE = {
    "redirect_uris": ["https://rp.example.org/cb"],
    "grant_types": ["authorization_code", "client_credentials"],
    # a member that names the grant without granting it
    "client_name": "client_credentials",
}


@pytest.mark.parametrize(
    ("exemptions", "kept"),
    [
        ("", {"admin_created"}),  # the defaults
        ("  exempt_admin_created: false\n  exempt_service_accounts: true", {"service_account"}),
        ("  exempt_service_accounts: true", {"admin_created", "service_account"}),
    ],
)
async def test_the_sweep_spares_what_the_realm_exempts(
    tmp_path: Path, realms_dir: Path, database_url: str, exemptions: str, kept: set[str]
) -> None:
    (realms_dir / "expiring.yaml").write_text(REALM.format(exemptions=exemptions))
    settings = make_settings(tmp_path, realms_dir, database_url)
    t0 = int(time.time())
    async with started(settings) as app, asgi_client(app) as http:
        admin = bearer(await service_token(http, "admin", "expiring"))
        registered = {
            "anonymous": await http.post(dcr_path("expiring"), json=PLAIN),
            "service_account": await http.post(dcr_path("expiring"), json=SERVICE),
            "admin_created": await http.post(dcr_path("expiring"), json=PLAIN, headers=admin),
        }
        assert {a.status_code for a in registered.values()} == {201}
        container = app.state.container
        realm = container.realms.get("expiring")
        assert await container.uses.expire(realm, t0 + 1800) == 0  # nobody an hour unused yet
        assert await container.uses.expire(realm, t0 + 3610) == 3 - len(kept)
        left = set()
        for name, answer in registered.items():
            client = answer.json()
            read = await http.get(client_path(client), headers=bearer(rat_of(client)))
            assert read.status_code in (200, 401)
            if read.status_code == 200:
                left.add(name)
        assert left == kept
