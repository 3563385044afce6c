"""Keycloak's own client libraries, unmodified, against a real server: python-keycloak (PyPI)
and @keycloak/keycloak-admin-client (npm, run by Node from tests/keycloak_admin_client/), and
the curl example of Keycloak's client registration documentation, verbatim but for the host,
realm and token (docs/reference.md, "Keycloak's own ways in")."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from keycloak import KeycloakAdmin, KeycloakOpenID, KeycloakOpenIDConnection
from keycloak.exceptions import KeycloakAuthenticationError

from tests.live import LiveServer, running_server

pytestmark = pytest.mark.live

RP = "https://rp.example.org/cb"
NODE_DIR = Path(__file__).parent / "keycloak_admin_client"


@pytest.fixture
def server(tmp_path: Path, realms_dir: Path, sqlite_url: str) -> Iterator[LiveServer]:
    with running_server(tmp_path, realms_dir, sqlite_url) as live:
        yield live


def keycloak_admin(server: LiveServer) -> KeycloakAdmin:
    """python-keycloak's admin, signed in as the realm's service account `admin`."""
    connection = KeycloakOpenIDConnection(
        server_url=server.url + "/",
        realm_name="open",
        client_id="admin",
        client_secret_key="admin-secret",
    )
    return KeycloakAdmin(connection=connection)


def test_python_keycloak(server: LiveServer) -> None:
    openid = KeycloakOpenID(server_url=server.url + "/", realm_name="open", client_id="admin")
    admin = keycloak_admin(server)

    # 1. KeycloakAdmin.create_initial_access_token (Keycloak answers 200, nothing else passes)
    iat = admin.create_initial_access_token(count=2, expiration=600)
    assert iat["count"] == 2 and iat["remainingCount"] == 2 and iat["token"]

    # 2. KeycloakOpenID.register_client: the representation provider, …/default
    body = {"clientId": "py-client", "redirectUris": [RP], "serviceAccountsEnabled": True}
    created = openid.register_client(iat["token"], body)
    assert created["clientId"] == "py-client" and created["secret"]
    rat = created["registrationAccessToken"]

    # 3. KeycloakOpenID.update_client: …/default/{clientId} with the RAT, rotated
    updated = openid.update_client(rat, "py-client", {"name": "Renamed"})
    assert updated["name"] == "Renamed" and updated["redirectUris"] == [RP]
    assert updated["registrationAccessToken"] != rat

    # 4. KeycloakOpenID.well_known and 5. certs
    assert openid.well_known()["issuer"] == f"{server.url}/realms/open"
    assert openid.certs()["keys"]

    # 6. KeycloakAdmin.get_clients, 7. get_client_id (the list, matched on clientId)
    assert "py-client" in [c["clientId"] for c in admin.get_clients()]
    key = admin.get_client_id("py-client")
    assert key is not None
    assert key == created["id"] and key != "py-client"

    # 8. KeycloakAdmin.get_client by id, 9. update_client (204), 10. get_client_secrets
    assert admin.get_client(key)["name"] == "Renamed"
    admin.update_client(key, {"description": "changed by an admin"})
    assert admin.get_client(key)["description"] == "changed by an admin"
    assert admin.get_client_secrets(key)["value"] == created["secret"]

    # 11. generate_client_secrets; 12. KeycloakOpenID.token with the new secret, and
    # 13. introspect: the client's own access token is active
    fresh = admin.generate_client_secrets(key)["value"]
    assert fresh != created["secret"]
    client = KeycloakOpenID(
        server_url=server.url + "/", realm_name="open", client_id="py-client",
        client_secret_key=fresh,
    )  # fmt: skip
    access = client.token(grant_type="client_credentials")["access_token"]
    assert client.introspect(access)["active"] is True
    stale = KeycloakOpenID(
        server_url=server.url + "/", realm_name="open", client_id="py-client",
        client_secret_key=created["secret"],
    )  # fmt: skip
    with pytest.raises(KeycloakAuthenticationError):
        stale.token(grant_type="client_credentials")

    # 14. KeycloakAdmin.create_client (201, the id from Location) and 15. delete_client (204)
    made = admin.create_client({"clientId": "py-admin-made", "redirectUris": [RP]})
    assert admin.get_client(made)["clientId"] == "py-admin-made"
    admin.delete_client(made)
    admin.delete_client(key)
    assert admin.get_client_id("py-client") is None


# every call calls.mjs makes, in order; each must pass
ADMIN_CLIENT_CALLS = [
    "auth",
    "realms.createClientsInitialAccess",
    "realms.getClientsInitialAccess",
    "clients.create",
    "clients.find (clientId)",
    "clients.find (search)",
    "clients.find (all)",
    "clients.findOne",
    "clients.update",
    "clients.getClientSecret",
    "clients.generateNewClientSecret",
    "clients.generateRegistrationAccessToken",
    "clients.del",
    "realms.delClientsInitialAccess",
]


def test_keycloak_admin_client(server: LiveServer) -> None:
    """@keycloak/keycloak-admin-client, as scripts/test installed it from the lockfile."""
    assert (NODE_DIR / "node_modules" / "@keycloak" / "keycloak-admin-client").is_dir(), (
        "run scripts/test (npm ci in tests/keycloak_admin_client) first"
    )
    node = shutil.which("node")
    assert node is not None, "Node (18 or later) is needed for this test"
    done = subprocess.run(
        [node, "calls.mjs"],
        cwd=NODE_DIR,
        env={**os.environ, "REGISTRAR_URL": server.url},
        capture_output=True,
        timeout=120,
        check=False,
    )
    results = [json.loads(line) for line in done.stdout.decode().splitlines() if line]
    assert [r["call"] for r in results] == ADMIN_CLIENT_CALLS, done.stderr.decode()
    failures = [r for r in results if not r["ok"]]
    assert not failures, failures
    assert done.returncode == 0, done.stderr.decode()


def test_the_documentations_curl_example(server: LiveServer) -> None:
    """Keycloak's documented `curl` creation of `myclient` with an initial access token."""
    with httpx.Client(base_url=server.url, timeout=10) as http:
        admin = http.post(
            "/realms/open/protocol/openid-connect/token",
            data={"grant_type": "client_credentials"},
            auth=("admin", "admin-secret"),
        ).json()["access_token"]
        iat = http.post(
            "/admin/realms/open/clients-initial-access",
            json={"count": 1},
            headers={"Authorization": f"Bearer {admin}"},
        ).json()["token"]
    curl = shutil.which("curl")
    assert curl is not None, "curl is needed for this test"
    done = subprocess.run(
        [
            curl, "-s", "-i", "-X", "POST",
            "-d", '{ "clientId": "myclient" }',
            "-H", "Content-Type:application/json",
            "-H", f"Authorization: bearer {iat}",
            f"{server.url}/realms/open/clients-registrations/default",
        ],
        capture_output=True, timeout=30, check=True,
    )  # fmt: skip
    head, _, body = done.stdout.decode().partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 201"), done.stdout
    shown = json.loads(body)
    assert shown["clientId"] == "myclient"
    assert shown["registrationAccessToken"] and shown["secret"]
