"""scripts/bench_preload.py (`scripts/bench --preload N`) fills a database through registrar's own
code: a real server on that database lists the clients and opens their sealed secrets."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from app.config.settings import Settings
from app.container import Container
from app.store.queries import ClientRow
from tests.helpers import TEST_SECRET_KEY
from tests.live import start_server

pytestmark = pytest.mark.live

PRELOAD = Path(__file__).parent.parent / "scripts" / "bench_preload.py"
# scripts/bench's realm, plus a service account to read the clients back
BENCH_REALM = """\
enabled: true
registration:
  rotate_registration_access_token: true
  authenticated:
    - type: allowed-client-scopes
      allowed-client-scopes: [openid, profile, email, offline_access, phone, address]
service_accounts:
  - client_id: admin
    secret: admin-secret
    roles: [manage-clients]
"""


def run_preload(tmp_path: Path, realms: Path, url: str, target: int) -> str:
    env = {
        **os.environ,
        "REGISTRAR_SECRET_KEY": TEST_SECRET_KEY,
        "REGISTRAR_SECRET_KEY_FILE": str(tmp_path / "secret.key"),
    }
    env.pop("REGISTRAR_CONFIG", None)
    command = [sys.executable, str(PRELOAD), str(target), "--database-url", url]
    command += ["--realms-dir", str(realms), "--batch", "128"]
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_preloaded_clients_are_served_and_their_secrets_open(tmp_path: Path) -> None:
    realms = tmp_path / "realms"
    realms.mkdir()
    (realms / "bench.yaml").write_text(BENCH_REALM)
    url = f"sqlite:///{tmp_path}/bench.db"

    out = run_preload(tmp_path, realms, url, 300)
    assert "adding 300" in out and "realm holds 300 clients" in out, out
    # N is a target total: a second run adds nothing
    again = run_preload(tmp_path, realms, url, 300)
    assert "adding 0" in again and "realm holds 300 clients" in again, again

    server = start_server(tmp_path, realms, url)
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            token = http.post(
                "/realms/bench/protocol/openid-connect/token",
                data={"grant_type": "client_credentials"},
                auth=("admin", "admin-secret"),
            )
            assert token.status_code == 200, token.text
            admin = {"Authorization": f"Bearer {token.json()['access_token']}"}
            listed = http.get("/admin/realms/bench/clients", params={"max": 1000}, headers=admin)
            assert listed.status_code == 200, listed.text
            clients = listed.json()
            assert len(clients) == 300
            assert {c["name"] for c in clients} == {"bench"}
            assert {c["registrationAuth"] for c in clients} == {"authenticated"}
            # the server opens a preloaded client's secret (a manage-clients read shows it)
            client_id = clients[0]["clientId"]
            read = http.get(
                f"/realms/bench/clients-registrations/openid-connect/{client_id}", headers=admin
            )
            assert read.status_code == 200, read.text
            shown = read.json()
            assert shown["redirect_uris"] == ["https://client.example.org/cb"]
            assert shown["scope"] == "openid profile email"
            secret = shown["client_secret"]
            assert isinstance(secret, str) and len(secret) == 43
    finally:
        server.stop()

    settings = Settings(
        realms_dir=realms,
        database_url=url,
        secret_key=TEST_SECRET_KEY,
        secret_key_file=tmp_path / "secret.key",
    )
    svc = Container.build(settings)

    async def stored() -> tuple[ClientRow | None, int]:
        await svc.start()
        try:
            return await svc.store.get_client("bench", client_id), await svc.store.count_clients(
                "bench"
            )
        finally:
            await svc.stop()

    row, count = asyncio.run(stored())
    assert row is not None and row.secret_sealed is not None
    assert svc.box.unseal(row.secret_sealed, client_id) == secret
    assert len(row.rat_digest) == 64
    assert count == 300
